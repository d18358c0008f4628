package health

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
	"github.com/opskit/opskit/release"
)

// Names of the two gates the Checker adds to probes itself; checks cannot
// use them, and ?exclude= cannot leave them out.
const (
	gateStarted  = "started"  // on readyz until startup checks passed once
	gateShutdown = "shutdown" // on readyz once Drain was called
)

// Checker holds checks and serves the probes. Create it with New; all
// methods are safe for concurrent use.
type Checker struct {
	clock     clock.Clock
	realClock bool
	logger    *slog.Logger
	listeners []func(StatusChange)
	authorize audit.Authorizer // nil: the default details policy
	details   detailsPolicy
	metrics   *metrics
	release   *release.Info // nil: none in the JSON answers

	set      atomic.Pointer[checkSet] // immutable, replaced on Register/Unregister
	started  atomic.Bool              // startup checks have passed once
	draining atomic.Bool
	closed   atomic.Bool // Shutdown was called: probes fail

	baseCtx context.Context // parent of every run; cancelled by Shutdown
	cancel  context.CancelFunc

	mu       sync.Mutex // guards byName, running, active, live, idle, entry.stop
	byName   map[string]*entry
	running  bool
	active   map[string]int // goroutines running each check's Func, by check
	live     int            // goroutines (and pending timeout timers) the Checker started
	idle     chan struct{}  // closed when live drops to 0; made by Shutdown
	shutOnce sync.Once

	testHookWait func() // called each time a probe waits on a run (tests only)
	testHookLoop func() // called by a background loop before each run (tests only)
}

// checkSet is the registered checks sorted by name. Never modified after
// it is published.
type checkSet struct {
	entries []*entry
}

// New returns a Checker with no checks. Background checks run after Start;
// Shutdown stops them.
func New(opts ...Option) (*Checker, error) {
	var cfg config
	for _, opt := range opts {
		opt.apply(&cfg)
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	for i, p := range cfg.trusted {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: WithTrustedProxies: prefix %d (%v) is not valid", ErrInvalid, i, p)
		}
	}
	c := &Checker{
		clock:     timer.Or(cfg.clock),
		realClock: clock.IsReal(cfg.clock),
		logger:    cfg.logger,
		listeners: cfg.listeners,
		authorize: cfg.authorize,
		release:   cfg.release,
		details:   detailsPolicy{trusted: slices.Clone(cfg.trusted)},
		byName:    make(map[string]*entry),
		active:    make(map[string]int),
	}
	c.baseCtx, c.cancel = context.WithCancel(context.Background())
	c.set.Store(&checkSet{})
	m, err := newMetrics(cfg.meterProvider, c)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.metrics = m
	return c, nil
}

// MustRegister is Register for checks declared in code; it panics on an
// invalid or duplicate check, which is a programming error.
func (c *Checker) MustRegister(checks ...Check) {
	for _, ch := range checks {
		if err := c.Register(ch); err != nil {
			panic(err)
		}
	}
}

// Register adds a check. It may be called before or after Start; a
// background check registered after Start begins running at once. It
// returns an error wrapping ErrInvalid (naming the field), ErrDuplicate or
// ErrClosed.
func (c *Checker) Register(ch Check) error {
	ch, err := ch.normalize()
	if err != nil {
		return err
	}
	if ch.Name == gateStarted || ch.Name == gateShutdown {
		return fmt.Errorf("%w: Name %q is reserved for the checker's own gate", ErrInvalid, ch.Name)
	}
	e := newEntry(ch)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	if _, ok := c.byName[ch.Name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicate, ch.Name)
	}
	c.byName[ch.Name] = e
	old := c.set.Load().entries
	i, _ := slices.BinarySearchFunc(old, ch.Name, func(e *entry, name string) int {
		return strings.Compare(e.check.Name, name)
	})
	c.set.Store(&checkSet{entries: slices.Insert(slices.Clone(old), i, e)})
	if c.running && ch.Interval > 0 {
		c.startLoopLocked(e)
	}
	return nil
}

// Unregister removes a check and stops its background loop, returning
// once the loop has ended (the loop never waits on the check). A run in
// flight finishes in the background; Shutdown waits for it. It returns an
// error wrapping ErrNotFound if no check has that name.
func (c *Checker) Unregister(name string) error {
	c.mu.Lock()
	e, ok := c.byName[name]
	if !ok {
		c.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	delete(c.byName, name)
	c.set.Store(&checkSet{entries: slices.DeleteFunc(slices.Clone(c.set.Load().entries),
		func(x *entry) bool { return x == e })})
	loopDone := c.stopLoopLocked(e)
	c.mu.Unlock()
	if loopDone != nil {
		<-loopDone
	}
	return nil
}

// Start begins the background checks. Calling it again does nothing; after
// Shutdown it returns ErrClosed.
func (c *Checker) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return ErrClosed
	}
	if c.running {
		return nil
	}
	c.running = true
	for _, e := range c.set.Load().entries {
		if e.check.Interval > 0 {
			c.startLoopLocked(e)
		}
	}
	return nil
}

// Shutdown stops the background checks, cancels the context of every run
// in flight and waits for every goroutine the Checker started. A check
// that ignores its context keeps its goroutine until it returns; Shutdown
// waits for it only until ctx ends, then returns an error wrapping
// ctx.Err() that names the checks still running (their goroutines end
// when the checks return). From the first call on, probes fail with
// ErrClosed and Register and Start return ErrClosed. Shutdown may be
// called before Start and more than once.
func (c *Checker) Shutdown(ctx context.Context) error {
	var unreg error
	c.shutOnce.Do(func() {
		c.mu.Lock()
		c.closed.Store(true)
		for _, e := range c.byName {
			c.stopLoopLocked(e)
		}
		c.mu.Unlock()
		c.cancel()
		unreg = c.metrics.close()
	})
	c.mu.Lock()
	if c.live == 0 {
		c.mu.Unlock()
		return unreg
	}
	if c.idle == nil {
		c.idle = make(chan struct{})
	}
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return unreg
	case <-ctx.Done():
		return fmt.Errorf("health: shutdown: checks still running, their goroutines end when they return: %s: %w",
			c.stillRunning(), ctx.Err())
	}
}

// Close is Shutdown bounded by the longest check timeout (at least a
// second) on the wall clock: a check that honours its context has returned
// by then.
func (c *Checker) Close() error {
	bound := DefaultTimeout
	for _, e := range c.set.Load().entries {
		bound = max(bound, e.check.Timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	return c.Shutdown(ctx)
}

// stillRunning names the checks whose Func has not returned.
func (c *Checker) stillRunning() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for name, n := range c.active {
		names = append(names, fmt.Sprintf("%s (%d)", name, n))
	}
	if len(names) == 0 {
		return "none (their goroutines are finishing)"
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Checks returns the names of the registered checks, sorted.
func (c *Checker) Checks() []string {
	entries := c.set.Load().entries
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.check.Name
	}
	return names
}

// startLoopLocked starts the background loop of e. Requires mu held.
func (c *Checker) startLoopLocked(e *entry) {
	e.stop = make(chan struct{})
	e.loopDone = make(chan struct{})
	c.live++
	go c.loop(e, e.stop, e.loopDone)
}

// goDone notes that one of the Checker's goroutines (or timers) ended.
func (c *Checker) goDone() {
	c.mu.Lock()
	c.live--
	if c.live == 0 && c.idle != nil {
		close(c.idle)
		c.idle = nil
	}
	c.mu.Unlock()
}

// stopLoopLocked tells e's loop to stop and returns the channel closed
// when it has, nil if there is no loop. Requires mu held.
func (c *Checker) stopLoopLocked(e *entry) <-chan struct{} {
	if e.stop == nil {
		return nil
	}
	close(e.stop)
	done := e.loopDone
	e.stop, e.loopDone = nil, nil
	return done
}

// lookup returns the entry named name that belongs to probe.
func (s *checkSet) lookup(name string, probe Probe) *entry {
	i, ok := slices.BinarySearchFunc(s.entries, name, func(e *entry, name string) int {
		return strings.Compare(e.check.Name, name)
	})
	if !ok || s.entries[i].check.Probes&probe == 0 {
		return nil
	}
	return s.entries[i]
}

// showDetails reports whether r may see failure reasons.
func (c *Checker) showDetails(r *http.Request) bool {
	if c.authorize != nil {
		_, err := c.authorize(r, DetailsAction)
		return err == nil
	}
	return c.details.allow(r)
}
