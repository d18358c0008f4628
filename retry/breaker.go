package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/opskit/opskit/clock"
)

// State is a circuit breaker's state.
type State int

// The breaker states. Their numbers are the values of the
// opskit.retry.breaker.state metric.
const (
	StateClosed   State = iota // calls pass and are counted
	StateHalfOpen              // a few probe calls pass; the rest are refused
	StateOpen                  // every call is refused until the open timeout passes
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// ErrCircuitOpen matches (errors.Is) every refusal by a breaker: open, or
// half-open with its probe calls already in flight. The refusal is an
// *OpenError.
var ErrCircuitOpen = errors.New("retry: circuit breaker is open")

// OpenError is a breaker's refusal to make a call.
type OpenError struct {
	Breaker string // the breaker's name (the host, for a Transport)
	State   State  // StateOpen, or StateHalfOpen when its probes are busy
}

func (e *OpenError) Error() string {
	if e.State == StateHalfOpen {
		return fmt.Sprintf("retry: circuit breaker %q is half-open and its probe calls are in flight", e.Breaker)
	}
	return fmt.Sprintf("retry: circuit breaker %q is open", e.Breaker)
}

// Is makes errors.Is(err, ErrCircuitOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrCircuitOpen }

// Counts are a breaker's counters over its current rolling window (they
// restart when the state changes).
type Counts struct {
	Requests             uint32 // calls let through
	Successes            uint32
	Failures             uint32
	Excluded             uint32 // calls counted as neither (see BreakerSettings)
	ConsecutiveSuccesses uint32
	ConsecutiveFailures  uint32
}

// BreakerSettings configures a breaker. The zero value means the defaults:
// a 60s rolling window in 10 buckets; the breaker opens when at least 20
// calls completed in the window and at least half of them failed; it stays
// open 10s, then lets 1 probe call through (half-open) and closes when it
// succeeds.
type BreakerSettings struct {
	Window       time.Duration // rolling window, on the wall clock (gobreaker's); 0 means 60s
	Buckets      int           // buckets in the window; 0 means 10
	MinRequests  uint32        // completed calls needed before tripping; 0 means 20
	FailureRatio float64       // failed share that trips it; 0 means 0.5
	OpenTimeout  time.Duration // time spent open, on the WithClock clock; 0 means 10s
	// HalfOpenRequests is how many probe calls a half-open breaker lets
	// through, and how many must succeed to close it; 0 means 1.
	HalfOpenRequests uint32
	// IsFailure reports whether an error counts against the downstream
	// (false counts it as a success); nil counts every non-nil error.
	// Whatever it says, some errors count as neither success nor
	// failure, because they say nothing about the downstream's health:
	// the caller's own cancellation or deadline (the context passed to
	// Execute ended), certificate errors (a configuration problem), and a
	// *StatusError with status 429 (the downstream is up and asks us to
	// slow down; the Transport retries it, honouring Retry-After).
	IsFailure func(error) bool
}

func (s BreakerSettings) validate() error {
	switch {
	case s.Window < 0:
		return fmt.Errorf("retry: BreakerSettings.Window is %v, want >= 0", s.Window)
	case s.Buckets < 0:
		return fmt.Errorf("retry: BreakerSettings.Buckets is %d, want >= 0", s.Buckets)
	case s.FailureRatio < 0 || s.FailureRatio > 1 || math.IsNaN(s.FailureRatio):
		return fmt.Errorf("retry: BreakerSettings.FailureRatio is %v, want in [0, 1]", s.FailureRatio)
	case s.OpenTimeout < 0:
		return fmt.Errorf("retry: BreakerSettings.OpenTimeout is %v, want >= 0", s.OpenTimeout)
	}
	return nil
}

// StateChange is delivered to breaker listeners.
type StateChange struct {
	Breaker  string
	From, To State
	At       time.Time
}

// errExcluded tells gobreaker to count a call as neither success nor
// failure (see BreakerSettings.IsFailure).
var errExcluded = errors.New("retry: excluded")

// forever is the open timeout handed to gobreaker: a gobreaker instance
// that trips stays open, and the Breaker itself decides, on its own clock,
// when to try again (gobreaker reads the wall clock).
const forever = time.Duration(1 << 62)

// Breaker is a circuit breaker built on gobreaker. gobreaker counts calls
// over the rolling window and decides when to trip; the Breaker keeps the
// open and half-open states itself, so that the open timeout follows the
// injected clock. Unlike gobreaker's OnStateChange, its listeners run
// outside every lock: transitions are queued and delivered, in order,
// after the call that caused them returns, so a listener may read the
// breaker's state or even call through it.
type Breaker struct {
	name     string
	settings BreakerSettings // defaults applied
	openErr  *OpenError      // preallocated, so that refusing allocates nothing
	busyErr  *OpenError
	clock    clock.Clock
	logger   *slog.Logger
	stats    *breakerStats
	reg      registration

	phase atomic.Pointer[phase] // the current state; replaced under turn
	turn  sync.Mutex            // serialises transitions; never held while calling gobreaker

	pending  atomic.Bool // events are queued
	draining atomic.Bool // some goroutine is delivering them
	mu       sync.Mutex  // guards queue and listen
	queue    []StateChange
	parent   *Breakers // its listeners hear this breaker too; may be nil
	listen   []func(StateChange)
}

// phase is one stay in a state. Closed and half-open phases count calls
// with a gobreaker instance of their own; a half-open one trips at its
// first failure.
type phase struct {
	state     State
	cb        *gobreaker.CircuitBreaker[struct{}] // nil while open
	until     time.Time                           // open: when probing may start, on the Breaker's clock
	admitted  atomic.Uint32                       // half-open: probes let through, less those excluded
	succeeded atomic.Uint32                       // half-open: probes that succeeded
}

// NewBreaker returns a closed breaker named by WithName. Close releases
// its metrics.
func NewBreaker(s BreakerSettings, opts ...BreakerOption) (*Breaker, error) {
	cfg := configure(opts, BreakerOption.applyBreaker)
	b, err := newBreaker(cfg.name, s, &cfg, &breakerStats{downstream: cfg.name}, nil)
	if err != nil {
		return nil, err
	}
	reg, err := b.stats.register(cfg.meterProvider, func(yield func(*Breaker) bool) { yield(b) })
	b.reg.set(reg)
	if err != nil {
		return nil, fmt.Errorf("retry: breaker metrics: %w", err)
	}
	return b, nil
}

func newBreaker(name string, s BreakerSettings, cfg *config, stats *breakerStats, parent *Breakers) (*Breaker, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	s.Window = cmpOr(s.Window, 60*time.Second)
	s.Buckets = cmpOr(s.Buckets, 10)
	s.MinRequests = cmpOr(s.MinRequests, 20)
	s.FailureRatio = cmpOr(s.FailureRatio, 0.5)
	s.OpenTimeout = cmpOr(s.OpenTimeout, 10*time.Second)
	s.HalfOpenRequests = cmpOr(s.HalfOpenRequests, 1)
	b := &Breaker{
		name:     name,
		settings: s,
		openErr:  &OpenError{Breaker: name, State: StateOpen},
		busyErr:  &OpenError{Breaker: name, State: StateHalfOpen},
		clock:    cfg.clock,
		logger:   cfg.logger,
		stats:    stats,
		parent:   parent,
	}
	b.phase.Store(b.newPhase(StateClosed))
	return b, nil
}

// newPhase makes a closed or half-open phase with a fresh gobreaker.
func (b *Breaker) newPhase(state State) *phase {
	ph := &phase{state: state}
	s := b.settings
	trip := func(c gobreaker.Counts) bool {
		done := uint64(c.TotalSuccesses) + uint64(c.TotalFailures)
		return done >= uint64(s.MinRequests) && float64(c.TotalFailures) >= s.FailureRatio*float64(done)
	}
	if state == StateHalfOpen {
		trip = func(gobreaker.Counts) bool { return true }
	}
	ph.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         b.name,
		Interval:     s.Window,
		BucketPeriod: max(s.Window/time.Duration(s.Buckets), time.Millisecond),
		Timeout:      forever,
		ReadyToTrip:  trip,
		IsExcluded:   func(err error) bool { return err == errExcluded },
		// Runs under gobreaker's mutex, which is never held by the
		// goroutine that holds turn.
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.move(ph, StateOpen)
			}
		},
	})
	return ph
}

// move replaces phase from with a new phase in state to, unless another
// transition replaced from first, and queues the event.
func (b *Breaker) move(from *phase, to State) *phase {
	b.turn.Lock()
	defer b.turn.Unlock()
	cur := b.phase.Load()
	if cur != from {
		return cur
	}
	var next *phase
	now := b.clock.Now()
	if to == StateOpen {
		next = &phase{state: StateOpen, until: now.Add(b.settings.OpenTimeout)}
	} else {
		next = b.newPhase(to)
	}
	b.phase.Store(next)
	b.enqueue(from.state, to, now)
	return next
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Execute calls fn if the breaker allows it and records the outcome. A
// refused call returns an *OpenError (errors.Is ErrCircuitOpen) without
// calling fn. An error after ctx ended (the caller cancelled, or its
// deadline passed) counts as neither success nor failure, as do the
// errors BreakerSettings.IsFailure lists.
func (b *Breaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	if b.phase.Load() == nil {
		return errors.New("retry: the Breaker is a zero value; make it with NewBreaker")
	}
	return b.execute(ctx, ctx, fn)
}

// execute calls fn(actx), judging cancellation by the caller's ctx.
func (b *Breaker) execute(ctx, actx context.Context, fn func(context.Context) error) error {
	ph := b.current()
	switch ph.state {
	case StateOpen:
		return b.refuse(b.openErr)
	case StateHalfOpen:
		if ph.admitted.Add(1) > b.settings.HalfOpenRequests {
			ph.admitted.Add(^uint32(0))
			return b.refuse(b.busyErr)
		}
	}
	var err error
	counted := reqSuccess
	_, gerr := ph.cb.Execute(func() (struct{}, error) {
		err = fn(actx)
		switch {
		case err == nil:
		case notDownstreamFault(ctx, err):
			counted = reqExcluded
			return struct{}{}, errExcluded
		case b.settings.IsFailure == nil || b.settings.IsFailure(err):
			counted = reqFailure
			return struct{}{}, err
		}
		return struct{}{}, nil // a success, or an error IsFailure forgives
	})
	if gerr == gobreaker.ErrOpenState || gerr == gobreaker.ErrTooManyRequests {
		// This phase's gobreaker tripped while the call was on its way.
		return b.refuse(b.openErr)
	}
	b.stats.requests[counted].Add(1)
	if ph.state == StateHalfOpen {
		switch counted {
		case reqExcluded:
			ph.admitted.Add(^uint32(0)) // free the probe's place
		case reqSuccess:
			if ph.succeeded.Add(1) >= b.settings.HalfOpenRequests {
				b.move(ph, StateClosed)
			}
		}
	}
	if b.pending.Load() {
		b.dispatch()
	}
	return err
}

// current returns the current phase, first ending an open phase whose
// timeout has passed on the Breaker's clock. The clock is read only while
// open.
func (b *Breaker) current() *phase {
	ph := b.phase.Load()
	if ph.state == StateOpen && !b.clock.Now().Before(ph.until) {
		ph = b.move(ph, StateHalfOpen)
	}
	return ph
}

func (b *Breaker) refuse(err *OpenError) error {
	b.stats.requests[reqRejected].Add(1)
	if b.pending.Load() {
		b.dispatch()
	}
	return err
}

// State returns the current state (an open breaker whose timeout passed
// reports half-open).
func (b *Breaker) State() State {
	s := b.current().state
	if b.pending.Load() {
		b.dispatch()
	}
	return s
}

// Counts returns the counters of the current phase's rolling window; they
// restart at every state change and are zero while open.
func (b *Breaker) Counts() Counts {
	ph := b.phase.Load()
	if ph.cb == nil {
		return Counts{}
	}
	c := ph.cb.Counts()
	return Counts{
		Requests:             c.Requests,
		Successes:            c.TotalSuccesses,
		Failures:             c.TotalFailures,
		Excluded:             c.TotalExclusions,
		ConsecutiveSuccesses: c.ConsecutiveSuccesses,
		ConsecutiveFailures:  c.ConsecutiveFailures,
	}
}

// Check is a health check: it fails while the breaker is open.
func (b *Breaker) Check(context.Context) error {
	if b.State() == StateOpen {
		return b.openErr
	}
	return nil
}

// OnStateChange adds a listener for state changes. Listeners run one at a
// time, in transition order, on the goroutine whose call caused (or first
// observed) the change, outside every lock.
func (b *Breaker) OnStateChange(f func(StateChange)) {
	b.mu.Lock()
	b.listen = append(b.listen, f)
	b.mu.Unlock()
}

// Close releases the breaker's metrics registration. It is safe to call
// more than once.
func (b *Breaker) Close() error {
	return b.reg.release()
}

// enqueue records a transition for dispatch. Requires turn held.
func (b *Breaker) enqueue(from, to State, at time.Time) {
	b.stats.transitions[to].Add(1)
	ev := StateChange{Breaker: b.name, From: from, To: to, At: at}
	b.mu.Lock()
	b.queue = append(b.queue, ev)
	b.pending.Store(true)
	b.mu.Unlock()
}

// dispatch delivers queued events outside every lock. Only one goroutine
// delivers at a time; one that finds delivery in progress leaves its
// events to it, so a listener that causes a transition does not recurse.
func (b *Breaker) dispatch() {
	for b.pending.Load() {
		if !b.draining.CompareAndSwap(false, true) {
			return
		}
		for {
			b.mu.Lock()
			if len(b.queue) == 0 {
				b.pending.Store(false)
				b.mu.Unlock()
				break
			}
			ev := b.queue[0]
			b.queue = b.queue[1:]
			listeners := b.listen
			b.mu.Unlock()
			b.deliver(listeners, ev)
			if b.parent != nil {
				b.deliver(b.parent.listeners(), ev)
			}
		}
		b.draining.Store(false)
	}
}

func (b *Breaker) deliver(listeners []func(StateChange), ev StateChange) {
	for _, f := range listeners {
		func() {
			defer func() {
				if r := recover(); r != nil {
					b.logger.Error("retry: breaker state listener panicked", "breaker", b.name, "panic", r)
				}
			}()
			f(ev)
		}()
	}
}
