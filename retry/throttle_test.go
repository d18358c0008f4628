package retry

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
)

// capacityDownstream accepts at most perSpan requests in each throttle span
// of the fake clock and answers 429 to the rest, like an overloaded
// service with a fixed capacity.
type capacityDownstream struct {
	clock    *clock.Fake
	perSpan  int
	span     int64
	served   int
	received int
}

func (d *capacityDownstream) RoundTrip(req *http.Request) (*http.Response, error) {
	d.received++
	if s := spanOf(d.clock.Now()); s != d.span {
		d.span, d.served = s, 0
	}
	status := http.StatusOK
	if d.served >= d.perSpan {
		status = http.StatusTooManyRequests
	} else {
		d.served++
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{},
		Body: http.NoBody, Request: req}, nil
}

// TestThrottleUnderOverload offers three times a downstream's capacity for
// four minutes of fake time. Without throttling the downstream receives
// everything; with K=2 it receives about twice what it can serve, and
// serves as much.
func TestThrottleUnderOverload(t *testing.T) {
	const capacity, offered, spans = 10, 30, 24 // per 10s span
	run := func(k float64) (received, accepted, lastHalf int) {
		fake := clock.NewFake(epoch)
		d := &capacityDownstream{clock: fake, perSpan: capacity}
		tr, err := NewTransport(Policy{MaxAttempts: 1}, WithClock(fake), WithBase(d), WithThrottle(k))
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		for s := range spans {
			before := d.received
			for range offered {
				req, _ := http.NewRequest(http.MethodGet, "http://busy.test/", nil)
				res, err := tr.RoundTrip(req)
				if err == nil {
					accepted++
					res.Body.Close()
				}
				fake.Advance(throttleSpan / offered)
			}
			if s >= spans/2 {
				lastHalf += d.received - before
			}
		}
		return d.received, accepted, lastHalf
	}
	received, accepted, _ := run(0)
	if received != offered*spans || accepted != capacity*spans {
		t.Fatalf("without throttling: received %d, accepted %d; want %d and %d", received, accepted, offered*spans, capacity*spans)
	}
	received, accepted, lastHalf := run(2)
	perSpan := float64(lastHalf) / (spans / 2)
	// Steady state: p = (360 − 2·120 − 10)/361 ≈ 0.3 of 30 offered are
	// refused locally, so about 21 per span reach the downstream.
	if perSpan < 17 || perSpan > 25 {
		t.Fatalf("with K=2 the downstream received %.1f requests per span once steady, want about 21 (2× its capacity of %d)", perSpan, capacity)
	}
	if accepted < capacity*spans*95/100 {
		t.Fatalf("with K=2 the downstream served %d, want about its capacity %d: throttling must not cost goodput", accepted, capacity*spans)
	}
	t.Logf("K=2: received %d of %d offered, served %d (capacity %d)", received, offered*spans, accepted, capacity*spans)
}

func TestThrottleNeverRefusesAHealthyDownstream(t *testing.T) {
	th := newThrottle(2)
	now := epoch
	for i := range 10_000 {
		b, ok := th.admit(now)
		if !ok {
			t.Fatalf("request %d refused while every request was accepted", i)
		}
		th.settle(context.Background(), b, nil)
		now = now.Add(10 * time.Millisecond)
	}
}

func TestThrottleForgetsAfterTheWindow(t *testing.T) {
	th := newThrottle(2)
	now := epoch
	refused := 0
	for range 1000 { // a downstream refusing everything
		b, ok := th.admit(now)
		if !ok {
			refused++
			continue
		}
		th.settle(context.Background(), b, errBoom)
	}
	// Admitted with probability about 11/(n+1) each: about 11·ln(100) ≈ 50
	// reach the downstream, the first 11 certainly.
	if sent := 1000 - refused; sent < 20 || sent > 150 {
		t.Fatalf("%d of 1000 requests reached a downstream refusing everything, want about 60", sent)
	}
	if th.rejected.Load() != int64(refused) {
		t.Fatalf("rejected counter %d, want %d", th.rejected.Load(), refused)
	}
	// Two minutes later the outage has left the window.
	now = now.Add(throttleBuckets * throttleSpan)
	for i := range 100 {
		b, ok := th.admit(now)
		if !ok {
			t.Fatalf("request %d after the window passed was refused", i)
		}
		th.settle(context.Background(), b, nil)
	}
}

func TestThrottleCountsOnlyTheDownstreamsRefusals(t *testing.T) {
	th := newThrottle(2)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for range 1000 {
		b, ok := th.admit(epoch)
		if !ok {
			t.Fatal("refused although no request was the downstream's refusal")
		}
		th.settle(cancelled, b, context.Canceled) // the caller gave up
		b, _ = th.admit(epoch)
		th.settle(context.Background(), b, &OpenError{Breaker: "x", State: StateOpen}) // never left
	}
}

func TestThrottleRefusalIsRateLimited(t *testing.T) {
	fake := clock.NewFake(epoch)
	d := &downstream{statuses: []int{503}}
	tr, err := NewTransport(Policy{MaxAttempts: 3, BaseDelay: time.Nanosecond}, WithClock(fake), WithBase(d),
		WithBudget(nil), WithBreakers(mustBreakers(t, BreakerSettings{MinRequests: math.MaxUint32})))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var throttled error
	for range 500 {
		req, _ := http.NewRequest(http.MethodGet, "http://down.test/", nil)
		done := runAsync(func() error { _, err := tr.RoundTrip(req); return err })
		var err error
	wait:
		for {
			select {
			case err = <-done:
				break wait
			default:
				fake.Advance(time.Nanosecond) // the 1ns backoff waits
			}
		}
		if errors.Is(err, ErrRateLimited) {
			throttled = err
			break
		}
	}
	if throttled == nil {
		t.Fatal("500 calls to a downstream answering 503 were never throttled")
	}
	if !strings.Contains(throttled.Error(), "adaptive throttling") {
		t.Fatalf("refusal %q, want it to say adaptive throttling", throttled)
	}
	var re *Error
	if !errors.As(throttled, &re) || re.Reason != nil {
		t.Fatalf("refusal %v, want an *Error (the throttle's refusal is not retried)", throttled)
	}
}

func TestWithThrottleValidation(t *testing.T) {
	for _, k := range []float64{0.5, -1, math.NaN(), math.Inf(1)} {
		_, err := NewTransport(Policy{}, WithThrottle(k))
		if err == nil || !strings.HasPrefix(err.Error(), "retry: WithThrottle: K is ") {
			t.Errorf("WithThrottle(%v): %v, want an error naming WithThrottle and K", k, err)
		}
	}
	for _, k := range []float64{0, 1, 2, 10} {
		tr, err := NewTransport(Policy{}, WithThrottle(k))
		if err != nil {
			t.Errorf("WithThrottle(%v): %v", k, err)
			continue
		}
		tr.Close()
	}
}

func mustBreakers(t *testing.T, s BreakerSettings) *Breakers {
	t.Helper()
	bs, err := NewBreakers(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bs.Close() })
	return bs
}
