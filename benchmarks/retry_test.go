package benchmarks

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	retrygo "github.com/avast/retry-go/v5"
	"github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/sony/gobreaker/v2"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/retry"
)

// The retry benchmarks measure a call that succeeds at once: the overhead
// every request pays for being retryable, which is what matters in steady
// state. Each library is configured alike: 3 attempts, 100ms base delay,
// 10s cap, so only its bookkeeping differs.

func okCall(context.Context) error { return nil }
func okPlain() error               { return nil }

func BenchmarkRetrySuccess(b *testing.B) {
	ctx := context.Background()
	b.Run("opskit", func(b *testing.B) {
		r, err := retry.New(retry.Policy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Do(ctx, okCall); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("failsafe-go", func(b *testing.B) {
		rp := retrypolicy.NewBuilder[any]().WithMaxAttempts(3).WithBackoff(100*time.Millisecond, 10*time.Second).Build()
		ex := failsafe.With[any](rp)
		b.ReportAllocs()
		for b.Loop() {
			if err := ex.Run(okPlain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("backoff", func(b *testing.B) {
		op := func() (struct{}, error) { return struct{}{}, nil }
		b.ReportAllocs()
		for b.Loop() {
			eb := backoff.NewExponentialBackOff()
			eb.InitialInterval, eb.MaxInterval = 100*time.Millisecond, 10*time.Second
			if _, err := backoff.Retry(ctx, op, backoff.WithBackOff(eb), backoff.WithMaxTries(3)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("retry-go", func(b *testing.B) {
		r := retrygo.New(retrygo.Attempts(3), retrygo.Delay(100*time.Millisecond), retrygo.MaxDelay(10*time.Second), retrygo.Context(ctx))
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Do(okPlain); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkBreakerSuccess(b *testing.B) {
	ctx := context.Background()
	b.Run("opskit", func(b *testing.B) {
		br, err := retry.NewBreaker(retry.BreakerSettings{})
		if err != nil {
			b.Fatal(err)
		}
		defer br.Close()
		b.ReportAllocs()
		for b.Loop() {
			if err := br.Execute(ctx, okCall); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gobreaker", func(b *testing.B) {
		// The same rolling window opskit configures, so the comparison
		// isolates the wrapper.
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Interval: time.Minute, BucketPeriod: 6 * time.Second, Timeout: 10 * time.Second})
		req := func() (struct{}, error) { return struct{}{}, nil }
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cb.Execute(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("failsafe-go", func(b *testing.B) {
		cb := circuitbreaker.NewBuilder[any]().WithFailureRateThreshold(0.5, 20, time.Minute).WithDelay(10 * time.Second).Build()
		ex := failsafe.With[any](cb)
		b.ReportAllocs()
		for b.Loop() {
			if err := ex.Run(okPlain); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRetryBreakerSuccess(b *testing.B) {
	ctx := context.Background()
	b.Run("opskit", func(b *testing.B) {
		br, err := retry.NewBreaker(retry.BreakerSettings{})
		if err != nil {
			b.Fatal(err)
		}
		defer br.Close()
		r, err := retry.New(retry.Policy{MaxAttempts: 3}, retry.WithBreaker(br))
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Do(ctx, okCall); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("failsafe-go", func(b *testing.B) {
		rp := retrypolicy.NewBuilder[any]().WithMaxAttempts(3).WithBackoff(100*time.Millisecond, 10*time.Second).Build()
		cb := circuitbreaker.NewBuilder[any]().WithFailureRateThreshold(0.5, 20, time.Minute).WithDelay(10 * time.Second).Build()
		ex := failsafe.With[any](rp, cb)
		b.ReportAllocs()
		for b.Loop() {
			if err := ex.Run(okPlain); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// capacityServer answers in memory like a service that can serve perSecond
// requests per second of the fake clock and refuses the rest with status
// refuse (429 or 503), cheaply, as an overloaded service does.
type capacityServer struct {
	clock     *clock.Fake
	perSecond int
	refuse    int
	second    int64
	served    int
	received  int
	accepted  int
}

func (s *capacityServer) RoundTrip(req *http.Request) (*http.Response, error) {
	s.received++
	if sec := s.clock.Now().Unix(); sec != s.second {
		s.second, s.served = sec, 0
	}
	status := s.refuse
	if s.served < s.perSecond {
		s.served++
		s.accepted++
		status = http.StatusOK
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// BenchmarkTransportThrottle measures what adaptive throttling (on by
// default, K=2) costs and what it buys:
//   - success: one request to an in-memory downstream that accepts
//     everything, with and without the throttle (ns/op, allocs/op);
//   - overload: six minutes on a fake clock offering 3x a downstream's
//     capacity (20/s), one attempt per request, the default budget and
//     breakers; reported over the last four minutes as sent/offered (the
//     share of offered requests that reach the downstream) and
//     served/capacity (goodput). The downstream refuses with 429 (breakers
//     ignore it) or 503 (breakers count it).
func BenchmarkTransportThrottle(b *testing.B) {
	for _, k := range []float64{0, 2} {
		name := fmt.Sprintf("K=%v", k)
		b.Run("success/"+name, func(b *testing.B) {
			ok := roundTripper(func(req *http.Request) (*http.Response, error) {
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
			})
			tr, err := retry.NewTransport(retry.Policy{MaxAttempts: 3}, retry.WithBase(ok), retry.WithThrottle(k))
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			req, _ := http.NewRequest(http.MethodGet, "http://inventory.test/items/1", nil)
			b.ReportAllocs()
			for b.Loop() {
				res, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
			}
		})
		for _, refuse := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
			b.Run(fmt.Sprintf("overload-%d/%s", refuse, name), func(b *testing.B) {
				const capacity, offered = 20, 60 // per second
				const warmup, measured = 2 * 60 * offered, 4 * 60 * offered
				var sent, served float64
				for b.Loop() {
					fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
					srv := &capacityServer{clock: fake, perSecond: capacity, refuse: refuse}
					tr, err := retry.NewTransport(retry.Policy{MaxAttempts: 1}, retry.WithClock(fake), retry.WithBase(srv), retry.WithThrottle(k))
					if err != nil {
						b.Fatal(err)
					}
					for i := range warmup + measured {
						if i == warmup {
							srv.received, srv.accepted = 0, 0
						}
						req, _ := http.NewRequest(http.MethodGet, "http://busy.test/", nil)
						if res, err := tr.RoundTrip(req); err == nil {
							res.Body.Close()
						}
						fake.Advance(time.Second / offered)
					}
					tr.Close()
					sent += float64(srv.received) / measured
					served += float64(srv.accepted) / (4 * 60 * capacity)
				}
				b.ReportMetric(sent/float64(b.N), "sent/offered")
				b.ReportMetric(served/float64(b.N), "served/capacity")
			})
		}
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
