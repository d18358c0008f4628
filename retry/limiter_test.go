package retry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
)

func newTestLimiter(t *testing.T, cfg LimiterConfig) (*Limiter, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(epoch)
	l, err := NewLimiter(cfg, WithClock(fake))
	if err != nil {
		t.Fatalf("NewLimiter: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, fake
}

func TestLimiterFailFast(t *testing.T) {
	l, fake := newTestLimiter(t, LimiterConfig{Rate: 1, Burst: 2})
	ctx := context.Background()
	for i := range 2 {
		if err := l.Wait(ctx); err != nil {
			t.Fatalf("call %d within burst: %v", i, err)
		}
	}
	if err := l.Wait(ctx); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("third call: %v, want ErrRateLimited", err)
	}
	fake.Advance(time.Second)
	if err := l.Wait(ctx); err != nil {
		t.Fatalf("after a second: %v, want a token", err)
	}
	if got := l.rejections.Load(); got != 1 {
		t.Fatalf("rejections = %d, want 1", got)
	}
}

func TestLimiterWaitsOnTheClock(t *testing.T) {
	l, fake := newTestLimiter(t, LimiterConfig{Rate: 2, Burst: 1, Wait: true})
	ctx := context.Background()
	if err := l.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	done := runAsync(func() error { return l.Wait(ctx) })
	fake.WaitForTimers(1)
	fake.Advance(499 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("returned %v before its token was due", err)
	default:
	}
	fake.Advance(time.Millisecond)
	if err := <-done; err != nil {
		t.Fatalf("Wait = %v, want nil after 500ms", err)
	}
	if l.waits.Load() != 1 || time.Duration(l.waitedNs.Load()) != 500*time.Millisecond {
		t.Fatalf("waits %d, waited %v; want 1, 500ms", l.waits.Load(), time.Duration(l.waitedNs.Load()))
	}
}

func TestLimiterWaitPastDeadlineFailsFast(t *testing.T) {
	l, fake := newTestLimiter(t, LimiterConfig{Rate: 0.1, Burst: 1, Wait: true})
	_ = l.Wait(context.Background())
	ctx := deadlineCtx{context.Background(), epoch.Add(time.Second)}
	err := l.Wait(ctx)
	if !errors.Is(err, ErrRateLimited) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want ErrRateLimited and DeadlineExceeded", err)
	}
	if fake.Timers() != 0 {
		t.Fatal("a timer was armed for a wait that could not finish in time")
	}
	// The refused reservation was given back: after 10s one token is free.
	fake.Advance(10 * time.Second)
	if err := l.Wait(deadlineCtx{context.Background(), epoch.Add(time.Minute)}); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

func TestLimiterMaxWaitAndCancel(t *testing.T) {
	l, fake := newTestLimiter(t, LimiterConfig{Rate: 1, Burst: 1, Wait: true, MaxWait: 100 * time.Millisecond})
	_ = l.Wait(context.Background())
	if err := l.Wait(context.Background()); !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "MaxWait") {
		t.Fatalf("Wait = %v, want ErrRateLimited naming MaxWait", err)
	}
	fake.Advance(950 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(func() error { return l.Wait(ctx) })
	fake.WaitForTimers(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want Canceled", err)
	}
}

func TestLimiterConfigValidation(t *testing.T) {
	for _, cfg := range []LimiterConfig{{}, {Rate: -1}, {Rate: 1, Burst: -1}, {Rate: 1, MaxWait: -1}} {
		if _, err := NewLimiter(cfg); err == nil || !strings.Contains(err.Error(), "LimiterConfig.") {
			t.Errorf("NewLimiter(%+v) = %v, want an error naming the field", cfg, err)
		}
	}
}

func TestRetrierDoesNotRetryLimiterRefusal(t *testing.T) {
	l, _ := newTestLimiter(t, LimiterConfig{Rate: 1, Burst: 1})
	r, _ := newTestRetrier(t, Policy{MaxAttempts: 5}, WithLimiter(l))
	calls := 0
	_ = r.Do(context.Background(), func(context.Context) error { calls++; return nil })
	err := r.Do(context.Background(), func(context.Context) error { calls++; return nil })
	if !errors.Is(err, ErrRateLimited) || calls != 1 {
		t.Fatalf("Do = %v with %d calls, want ErrRateLimited and 1 call", err, calls)
	}
}

func TestRetrierStopsOnOpenBreaker(t *testing.T) {
	br := newTestBreaker(t, BreakerSettings{MinRequests: 2, OpenTimeout: time.Hour})
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 5, BaseDelay: time.Millisecond}, WithBreaker(br))
	calls := 0
	done := runAsync(func() error {
		return r.Do(context.Background(), func(context.Context) error { calls++; return errBoom })
	})
	// The second failure trips it; the third attempt is refused.
	for _, d := range []time.Duration{time.Millisecond, 2 * time.Millisecond} {
		fake.WaitForTimers(1)
		fake.Advance(d)
	}
	err := <-done
	if !errors.Is(err, ErrCircuitOpen) || calls != 2 {
		t.Fatalf("Do = %v after %d calls, want ErrCircuitOpen after 2", err, calls)
	}
}
