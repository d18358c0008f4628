package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
)

func ok(context.Context) error   { return nil }
func fail(context.Context) error { return errBoom }

func newTestBreaker(t *testing.T, s BreakerSettings, opts ...BreakerOption) *Breaker {
	t.Helper()
	b, err := NewBreaker(s, append([]BreakerOption{WithName("db")}, opts...)...)
	if err != nil {
		t.Fatalf("NewBreaker: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestBreakerTripsOnFailureRatioWithMinVolume(t *testing.T) {
	b := newTestBreaker(t, BreakerSettings{MinRequests: 10, FailureRatio: 0.5, OpenTimeout: time.Hour})
	ctx := context.Background()
	// 9 failures: below the minimum volume, stays closed.
	for range 9 {
		_ = b.Execute(ctx, fail)
	}
	if s := b.State(); s != StateClosed {
		t.Fatalf("after 9 failures (min volume 10): %v, want closed", s)
	}
	_ = b.Execute(ctx, fail) // 10 completed, all failed
	if s := b.State(); s != StateOpen {
		t.Fatalf("after 10 failures: %v, want open", s)
	}
	called := false
	err := b.Execute(ctx, func(context.Context) error { called = true; return nil })
	if called {
		t.Fatal("open breaker called the function")
	}
	if !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("open breaker returned %v, want ErrCircuitOpen", err)
	}
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Breaker != "db" || oe.State != StateOpen {
		t.Fatalf("OpenError = %+v, want breaker db, open", oe)
	}
	if err := b.Check(ctx); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Check = %v, want ErrCircuitOpen", err)
	}
}

func TestBreakerStaysClosedBelowRatio(t *testing.T) {
	b := newTestBreaker(t, BreakerSettings{MinRequests: 10, FailureRatio: 0.5})
	ctx := context.Background()
	for i := range 40 {
		if i%3 == 0 { // a third fail
			_ = b.Execute(ctx, fail)
		} else {
			_ = b.Execute(ctx, ok)
		}
	}
	if s := b.State(); s != StateClosed {
		t.Fatalf("a third failing: %v, want closed", s)
	}
	if err := b.Check(ctx); err != nil {
		t.Fatalf("Check = %v, want nil", err)
	}
}

func TestBreakerIgnoresCallerCancellation(t *testing.T) {
	b := newTestBreaker(t, BreakerSettings{MinRequests: 1, FailureRatio: 0.01})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 10 {
		err := b.Execute(ctx, func(ctx context.Context) error { return ctx.Err() })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Execute = %v, want the caller's Canceled back", err)
		}
	}
	if s := b.State(); s != StateClosed {
		t.Fatalf("after cancelled calls: %v, want closed", s)
	}
	c := b.Counts()
	if c.Failures != 0 || c.Successes != 0 || c.Excluded != 10 {
		t.Fatalf("counts %+v, want 10 exclusions only", c)
	}
}

func TestBreakerIsFailureClassifier(t *testing.T) {
	errNotFound := errors.New("not found")
	b := newTestBreaker(t, BreakerSettings{MinRequests: 1, IsFailure: func(err error) bool { return !errors.Is(err, errNotFound) }})
	for range 5 {
		if err := b.Execute(context.Background(), func(context.Context) error { return errNotFound }); err != errNotFound {
			t.Fatalf("Execute = %v, want errNotFound passed through", err)
		}
	}
	if s := b.State(); s != StateClosed {
		t.Fatalf("after not-found errors: %v, want closed", s)
	}
}

// eventLog collects a breaker's state changes as "from->to" strings.
type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) listen(c StateChange) {
	l.mu.Lock()
	l.events = append(l.events, fmt.Sprintf("%v->%v", c.From, c.To))
	l.mu.Unlock()
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, " ")
}

func TestBreakerOpenTimeoutFollowsTheClock(t *testing.T) {
	fake := clock.NewFake(epoch)
	b := newTestBreaker(t, BreakerSettings{MinRequests: 1, OpenTimeout: 30 * time.Second}, WithClock(fake))
	var log eventLog
	var at []time.Time
	b.OnStateChange(log.listen)
	b.OnStateChange(func(c StateChange) { at = append(at, c.At) })
	ctx := context.Background()
	_ = b.Execute(ctx, fail) // trips
	fake.Advance(30*time.Second - time.Nanosecond)
	if s := b.State(); s != StateOpen {
		t.Fatalf("1ns before the open timeout: %v, want open", s)
	}
	if err := b.Execute(ctx, ok); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Execute while open = %v, want ErrCircuitOpen", err)
	}
	fake.Advance(time.Nanosecond)
	if s := b.State(); s != StateHalfOpen {
		t.Fatalf("at the open timeout: %v, want half-open", s)
	}
	if err := b.Execute(ctx, ok); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if s := b.State(); s != StateClosed {
		t.Fatalf("after a good probe: %v, want closed", s)
	}
	if got, want := log.String(), "closed->open open->half-open half-open->closed"; got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
	if want := []time.Time{epoch, epoch.Add(30 * time.Second), epoch.Add(30 * time.Second)}; fmt.Sprint(at) != fmt.Sprint(want) {
		t.Fatalf("events at %v, want %v (the fake clock's times)", at, want)
	}
}

func TestBreakerHalfOpenFailedProbeReopens(t *testing.T) {
	fake := clock.NewFake(epoch)
	b := newTestBreaker(t, BreakerSettings{MinRequests: 1, OpenTimeout: time.Minute, HalfOpenRequests: 2}, WithClock(fake))
	var log eventLog
	b.OnStateChange(log.listen)
	ctx := context.Background()
	_ = b.Execute(ctx, fail)
	fake.Advance(time.Minute)
	// Two probes pass; a third call while they are in flight is refused.
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	probe := func(ctx context.Context) error { started <- struct{}{}; <-release; return nil }
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { _ = b.Execute(ctx, probe) })
	}
	<-started
	<-started
	var oe *OpenError
	if err := b.Execute(ctx, ok); !errors.As(err, &oe) || oe.State != StateHalfOpen {
		t.Fatalf("third call while probing = %v, want a half-open OpenError", err)
	}
	close(release)
	wg.Wait()
	if s := b.State(); s != StateClosed {
		t.Fatalf("after two good probes: %v, want closed", s)
	}
	// Trip again; this time the first probe fails and the breaker reopens
	// for a whole new timeout.
	_ = b.Execute(ctx, fail)
	fake.Advance(time.Minute)
	if err := b.Execute(ctx, fail); !errors.Is(err, errBoom) {
		t.Fatalf("probe = %v, want boom through", err)
	}
	fake.Advance(time.Minute - time.Nanosecond)
	if s := b.State(); s != StateOpen {
		t.Fatalf("after a failed probe: %v, want open for a whole timeout", s)
	}
	want := "closed->open open->half-open half-open->closed closed->open open->half-open half-open->open"
	if got := log.String(); got != want {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestBreakerExcludedProbeFreesItsPlace(t *testing.T) {
	fake := clock.NewFake(epoch)
	b := newTestBreaker(t, BreakerSettings{MinRequests: 1, OpenTimeout: time.Minute}, WithClock(fake))
	ctx := context.Background()
	_ = b.Execute(ctx, fail)
	fake.Advance(time.Minute)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Execute(cancelled, func(ctx context.Context) error { return ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled probe = %v", err)
	}
	if s := b.State(); s != StateHalfOpen {
		t.Fatalf("after a cancelled probe: %v, want still half-open", s)
	}
	if err := b.Execute(ctx, ok); err != nil {
		t.Fatalf("the next probe was refused: %v", err)
	}
	if s := b.State(); s != StateClosed {
		t.Fatalf("after a good probe: %v, want closed", s)
	}
}

// TestBreakerListenerReadingStateDoesNotDeadlock is gobreaker issue 37:
// a listener that reads the breaker would deadlock under gobreaker's own
// OnStateChange, which runs with its mutex held.
func TestBreakerListenerReadingStateDoesNotDeadlock(t *testing.T) {
	b := newTestBreaker(t, BreakerSettings{MinRequests: 1, OpenTimeout: time.Hour})
	var seen []State
	var counts []Counts
	b.OnStateChange(func(c StateChange) {
		seen = append(seen, b.State())
		counts = append(counts, b.Counts())
		// Even calling through the breaker from the listener must work.
		_ = b.Execute(context.Background(), ok)
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Execute(context.Background(), fail)
	}()
	<-done // a deadlock would hang here (and the test binary times out)
	if len(seen) != 1 || seen[0] != StateOpen {
		t.Fatalf("listener saw %v, want [open]", seen)
	}
}

func TestBreakerListenerPanicIsContained(t *testing.T) {
	var logged strings.Builder
	b := newTestBreaker(t, BreakerSettings{MinRequests: 1, OpenTimeout: time.Hour},
		WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	heard := false
	b.OnStateChange(func(StateChange) { panic("listener bug") })
	b.OnStateChange(func(StateChange) { heard = true })
	err := b.Execute(context.Background(), fail)
	if !heard {
		t.Fatal("a panicking listener stopped the next one")
	}
	if !errors.Is(err, errBoom) {
		t.Fatalf("Execute = %v, want the call's own error", err)
	}
	if !strings.Contains(logged.String(), "listener bug") || !strings.Contains(logged.String(), "breaker=db") {
		t.Fatalf("log %q, want the panic logged with the breaker's name", logged.String())
	}
}

func TestBreakerEventsInOrderUnderConcurrency(t *testing.T) {
	fake := clock.NewFake(epoch)
	b := newTestBreaker(t, BreakerSettings{MinRequests: 1, OpenTimeout: time.Nanosecond}, WithClock(fake))
	var mu sync.Mutex
	var last State = StateClosed
	bad := 0
	b.OnStateChange(func(c StateChange) {
		mu.Lock()
		if c.From != last {
			bad++
		}
		last = c.To
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				fake.Advance(time.Nanosecond) // every open phase ends at once
				if (i+g)%2 == 0 {
					_ = b.Execute(context.Background(), fail)
				} else {
					_ = b.Execute(context.Background(), ok)
				}
			}
		})
	}
	wg.Wait()
	_ = b.State()
	mu.Lock()
	defer mu.Unlock()
	if bad != 0 {
		t.Fatalf("%d events did not start from the previous event's state", bad)
	}
}

func TestBreakerSettingsValidation(t *testing.T) {
	for _, s := range []BreakerSettings{{Window: -1}, {Buckets: -1}, {FailureRatio: 1.5}, {OpenTimeout: -time.Second}} {
		if _, err := NewBreaker(s); err == nil || !strings.Contains(err.Error(), "BreakerSettings.") {
			t.Errorf("NewBreaker(%+v) = %v, want an error naming the field", s, err)
		}
	}
	if _, err := NewBreakers(BreakerSettings{}, -1); err == nil {
		t.Error("NewBreakers accepted size -1")
	}
}

func TestBreakerSuccessAllocatesNothing(t *testing.T) {
	b := newTestBreaker(t, BreakerSettings{})
	ctx := context.Background()
	if n := testing.AllocsPerRun(200, func() { _ = b.Execute(ctx, ok) }); n != 0 {
		t.Errorf("Execute allocates %v times, want 0", n)
	}
	open := newTestBreaker(t, BreakerSettings{MinRequests: 1, OpenTimeout: time.Hour})
	_ = open.Execute(ctx, fail)
	if n := testing.AllocsPerRun(200, func() { _ = open.Execute(ctx, ok) }); n != 0 {
		t.Errorf("rejecting allocates %v times, want 0", n)
	}
}

func TestBreakersPerKeyBoundedByLRU(t *testing.T) {
	bs, err := NewBreakers(BreakerSettings{MinRequests: 1, OpenTimeout: time.Hour}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	var events []string
	bs.OnStateChange(func(c StateChange) { events = append(events, c.Breaker+":"+c.To.String()) })
	ctx := context.Background()
	a := bs.Get("a.example")
	if bs.Get("a.example") != a {
		t.Fatal("Get returned a different breaker for the same key")
	}
	_ = a.Execute(ctx, fail)
	if s := bs.Get("b.example").State(); s != StateClosed {
		t.Fatalf("b's state %v, want closed: breakers must be independent", s)
	}
	if err := bs.Check(ctx); err == nil || !errors.Is(err, ErrCircuitOpen) || !strings.Contains(err.Error(), "a.example") {
		t.Fatalf("Check = %v, want it to name a.example", err)
	}
	if got := fmt.Sprint(bs.States()); got != "map[a.example:open b.example:closed]" {
		t.Fatalf("States = %s", got)
	}
	bs.Get("c.example") // evicts a.example, the least recently used
	if got := len(bs.States()); got != 2 {
		t.Fatalf("%d breakers kept, want 2", got)
	}
	if bs.Get("a.example") == a {
		t.Fatal("an evicted breaker came back")
	}
	if len(events) != 1 || events[0] != "a.example:open" {
		t.Fatalf("set listener heard %v, want [a.example:open]", events)
	}
}
