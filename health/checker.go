package health

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"

	"github.com/opskit/opskit/internal/clock"
)

// Names of the two gates the Checker adds to probes itself; checks cannot
// use them.
const (
	gateStarted  = "started"  // on livez and readyz until startup checks passed once
	gateShutdown = "shutdown" // on readyz once Drain was called
)

// Checker holds checks and serves the probes. Create it with New; all
// methods are safe for concurrent use.
type Checker struct {
	clock     clock.Clock
	realClock bool
	logger    *slog.Logger
	listeners []func(StatusChange)
	authorize func(*http.Request) bool
	metrics   *metrics

	set      atomic.Pointer[checkSet] // immutable, replaced on Register/Unregister
	started  atomic.Bool              // startup checks have passed once
	draining atomic.Bool

	baseCtx context.Context // parent of every run; cancelled by Close
	cancel  context.CancelFunc

	mu      sync.Mutex // guards byName, running, closed, entry.stop, and wg.Add
	byName  map[string]*entry
	running bool
	closed  bool
	wg      sync.WaitGroup // every goroutine the Checker started

	testHookWait func() // called each time a probe waits on a run (tests only)
}

// checkSet is the registered checks sorted by name. Never modified after
// it is published.
type checkSet struct {
	entries []*entry
}

// New returns a Checker with no checks. Background checks run after Start;
// Close stops them and waits.
func New(opts ...Option) (*Checker, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.meterProvider == nil {
		o.meterProvider = otel.GetMeterProvider()
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.authorize == nil {
		o.authorize = LoopbackOnly
	}
	c := &Checker{
		clock:     clock.OrReal(o.clock),
		logger:    o.logger,
		listeners: o.listeners,
		authorize: o.authorize,
		byName:    make(map[string]*entry),
	}
	c.realClock = c.clock == clock.Real
	c.baseCtx, c.cancel = context.WithCancel(context.Background())
	c.set.Store(&checkSet{})
	m, err := newMetrics(o.meterProvider, c)
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
	if c.closed {
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

// Unregister removes a check and stops its background loop. A run in
// flight finishes in the background (Close waits for it). It returns an
// error wrapping ErrNotFound if no check has that name.
func (c *Checker) Unregister(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byName[name]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	delete(c.byName, name)
	c.set.Store(&checkSet{entries: slices.DeleteFunc(slices.Clone(c.set.Load().entries),
		func(x *entry) bool { return x == e })})
	if e.stop != nil {
		close(e.stop)
		e.stop = nil
	}
	return nil
}

// Start begins the background checks. Calling it again does nothing; after
// Close it returns ErrClosed.
func (c *Checker) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
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

// Close stops the background checks, cancels the context of every run in
// flight, and waits for every goroutine the Checker started, including runs
// of checks that ignore their context (so such a check delays Close until
// it returns). Close may be called before Start and more than once. After
// Close, probes fail with ErrClosed.
func (c *Checker) Close() error {
	c.mu.Lock()
	first := !c.closed
	if first {
		c.closed = true
		for _, e := range c.byName {
			if e.stop != nil {
				close(e.stop)
				e.stop = nil
			}
		}
		c.cancel()
	}
	c.mu.Unlock()
	c.wg.Wait()
	if !first {
		return nil
	}
	return c.metrics.close()
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
	c.wg.Add(1)
	go c.loop(e, e.stop)
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
