package slo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"

	"github.com/opskit/opskit/internal/clock"
)

// Option configures a Monitor.
type Option func(*config)

type config struct {
	meter        metric.MeterProvider
	log          *slog.Logger
	clock        clock.Clock
	interval     time.Duration
	resend       time.Duration
	notifiers    []Notifier
	limit        rate.Limit
	burst        int
	queue        int
	incidentPath string
	snapshotPath string
	snapshotEach time.Duration
}

// WithMeterProvider sets where metrics go. Default: otel.GetMeterProvider().
func WithMeterProvider(p metric.MeterProvider) Option { return func(c *config) { c.meter = p } }

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithClock sets the clock. Default: the wall clock.
func WithClock(cl clock.Clock) Option { return func(c *config) { c.clock = cl } }

// WithEvaluationInterval sets how often the Monitor's goroutine evaluates
// alerts. Default 10s. A negative interval starts no goroutine: alerts are
// then evaluated only when Evaluate is called.
func WithEvaluationInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithResendInterval sets how often a firing alert is sent again (with
// Alert.Repeat set), so Alertmanager keeps it active. Default 1 minute.
func WithResendInterval(d time.Duration) Option { return func(c *config) { c.resend = d } }

// WithNotifier adds a notifier. Each notifier gets its own bounded queue,
// goroutine and rate limiter, so a slow one delays nobody else.
func WithNotifier(n Notifier) Option { return func(c *config) { c.notifiers = append(c.notifiers, n) } }

// WithNotifyRate sets each notifier's rate limit. Default: one notification
// a second with bursts of 20.
func WithNotifyRate(r rate.Limit, burst int) Option {
	return func(c *config) { c.limit, c.burst = r, burst }
}

// WithNotifyQueue sets how many notifications wait per notifier before new
// ones are dropped (and counted). Default 256.
func WithNotifyQueue(n int) Option { return func(c *config) { c.queue = n } }

// WithIncidentLog appends incident records to the JSON-lines file at path,
// fsynced per record. Incidents still open in the log are taken up again
// by the objectives added later. Default: incidents are kept in memory only.
func WithIncidentLog(path string) Option { return func(c *config) { c.incidentPath = path } }

// WithSnapshotFile restores the event history from path when objectives
// are added, and saves it there every interval (zero means 1 minute) and on
// Close, so a restart keeps the error budget.
func WithSnapshotFile(path string, every time.Duration) Option {
	return func(c *config) { c.snapshotPath, c.snapshotEach = path, every }
}

// Monitor tracks objectives, evaluates their alerts, notifies and keeps the
// incident log. Create it with New; it is safe for concurrent use.
type Monitor struct {
	cfg   config
	clock clock.Clock
	log   *slog.Logger

	mu       sync.Mutex // guards trackers, closed
	trackers []*Tracker
	closed   bool

	evalMu    sync.Mutex // serializes evaluations and incident writes; guards quiet
	quiet     bool       // Close has closed the notifier queues: enqueue nothing
	incidents *incidentLog
	restored  *snapshot // decoded snapshot not yet applied, guarded by mu
	lastSave  time.Time // guarded by evalMu

	dispatchers []*dispatcher
	metrics     metric.Registration

	// coarse holds the wall clock in unix nanoseconds, refreshed every
	// coarseTick by the Monitor's goroutine when the clock is the real one:
	// Record then reads an atomic instead of the (on some machines slow)
	// system clock. Nil with any other clock, so tests stay exact.
	coarse *atomic.Int64

	stop chan struct{}
	done sync.WaitGroup
}

// coarseTick is how stale the cached time may be; buckets are 10 seconds.
const coarseTick = 50 * time.Millisecond

// New returns a Monitor. It opens the incident log and reads the snapshot
// file if configured; its evaluation goroutine runs until Close.
func New(opts ...Option) (*Monitor, error) {
	cfg := config{interval: 10 * time.Second, resend: time.Minute, limit: 1, burst: 20, queue: 256, snapshotEach: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.interval == 0 {
		cfg.interval = 10 * time.Second
	}
	if cfg.resend <= 0 {
		cfg.resend = time.Minute
	}
	if cfg.snapshotEach <= 0 {
		cfg.snapshotEach = time.Minute
	}
	if cfg.queue <= 0 {
		return nil, fmt.Errorf("slo: notify queue length %d must be positive", cfg.queue)
	}
	if cfg.burst <= 0 || cfg.limit <= 0 {
		return nil, fmt.Errorf("slo: notify rate %v burst %d must be positive", cfg.limit, cfg.burst)
	}
	if cfg.meter == nil {
		cfg.meter = otel.GetMeterProvider()
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	m := &Monitor{cfg: cfg, clock: clock.OrReal(cfg.clock), log: cfg.log, stop: make(chan struct{})}
	var err error
	if m.incidents, err = openIncidentLog(cfg.incidentPath); err != nil {
		return nil, err
	}
	if cfg.snapshotPath != "" {
		m.restored = m.loadSnapshot(cfg.snapshotPath)
	}
	if err := m.registerMetrics(); err != nil {
		m.incidents.close()
		return nil, err
	}
	for i, n := range cfg.notifiers {
		d := newDispatcher(m, i, n)
		m.dispatchers = append(m.dispatchers, d)
		m.done.Add(1)
		go d.run()
	}
	m.lastSave = m.clock.Now()
	if cfg.clock == nil || cfg.clock == clock.Real {
		m.coarse = new(atomic.Int64)
		m.coarse.Store(time.Now().UnixNano())
		m.done.Add(1)
		go m.tickCoarse()
	}
	if cfg.interval > 0 {
		tick := m.clock.NewTicker(cfg.interval)
		m.done.Add(1)
		go m.loop(tick)
	}
	return m, nil
}

// loop evaluates on every tick until Close.
func (m *Monitor) loop(tick clock.Ticker) {
	defer m.done.Done()
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

// tickCoarse refreshes the cached time until Close.
func (m *Monitor) tickCoarse() {
	defer m.done.Done()
	t := time.NewTicker(coarseTick)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
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
		in.resume(m.incidents.openFor(in.name))
	}
	m.trackers = append(m.trackers, t)
	return t, nil
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

// Close stops the evaluation goroutine, saves the snapshot, delivers the
// notifications already queued (each bounded by its notifier's timeout),
// stops the notifier goroutines and closes the incident log.
func (m *Monitor) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.stop)
	var errs []error
	if m.metrics != nil {
		errs = append(errs, m.metrics.Unregister())
	}
	if m.cfg.snapshotPath != "" {
		errs = append(errs, m.SaveSnapshot())
	}
	m.evalMu.Lock() // an evaluation in progress finishes enqueueing first
	m.quiet = true
	m.evalMu.Unlock()
	for _, d := range m.dispatchers {
		d.close()
	}
	m.done.Wait()
	m.evalMu.Lock()
	errs = append(errs, m.incidents.close())
	m.evalMu.Unlock()
	return errors.Join(errs...)
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
	for _, sd := range o.series() {
		t.ind = append(t.ind, newIndicator(o, sd.name, sd.target, sd.max))
		if sd.max > 0 {
			t.max = append(t.max, int64(sd.max))
		}
	}
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
	for _, in := range t.ind {
		in.s.add(now, total, bad)
	}
}

// RecordLatency counts one event that took d. On an availability
// objective it counts a good event.
func (t *Tracker) RecordLatency(d time.Duration) {
	now := t.now()
	if len(t.max) == 0 {
		t.ind[0].s.add(now, 1, 0)
		return
	}
	for i, in := range t.ind {
		var bad int64
		if int64(d) > t.max[i] {
			bad = 1
		}
		in.s.add(now, 1, bad)
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
	}
}

// Check is a health check: it fails while a page-severity alert of this
// objective fires. Register it as non-critical readiness or as a warning.
func (t *Tracker) Check(context.Context) error {
	for _, in := range t.ind {
		for _, a := range in.alertsSnapshot() {
			if a.State == Firing && a.Severity == Page {
				return fmt.Errorf("slo: %s: %s alert firing", in.name, a.Tier)
			}
		}
	}
	return nil
}
