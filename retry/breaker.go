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

	"github.com/opskit/opskit/internal/clock"
)

// State is a circuit breaker's state: StateClosed, StateHalfOpen or
// StateOpen.
type State = gobreaker.State

// The breaker states.
const (
	StateClosed   = gobreaker.StateClosed
	StateHalfOpen = gobreaker.StateHalfOpen
	StateOpen     = gobreaker.StateOpen
)

// ErrCircuitOpen matches (errors.Is) every rejection by a breaker: open, or
// half-open with its probe requests already in flight. The rejection is an
// *OpenError, which also matches gobreaker.ErrOpenState or
// gobreaker.ErrTooManyRequests.
var ErrCircuitOpen = errors.New("retry: circuit breaker is open")

// OpenError is a breaker's refusal to make a call.
type OpenError struct {
	Breaker string // the breaker's name (the host, for a Transport)
	State   State  // StateOpen, or StateHalfOpen when its probes are busy
	cause   error  // the gobreaker sentinel
}

func (e *OpenError) Error() string {
	if e.State == StateHalfOpen {
		return fmt.Sprintf("retry: circuit breaker %q is half-open and its probe requests are in flight", e.Breaker)
	}
	return fmt.Sprintf("retry: circuit breaker %q is open", e.Breaker)
}

// Is makes errors.Is(err, ErrCircuitOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrCircuitOpen }

// Unwrap returns gobreaker's own sentinel.
func (e *OpenError) Unwrap() error { return e.cause }

// BreakerSettings configures a breaker. The zero value means the defaults:
// a 60s rolling window in 10 buckets; the breaker opens when at least 20
// calls completed in the window and at least half of them failed; it stays
// open 10s, then lets 1 probe call through (half-open) and closes when it
// succeeds.
type BreakerSettings struct {
	Window       time.Duration // rolling window; 0 means 60s
	Buckets      int           // buckets in the window; 0 means 10
	MinRequests  uint32        // completed calls needed before tripping; 0 means 20
	FailureRatio float64       // failed share that trips it; 0 means 0.5
	OpenTimeout  time.Duration // time spent open; 0 means 10s
	// HalfOpenRequests is how many probe calls a half-open breaker lets
	// through, and how many must succeed to close it; 0 means 1.
	HalfOpenRequests uint32
	// IsFailure reports whether an error counts against the downstream;
	// nil counts every non-nil error. The caller's own cancellation
	// never counts, either way.
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
// failure: the caller cancelled it.
var errExcluded = errors.New("retry: excluded")

// Breaker is a circuit breaker built on gobreaker. Unlike gobreaker's
// OnStateChange, its listeners run outside every lock: transitions are
// queued while gobreaker holds its mutex and delivered, in order, after
// the call that caused them returns, so a listener may read the breaker's
// state or even call through it.
type Breaker struct {
	name    string
	cb      *gobreaker.CircuitBreaker[struct{}]
	openErr *OpenError // preallocated, so that rejecting allocates nothing
	busyErr *OpenError
	clock   clock.Clock
	logger  *slog.Logger
	stats   *breakerStats
	reg     registration

	pending  atomic.Bool // events are queued
	draining atomic.Bool // some goroutine is delivering them
	mu       sync.Mutex  // guards queue and listeners
	queue    []StateChange
	parent   *Breakers // its listeners hear this breaker too; may be nil
	listen   []func(StateChange)
}

// NewBreaker returns a closed breaker. It reads WithName, WithClock (for
// event times), WithLogger and WithMeterProvider; Close releases its
// metrics.
func NewBreaker(s BreakerSettings, opts ...Option) (*Breaker, error) {
	cfg := newConfig(opts)
	b, err := newBreaker(cfg.downstream(), s, &cfg, &breakerStats{}, nil)
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
	window := cmpOr(s.Window, 60*time.Second)
	buckets := cmpOr(s.Buckets, 10)
	minReq := cmpOr(s.MinRequests, 20)
	ratio := cmpOr(s.FailureRatio, 0.5)
	b := &Breaker{
		name:    name,
		openErr: &OpenError{Breaker: name, State: StateOpen, cause: gobreaker.ErrOpenState},
		busyErr: &OpenError{Breaker: name, State: StateHalfOpen, cause: gobreaker.ErrTooManyRequests},
		clock:   cfg.clock,
		logger:  cfg.logger,
		stats:   stats,
		parent:  parent,
	}
	isFailure := s.IsFailure
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         name,
		MaxRequests:  cmpOr(s.HalfOpenRequests, 1),
		Interval:     window,
		BucketPeriod: max(window/time.Duration(buckets), time.Millisecond),
		Timeout:      cmpOr(s.OpenTimeout, 10*time.Second),
		ReadyToTrip: func(c gobreaker.Counts) bool {
			done := uint64(c.TotalSuccesses) + uint64(c.TotalFailures)
			return done >= uint64(minReq) && float64(c.TotalFailures) >= ratio*float64(done)
		},
		IsSuccessful: func(err error) bool { return err == nil || (isFailure != nil && !isFailure(err)) },
		IsExcluded:   func(err error) bool { return err == errExcluded },
		// Runs under gobreaker's mutex: only queue the event.
		OnStateChange: func(_ string, from, to State) { b.enqueue(from, to) },
	})
	return b, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Execute calls fn if the breaker allows it and records the outcome. A
// refused call returns an *OpenError (errors.Is ErrCircuitOpen) without
// calling fn. An error while ctx is cancelled counts as neither success nor
// failure.
func (b *Breaker) Execute(ctx context.Context, fn func(context.Context) error) error {
	return b.execute(ctx, ctx, fn)
}

// execute calls fn(actx), judging cancellation by the caller's ctx.
func (b *Breaker) execute(ctx, actx context.Context, fn func(context.Context) error) error {
	var err error
	_, gerr := b.cb.Execute(func() (struct{}, error) {
		err = fn(actx)
		if err != nil && errors.Is(ctx.Err(), context.Canceled) {
			return struct{}{}, errExcluded
		}
		return struct{}{}, err
	})
	if b.pending.Load() {
		b.dispatch()
	}
	switch {
	case gerr == gobreaker.ErrOpenState:
		b.stats.requests[reqRejected].Add(1)
		return b.openErr
	case gerr == gobreaker.ErrTooManyRequests:
		b.stats.requests[reqRejected].Add(1)
		return b.busyErr
	case gerr == errExcluded:
		b.stats.requests[reqExcluded].Add(1)
	case err != nil:
		b.stats.requests[reqFailure].Add(1)
	default:
		b.stats.requests[reqSuccess].Add(1)
	}
	return err
}

// State returns the current state (an open breaker whose timeout passed
// reports half-open).
func (b *Breaker) State() State {
	s := b.cb.State()
	if b.pending.Load() {
		b.dispatch()
	}
	return s
}

// Counts returns gobreaker's counters for the current window.
func (b *Breaker) Counts() gobreaker.Counts { return b.cb.Counts() }

// Check is a health check: it fails while the breaker is open.
func (b *Breaker) Check(context.Context) error {
	if b.State() == StateOpen {
		return b.openErr
	}
	return nil
}

// OnStateChange adds a listener for state changes. Listeners run one at a
// time, in transition order, on the goroutine whose call caused (or first
// observed) the change, after gobreaker released its lock.
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

// enqueue records a transition; called under gobreaker's mutex.
func (b *Breaker) enqueue(from, to State) {
	b.stats.transitions[to].Add(1)
	ev := StateChange{Breaker: b.name, From: from, To: to, At: b.clock.Now()}
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
