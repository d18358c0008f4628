package retry

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// deadlineCtx reports a deadline on the fake clock's timeline without
// ever firing on the wall clock, so tests decide when time passes.
type deadlineCtx struct {
	context.Context
	deadline time.Time
}

func (d deadlineCtx) Deadline() (time.Time, bool) { return d.deadline, true }

var errBoom = errors.New("boom")

// runAsync runs f in a goroutine and returns a channel with its error.
func runAsync(f func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	return ch
}

// newTestRetrier returns a Retrier on a fake clock with no jitter.
func newTestRetrier(t *testing.T, p Policy, opts ...Option) (*Retrier, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(epoch)
	if p.Jitter == JitterFull {
		p.Jitter = JitterNone
	}
	r, err := New(p, append([]Option{WithClock(fake)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, fake
}

func TestDoSucceedsFirstTime(t *testing.T) {
	calls := 0
	err := Do(context.Background(), Policy{}, func(context.Context) error { calls++; return nil })
	if err != nil || calls != 1 {
		t.Fatalf("Do = %v after %d calls, want nil after 1", err, calls)
	}
}

func TestDoRetriesWithBackoffUntilSuccess(t *testing.T) {
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 4, BaseDelay: time.Second})
	var calls atomic.Int32
	done := runAsync(func() error {
		return r.Do(context.Background(), func(context.Context) error {
			if calls.Add(1) < 3 {
				return errBoom
			}
			return nil
		})
	})
	// First wait is 1s, second 2s: advancing just short of each must not
	// start the next attempt.
	for i, d := range []time.Duration{time.Second, 2 * time.Second} {
		fake.WaitForTimers(1)
		fake.Advance(d - time.Nanosecond)
		if got := calls.Load(); got != int32(i+1) {
			t.Fatalf("before wait %d elapsed: %d calls, want %d", i+1, got, i+1)
		}
		fake.Advance(time.Nanosecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("Do = %v, want nil", err)
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("calls = %d, want 3", got)
	}
}

func TestDoExhaustedReturnsTypedError(t *testing.T) {
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 3, BaseDelay: time.Millisecond})
	done := runAsync(func() error {
		return r.Do(context.Background(), func(context.Context) error { return errBoom })
	})
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond} {
		fake.WaitForTimers(1)
		fake.Advance(d) // exactly: a longer step could also fire the next wait
	}
	err := <-done
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("Do = %v (%T), want *Error", err, err)
	}
	if re.Attempts != 3 || re.Last != errBoom || re.Reason != nil {
		t.Fatalf("Error = %+v, want Attempts 3, Last boom, no Reason", re)
	}
	if !errors.Is(err, errBoom) {
		t.Fatalf("errors.Is(%v, boom) = false", err)
	}
	if want := "retry: failed after 3 attempt(s): last error: boom"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestDoPermanentStopsAtOnce(t *testing.T) {
	calls := 0
	err := Do(context.Background(), Policy{MaxAttempts: 5}, func(context.Context) error {
		calls++
		return Permanent(errBoom)
	})
	var re *Error
	if !errors.As(err, &re) || re.Attempts != 1 || re.Last != errBoom || calls != 1 {
		t.Fatalf("Do = %v after %d calls, want *Error{Attempts 1, Last boom} after 1", err, calls)
	}
	if !errors.Is(err, errBoom) {
		t.Fatal("errors.Is(err, boom) = false")
	}
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	if !IsPermanent(Permanent(errBoom)) || IsPermanent(errBoom) {
		t.Fatal("IsPermanent is wrong")
	}
}

func TestDoClassifierStopsNonRetryable(t *testing.T) {
	errBad := errors.New("bad request")
	calls := 0
	p := Policy{MaxAttempts: 5, Retryable: func(err error) bool { return !errors.Is(err, errBad) }}
	err := Do(context.Background(), p, func(context.Context) error { calls++; return errBad })
	if calls != 1 || !errors.Is(err, errBad) {
		t.Fatalf("Do = %v after %d calls, want errBad after 1", err, calls)
	}
}

func TestDoNeverSleepsPastDeadline(t *testing.T) {
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 10, BaseDelay: time.Second})
	ctx := deadlineCtx{context.Background(), epoch.Add(2500 * time.Millisecond)}
	var calls atomic.Int32
	done := runAsync(func() error {
		return r.Do(ctx, func(context.Context) error { calls.Add(1); return errBoom })
	})
	// Waits 1s then 2s: after the first wait (t=1s) the next would end at
	// 3s > 2.5s, so Do must return without arming another timer.
	fake.WaitForTimers(1)
	fake.Advance(time.Second)
	err := <-done
	if got := calls.Load(); got != 2 {
		t.Fatalf("calls = %d, want 2", got)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errBoom) {
		t.Fatalf("Do = %v, want it to match DeadlineExceeded and the last error", err)
	}
	if got := fake.Now(); !got.Equal(epoch.Add(time.Second)) {
		t.Fatalf("clock at %v, want %v: Do waited longer than it had to", got, epoch.Add(time.Second))
	}
	if fake.Timers() != 0 {
		t.Fatalf("%d timers left armed", fake.Timers())
	}
}

func TestDoCallerCancelDuringWait(t *testing.T) {
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 3, BaseDelay: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(func() error {
		return r.Do(ctx, func(context.Context) error { return errBoom })
	})
	fake.WaitForTimers(1)
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errBoom) {
		t.Fatalf("Do = %v, want Canceled wrapping boom", err)
	}
}

func TestDoCallerCancelInsideAttemptIsNotRetried(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Do(ctx, Policy{MaxAttempts: 5}, func(ctx context.Context) error {
		calls++
		cancel()
		return ctx.Err()
	})
	if calls != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v after %d calls, want Canceled after 1", err, calls)
	}
}

func TestDoAttemptTimeout(t *testing.T) {
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 2, BaseDelay: time.Second, AttemptTimeout: 5 * time.Second})
	var calls atomic.Int32
	var deadlines [2]time.Time
	done := runAsync(func() error {
		return r.Do(context.Background(), func(ctx context.Context) error {
			n := calls.Add(1)
			deadlines[n-1], _ = ctx.Deadline()
			if n == 1 {
				<-ctx.Done() // hangs until the attempt timeout ends it
				return ctx.Err()
			}
			return nil
		})
	})
	fake.WaitForTimers(1) // the attempt's timeout
	fake.Advance(5 * time.Second)
	fake.WaitForTimers(1) // the backoff wait
	fake.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Do = %v, want nil after the timed-out attempt is retried", err)
	}
	if want := epoch.Add(5 * time.Second); !deadlines[0].Equal(want) {
		t.Fatalf("first attempt deadline %v, want %v", deadlines[0], want)
	}
	if want := epoch.Add(11 * time.Second); !deadlines[1].Equal(want) {
		t.Fatalf("second attempt deadline %v, want %v", deadlines[1], want)
	}
}

func TestAttemptTimeoutDerivedFromDeadline(t *testing.T) {
	r, _ := newTestRetrier(t, Policy{MaxAttempts: 1, AttemptTimeout: time.Minute})
	ctx := deadlineCtx{context.Background(), epoch.Add(10 * time.Second)}
	var got time.Time
	_ = r.Do(ctx, func(ctx context.Context) error { got, _ = ctx.Deadline(); return nil })
	if !got.Equal(ctx.deadline) {
		t.Fatalf("attempt deadline %v, want the caller's earlier %v", got, ctx.deadline)
	}
}

func TestDoBudgetExhaustedDuringOutage(t *testing.T) {
	b, err := NewBudget(BudgetConfig{MaxTokens: 2})
	if err != nil {
		t.Fatal(err)
	}
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 3, BaseDelay: time.Millisecond}, WithBudget(b))
	var calls atomic.Int32
	fail := func(context.Context) error { calls.Add(1); return errBoom }
	// First call: two retries spend both tokens.
	done := runAsync(func() error { return r.Do(context.Background(), fail) })
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond} {
		fake.WaitForTimers(1)
		fake.Advance(d) // exactly: a longer step could also fire the next wait
	}
	if err := <-done; errors.Is(err, ErrBudgetExhausted) {
		t.Fatalf("first call: %v, want the attempts to run out first", err)
	}
	// Every later call makes a single attempt.
	for i := range 5 {
		err := r.Do(context.Background(), fail)
		if !errors.Is(err, ErrBudgetExhausted) || !errors.Is(err, errBoom) {
			t.Fatalf("call %d: %v, want ErrBudgetExhausted wrapping boom", i, err)
		}
	}
	if got := calls.Load(); got != 3+5 {
		t.Fatalf("downstream saw %d calls, want 8 (3 then 1 per call)", got)
	}
	// Successes refill it: ten successes at 0.1 earn one retry.
	for range 10 {
		if err := r.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.Stats().Tokens; got != 1 {
		t.Fatalf("tokens after 10 successes = %v, want 1", got)
	}
	st := b.Stats()
	if st.Allowed != 2 || st.Denied != 5 {
		t.Fatalf("budget stats %+v, want Allowed 2, Denied 5", st)
	}
}

func TestDoHonoursHint(t *testing.T) {
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Minute})
	var calls atomic.Int32
	done := runAsync(func() error {
		return r.Do(context.Background(), func(context.Context) error {
			if calls.Add(1) == 1 {
				return After(errBoom, 30*time.Second)
			}
			return nil
		})
	})
	fake.WaitForTimers(1)
	fake.Advance(30*time.Second - time.Nanosecond)
	if calls.Load() != 1 {
		t.Fatal("retried before the hinted wait")
	}
	fake.Advance(time.Nanosecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDoValue(t *testing.T) {
	calls := 0
	v, err := DoValue(context.Background(), Policy{BaseDelay: time.Nanosecond}, func(context.Context) (string, error) {
		calls++
		if calls < 2 {
			return "partial", errBoom
		}
		return "done", nil
	})
	if err != nil || v != "done" {
		t.Fatalf("DoValue = %q, %v; want done, nil", v, err)
	}
	v, err = DoValue(context.Background(), Policy{MaxAttempts: 1}, func(context.Context) (string, error) { return "partial", errBoom })
	if v != "" || !errors.Is(err, errBoom) {
		t.Fatalf("DoValue = %q, %v; want zero value and boom", v, err)
	}
}

func TestDoValueWithRetrier(t *testing.T) {
	r, _ := newTestRetrier(t, Policy{MaxAttempts: 1})
	v, err := DoValue(context.Background(), r, func(context.Context) (int, error) { return 42, nil })
	if v != 42 || err != nil {
		t.Fatalf("DoValue = %d, %v; want 42, nil", v, err)
	}
	v, err = DoValue(context.Background(), r, func(context.Context) (int, error) { return 7, errBoom })
	if v != 0 || !errors.Is(err, errBoom) {
		t.Fatalf("DoValue = %d, %v; want 0 and boom", v, err)
	}
	var re *Error
	if !errors.As(err, &re) || re.Attempts != 1 {
		t.Fatalf("DoValue error %v, want an *Error after the Retrier's 1 attempt", err)
	}
}

func TestDoRejectsBadPolicy(t *testing.T) {
	err := Do(context.Background(), Policy{MaxAttempts: -2}, func(context.Context) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "MaxAttempts is -2") {
		t.Fatalf("Do = %v, want an error naming MaxAttempts", err)
	}
	if _, err := New(Policy{BaseDelay: -1}); err == nil {
		t.Fatal("New accepted a negative BaseDelay")
	}
}

func TestDoSuccessAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	fn := func(context.Context) error { return nil }
	if n := testing.AllocsPerRun(200, func() { _ = Do(ctx, Policy{}, fn) }); n != 0 {
		t.Errorf("Do allocates %v times, want 0", n)
	}
	br, err := NewBreaker(BreakerSettings{})
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	r, err := New(Policy{}, WithBreaker(br))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := testing.AllocsPerRun(200, func() { _ = r.Do(ctx, fn) }); n != 0 {
		t.Errorf("Retrier.Do with breaker allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(200, func() { _, _ = DoValue(ctx, Policy{}, func(context.Context) (int, error) { return 1, nil }) }); n != 0 {
		t.Errorf("DoValue allocates %v times, want 0", n)
	}
}

// countingClock counts Now calls, to hold the success path to one read.
type countingClock struct {
	clock.Clock
	reads atomic.Int32
}

func (c *countingClock) Now() time.Time { c.reads.Add(1); return c.Clock.Now() }

func TestDoSuccessReadsClockAtMostOnce(t *testing.T) {
	lim, err := NewLimiter(LimiterConfig{Rate: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	cc := &countingClock{Clock: clock.NewFake(epoch)}
	r, err := New(Policy{}, WithClock(cc), WithLimiter(lim))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := cc.reads.Load(); got != 1 {
		t.Fatalf("success path with a limiter read the clock %d times, want 1", got)
	}
	// An attempt timeout shares that read; a clock other than the real one
	// reads once more to arm the timeout's AfterFunc.
	cc.reads.Store(0)
	r2, err := New(Policy{AttemptTimeout: time.Second}, WithClock(cc), WithLimiter(lim))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if err := r2.Do(context.Background(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := cc.reads.Load(); got != 2 {
		t.Fatalf("success path with a limiter and an attempt timeout read the clock %d times, want 2", got)
	}
}

// TestAttemptTimeoutOnTheRealClock covers the real clock's branch, where an
// attempt's bound is the runtime's own timer context. It waits for a real
// 20ms timeout once: there is no other way to see that timer fire.
func TestAttemptTimeoutOnTheRealClock(t *testing.T) {
	r, err := New(Policy{MaxAttempts: 2, BaseDelay: time.Nanosecond, AttemptTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var calls int
	var firstErr error
	start := time.Now()
	err = r.Do(context.Background(), func(ctx context.Context) error {
		calls++
		deadline, ok := ctx.Deadline()
		if !ok || deadline.Before(start.Add(20*time.Millisecond)) || deadline.After(time.Now().Add(20*time.Millisecond)) {
			t.Errorf("attempt %d deadline %v (set %v), want 20ms from its start", calls, deadline, ok)
		}
		if calls == 1 {
			<-ctx.Done()
			firstErr = ctx.Err()
			return firstErr
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Do = %v after %d calls, want nil after 2", err, calls)
	}
	if firstErr != context.DeadlineExceeded {
		t.Fatalf("timed-out attempt saw %v, want context.DeadlineExceeded", firstErr)
	}
	// A caller deadline earlier than the timeout is the attempt's bound,
	// and the caller's context itself is passed on (nothing allocated).
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	err = r.Do(ctx, func(actx context.Context) error {
		if actx != ctx {
			t.Error("the attempt got a context of its own although the caller's deadline comes first")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
