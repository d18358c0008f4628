package retry

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// The adaptive throttle's window: the SRE book's two minutes, in buckets
// so that old outcomes leave it gradually.
const (
	throttleBuckets = 12
	throttleSpan    = 10 * time.Second
)

// defaultThrottleK is the SRE book's multiplier: the client keeps sending
// while the downstream accepts at least half of what it is sent.
const defaultThrottleK = 2

// throttleFloor is how many requests beyond K·accepts the window must hold
// before the throttle refuses anything, so that a client with little
// traffic does not throttle itself after a failure or two (the bare
// formula refuses half the requests after a single failure; go-zero's and
// gRPC's throttlers guard the same way).
const throttleFloor = 10

// errThrottled is the adaptive throttle's refusal; it matches
// ErrRateLimited, so callers and the retry loop treat it like the
// configured limiter's.
var errThrottled = fmt.Errorf("%w: adaptive throttling: the downstream has been refusing most requests", ErrRateLimited)

// throttle is the client-side adaptive throttling of the Google SRE book
// ("Handling Overload"): over the last two minutes it counts the requests
// the client attempted and those the downstream accepted, and refuses a
// new request locally with probability
//
//	max(0, (requests − K·accepts − throttleFloor) / (requests + 1))
//
// so that the load a struggling downstream receives stays near K times
// what it can serve, and falls away as it recovers. Lock-free; the counts
// are an estimate under concurrency.
type throttle struct {
	k        float64
	buckets  [throttleBuckets]throttleBucket
	rejected atomic.Int64
}

type throttleBucket struct {
	span     atomic.Int64 // the 10s span (unix time / throttleSpan) counted here
	requests atomic.Int64
	accepts  atomic.Int64
}

func newThrottle(k float64) *throttle {
	if k == 0 {
		return nil
	}
	return &throttle{k: k}
}

func spanOf(now time.Time) int64 { return now.UnixNano() / int64(throttleSpan) }

// admit counts a request started at now and reports whether it may go,
// with the bucket its outcome is to be settled in.
func (t *throttle) admit(now time.Time) (*throttleBucket, bool) {
	span := spanOf(now)
	var requests, accepts int64
	for i := range t.buckets {
		b := &t.buckets[i]
		if s := b.span.Load(); s <= span && span-s < throttleBuckets {
			requests += b.requests.Load()
			accepts += b.accepts.Load()
		}
	}
	b := &t.buckets[uint64(span)%throttleBuckets]
	if s := b.span.Load(); s != span && b.span.CompareAndSwap(s, span) {
		b.requests.Store(0) // a span that left the window: start it afresh
		b.accepts.Store(0)
	}
	b.requests.Add(1)
	p := (float64(requests) - t.k*float64(accepts) - throttleFloor) / float64(requests+1)
	if p > 0 && rand.Float64() < p {
		t.rejected.Add(1)
		return nil, false
	}
	return b, true
}

// settle records how an admitted request ended: accepted when the
// downstream answered (err nil), refused on any failure the downstream is
// responsible for (429 included), and not counted at all when the failure
// says nothing about it (the caller's context ending, a certificate error,
// a breaker's refusal before the request left).
func (t *throttle) settle(ctx context.Context, b *throttleBucket, err error) {
	switch {
	case err == nil:
		b.accepts.Add(1)
	case errors.Is(err, ErrCircuitOpen) || ctx.Err() != nil || certificateError(err):
		b.requests.Add(-1)
	}
}
