package slo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/internal/timer"
	"github.com/opskit/opskit/release"
)

// Option configures a Monitor (New).
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	meter        metric.MeterProvider
	log          *slog.Logger
	clock        clock.Clock
	interval     time.Duration
	resend       time.Duration
	notifiers    []Notifier
	every        time.Duration // one notification per every, per notifier
	burst        int
	queue        int
	incidentPath string
	snapshotPath string
	snapshotEach time.Duration
	instance     *string
	release      release.Info
	store        fleet.Store
	verdict      release.Policy
}

// WithMeterProvider sets where metrics go. Default: otel.GetMeterProvider().
func WithMeterProvider(p metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meter = p })
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.log = l }) }

// WithClock sets the clock. Default: clock.Real(). On the real clock,
// recording reads a time the Monitor refreshes every 50ms; on any other
// clock it reads c.Now(), so when a fake clock's Advance returns the next
// event counts at the new time.
func WithClock(c clock.Clock) Option { return optionFunc(func(cfg *config) { cfg.clock = c }) }

// WithEvaluationInterval sets how often the Monitor's goroutine evaluates
// alerts. Default 10s. A negative interval starts no goroutine: alerts are
// then evaluated only when Evaluate is called.
func WithEvaluationInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.interval = d })
}

// WithResendInterval sets how often a firing alert is sent again (with
// Alert.Repeat set), so Alertmanager keeps it active. Default 1 minute.
func WithResendInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.resend = d })
}

// WithNotifier adds a notifier. Each notifier gets its own bounded queue,
// goroutine and rate limiter, so a slow one delays nobody else.
func WithNotifier(n Notifier) Option {
	return optionFunc(func(c *config) { c.notifiers = append(c.notifiers, n) })
}

// WithNotifyRate sets each notifier's rate limit: one notification per
// every, with bursts of burst. Default: one a second, bursts of 20.
func WithNotifyRate(every time.Duration, burst int) Option {
	return optionFunc(func(c *config) { c.every, c.burst = every, burst })
}

// WithNotifyQueue sets how many notifications wait per notifier before new
// ones are dropped (and counted). Default 256.
func WithNotifyQueue(n int) Option { return optionFunc(func(c *config) { c.queue = n }) }

// WithIncidentLog appends incident records to the JSON-lines file at path,
// fsynced per record, creating its directory (0700) and the file (0600).
// A record torn by a crash is cut before the next append. Incidents still
// open in the log are taken up again by the objectives added later.
// Default: incidents are kept in memory only.
func WithIncidentLog(path string) Option {
	return optionFunc(func(c *config) { c.incidentPath = path })
}

// WithSnapshotFile restores the event history from path when objectives
// are added, and saves it there (atomically, 0600, creating the directory)
// at the first evaluation every interval after the last save (zero means
// 10 seconds) and on Shutdown, after the evaluation loop has stopped. A
// process killed without Shutdown loses the events of at most the last
// interval plus one evaluation interval (20 seconds by default); the
// outcomes of Pending units whose bound passed meanwhile are counted again
// when their units are accepted again.
func WithSnapshotFile(path string, every time.Duration) Option {
	return optionFunc(func(c *config) { c.snapshotPath, c.snapshotEach = path, every })
}

// WithInstance sets the "instance" label of notifications, which keeps
// the alerts of two replicas apart in Alertmanager. Default: the host
// name. An empty name sends no instance label, for a single sender that
// speaks for the whole fleet. With WithStore it names this replica in the
// store (its counts, the lease, the incident records it writes), must be
// non-empty and unique in the fleet, and notifications carry no instance
// label (the fleet sends one alert).
func WithInstance(name string) Option {
	return optionFunc(func(c *config) { c.instance = &name })
}

// WithRelease names the release this process runs: every incident opened
// records it (Incident.Release, kept through the episode's updates), and
// every in-process notification carries its non-empty fields as the
// annotations "service", "version" and "release" (the release id) unless
// the objective's Annotations set those names. They are annotations, not
// labels, so an episode that spans a rolling deploy stays one alert in
// Alertmanager. Default: none (no release recorded or sent).
func WithRelease(i release.Info) Option {
	return optionFunc(func(c *config) { c.release = i })
}

// Monitor tracks objectives, evaluates their alerts, notifies and keeps the
// incident log. Create it with New; it is safe for concurrent use.
type Monitor struct {
	cfg      config
	clock    clock.Clock
	log      *slog.Logger
	instance string

	mu       sync.Mutex // guards trackers, pending, closed, restored
	trackers []*Tracker
	pending  []*Pending
	closed   bool
	restored *snapshot // decoded snapshot, applied to each objective added

	evalMu    sync.Mutex // serializes evaluations, incident writes and operator actions; guards quiet
	quiet     bool       // Shutdown has closed the notifier queues: enqueue nothing
	incidents *incidentLog
	lastSave  time.Time  // guarded by evalMu
	fleet     *fleetMode // nil without WithStore

	incMu  sync.Mutex // guards recent
	recent []Incident // open and recently resolved incidents

	dispatchers []*dispatcher
	metrics     metric.Registration

	// coarse holds the wall clock in unix nanoseconds, refreshed every
	// coarseTick by a goroutine when the clock is the real one: Record then
	// reads an atomic instead of the (on some machines slow) system clock.
	// Nil with any other clock, so tests stay exact.
	coarse *atomic.Int64

	stop     chan struct{}
	loops    sync.WaitGroup // the evaluation and coarse-clock goroutines
	notifies sync.WaitGroup // the dispatcher goroutines
}

// coarseTick is how stale the cached time may be; buckets are 10 seconds.
const coarseTick = 50 * time.Millisecond

// New returns a Monitor. It opens the incident log and reads the snapshot
// file if configured; its evaluation goroutine runs until Shutdown.
func New(opts ...Option) (*Monitor, error) {
	cfg := config{interval: 10 * time.Second, resend: time.Minute, every: time.Second, burst: 20, queue: 256,
		snapshotEach: 10 * time.Second}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.interval == 0 {
		cfg.interval = 10 * time.Second
	}
	if cfg.resend <= 0 {
		cfg.resend = time.Minute
	}
	if cfg.snapshotEach <= 0 {
		cfg.snapshotEach = 10 * time.Second
	}
	if cfg.queue <= 0 {
		return nil, fmt.Errorf("slo: WithNotifyQueue(%d): must be positive", cfg.queue)
	}
	if cfg.burst <= 0 || cfg.every <= 0 {
		return nil, fmt.Errorf("slo: WithNotifyRate(%v, %d): both must be positive", cfg.every, cfg.burst)
	}
	if err := checkVerdictPolicy(cfg.verdict); err != nil {
		return nil, err
	}
	if cfg.meter == nil {
		cfg.meter = otel.GetMeterProvider()
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	m := &Monitor{cfg: cfg, clock: timer.Or(cfg.clock), log: cfg.log, stop: make(chan struct{})}
	if cfg.instance != nil {
		m.instance = *cfg.instance
	} else if h, err := os.Hostname(); err == nil {
		m.instance = h
	}
	var err error
	if cfg.store != nil {
		if m.fleet, err = newFleetMode(m, cfg.store); err != nil {
			return nil, err
		}
	}
	if m.incidents, err = openIncidentLog(cfg.incidentPath); err != nil {
		return nil, err
	}
	for _, inc := range m.incidents.all {
		m.remember(inc)
	}
	if cfg.snapshotPath != "" {
		m.restored = m.loadSnapshot(cfg.snapshotPath)
	}
	if m.fleet != nil {
		m.fleet.start(m)
	}
	if err := m.registerMetrics(); err != nil {
		m.incidents.close()
		return nil, err
	}
	for i, n := range cfg.notifiers {
		d := newDispatcher(m, i, n)
		m.dispatchers = append(m.dispatchers, d)
		m.notifies.Add(1)
		go d.run()
	}
	m.lastSave = m.clock.Now()
	if clock.IsReal(m.clock) {
		m.coarse = new(atomic.Int64)
		m.coarse.Store(time.Now().UnixNano())
		t := time.NewTicker(coarseTick)
		m.loops.Add(1)
		go m.tickCoarse(t.C, t.Stop)
	}
	if cfg.interval > 0 {
		tick := timer.NewTicker(m.clock, cfg.interval)
		m.loops.Add(1)
		go m.loop(tick)
	}
	return m, nil
}

// loop evaluates on every tick until Shutdown.
func (m *Monitor) loop(tick *timer.Ticker) {
	defer m.loops.Done()
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C():
			m.Evaluate()
		}
	}
}

// tickCoarse stores every time received on ticks as the cached time until
// Shutdown, then calls stop.
func (m *Monitor) tickCoarse(ticks <-chan time.Time, stop func()) {
	defer m.loops.Done()
	defer stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-ticks:
			m.coarse.Store(now.UnixNano())
		}
	}
}

// Add starts tracking an objective and returns the Tracker to record its
// events. The objective is validated first (a *ValidationError).
func (m *Monitor) Add(o Objective) (*Tracker, error) {
	o, err := o.normalized()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	t := newTracker(m, o)
	for _, old := range m.trackers {
		for _, a := range old.ind {
			for _, b := range t.ind {
				if a.name == b.name {
					return nil, fmt.Errorf("%w: %q", ErrDuplicate, a.name)
				}
			}
		}
	}
	now := m.clock.Now()
	for _, in := range t.ind {
		if m.restored != nil {
			m.restored.apply(in, now)
		}
		m.resume(in, now)
	}
	m.trackers = append(m.trackers, t)
	return t, nil
}

// resume takes up the episode the incident log left open for in. A
// version 1 log may hold several (one per tier): the oldest becomes the
// episode and the others are resolved now.
func (m *Monitor) resume(in *indicator, now time.Time) {
	m.resumeOpen(in, m.incidents.takeOpen(in.name), now)
}

// resumeOpen takes up the oldest of the open incidents as in's episode and
// resolves the others.
func (m *Monitor) resumeOpen(in *indicator, open []Incident, now time.Time) {
	if len(open) == 0 {
		return
	}
	for _, inc := range open[1:] {
		inc.resolve(now, inc.Peak)
		r := IncidentRecord{Version: incidentVersion, Change: "resolved", At: now, Why: "merged into " + open[0].ID, Incident: inc}
		if err := m.writeRecord(r); err != nil {
			m.log.Error("slo: incident log", "err", err, "incident", inc.ID)
		}
	}
	for _, inc := range open[1:] {
		if inc.Tier == "budget-exhausted" {
			continue // version 1's own alert, under another alertname
		}
		open[0].Pages = min(1, open[0].Pages+inc.Pages)
		open[0].Tickets = min(1, open[0].Tickets+inc.Tickets)
	}
	inc := open[0]
	m.remember(inc)
	in.resume(&inc)
}

// MustAdd is Add that panics on error, for objectives written in code.
func (m *Monitor) MustAdd(o Objective) *Tracker {
	t, err := m.Add(o)
	if err != nil {
		panic(err)
	}
	return t
}

// indicators returns every tracked series in the order added.
func (m *Monitor) indicators() []*indicator {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*indicator
	for _, t := range m.trackers {
		out = append(out, t.ind...)
	}
	return out
}

// Shutdown stops the evaluation goroutine and waits for it, then saves
// the snapshot (so nothing evaluated after it is lost), delivers the
// notifications already queued (each bounded by 10 seconds) and closes the
// incident log. When ctx ends first it stops waiting: notifications still
// queued are dropped (counted in DeliveryStats), a notifier still running
// has its context cancelled, and the error wraps ctx.Err() and says what
// was left undone. A second call returns nil.
func (m *Monitor) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.stop)
	var errs []error
	if !waitCtx(ctx, &m.loops) {
		errs = append(errs, fmt.Errorf("slo: shutdown: evaluation still running: %w", ctx.Err()))
	}
	if m.metrics != nil {
		if err := m.metrics.Unregister(); err != nil {
			errs = append(errs, fmt.Errorf("slo: shutdown: metrics: %w", err))
		}
	}
	if m.cfg.snapshotPath != "" {
		errs = append(errs, m.SaveSnapshot())
	}
	if m.fleet != nil {
		errs = append(errs, m.fleet.shutdown(ctx, m))
	}
	m.evalMu.Lock() // an evaluation in progress finishes enqueueing first
	m.quiet = true
	m.evalMu.Unlock()
	for _, d := range m.dispatchers {
		d.close()
	}
	if !waitCtx(ctx, &m.notifies) {
		var left int
		for _, d := range m.dispatchers {
			d.cancel()
			left += len(d.queue)
		}
		errs = append(errs, fmt.Errorf("slo: shutdown: %d notifications undelivered: %w", left, ctx.Err()))
	}
	m.evalMu.Lock()
	errs = append(errs, m.incidents.close())
	m.evalMu.Unlock()
	return errors.Join(errs...)
}

// waitCtx waits for wg, or until ctx ends; it reports whether wg finished.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// Tracker records the events of one objective. Its methods are safe for
// concurrent use and never block on evaluation or notification.
type Tracker struct {
	m     *Monitor
	obj   Objective
	clock clock.Clock
	ind   []*indicator // one per series; thresholds in Latency order
	max   []int64      // latency thresholds in nanoseconds, parallel to ind
	// coarse is the Monitor's cached time, nil when the clock is not real.
	coarse *atomic.Int64
	rel    *relView // the release it records under (ForRelease)
}

// now is the time to count an event at, in unix nanoseconds.
func (t *Tracker) now() int64 {
	if t.coarse != nil {
		return t.coarse.Load()
	}
	return t.clock.Now().UnixNano()
}

func newTracker(m *Monitor, o Objective) *Tracker {
	t := &Tracker{m: m, obj: o, clock: m.clock, coarse: m.coarse}
	now := m.clock.Now()
	for _, sd := range o.series() {
		in := newIndicator(o, sd.name, sd.target, sd.max, now)
		in.release = m.cfg.release
		in.rel.own = m.cfg.release.ID
		t.ind = append(t.ind, in)
		if sd.max > 0 {
			t.max = append(t.max, int64(sd.max))
		}
	}
	t.rel = newRelView(t, m.cfg.release.ID, now)
	return t
}

// Objective returns the objective with its defaults filled in.
func (t *Tracker) Objective() Objective { return t.obj }

// Record counts one event, good or bad. On a latency objective it counts
// for every threshold.
func (t *Tracker) Record(good bool) {
	var bad int64
	if !good {
		bad = 1
	}
	t.RecordN(1, bad)
}

// RecordN counts total events of which bad were bad (0 <= bad <= total);
// other values are clamped into that range.
func (t *Tracker) RecordN(total, bad int64) {
	if total <= 0 {
		return
	}
	bad = min(max(bad, 0), total)
	now := t.now()
	for i, in := range t.ind {
		in.s.add(now, total, bad)
		t.countRelease(i, now, total, bad)
	}
}

// RecordLatency counts one event that took d. On an availability
// objective it counts a good event.
func (t *Tracker) RecordLatency(d time.Duration) {
	now := t.now()
	if len(t.max) == 0 {
		t.ind[0].s.add(now, 1, 0)
		t.countRelease(0, now, 1, 0)
		return
	}
	for i, in := range t.ind {
		var bad int64
		if int64(d) > t.max[i] {
			bad = 1
		}
		in.s.add(now, 1, bad)
		t.countRelease(i, now, 1, bad)
	}
}

// RecordLatencies counts a batch of events with one clock read.
func (t *Tracker) RecordLatencies(ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	now := t.now()
	if len(t.max) == 0 {
		t.ind[0].s.add(now, int64(len(ds)), 0)
		t.countRelease(0, now, int64(len(ds)), 0)
		return
	}
	for i, in := range t.ind {
		var bad int64
		for _, d := range ds {
			if int64(d) > t.max[i] {
				bad++
			}
		}
		in.s.add(now, int64(len(ds)), bad)
		t.countRelease(i, now, int64(len(ds)), bad)
	}
}

// Check is a health check: it fails while the page alert of this
// objective fires. Register it as non-critical readiness or as a warning.
func (t *Tracker) Check(context.Context) error {
	for _, in := range t.ind {
		for _, a := range in.snapshot().alerts {
			if a.State == Firing && a.Severity == Page {
				return fmt.Errorf("slo: %s: page alert firing (tier %s)", in.name, a.Tier)
			}
		}
	}
	return nil
}
