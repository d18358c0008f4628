package benchmarks

import (
	"context"
	"testing"
	"time"

	retrygo "github.com/avast/retry-go/v5"
	"github.com/cenkalti/backoff/v5"
	"github.com/failsafe-go/failsafe-go"
	"github.com/failsafe-go/failsafe-go/circuitbreaker"
	"github.com/failsafe-go/failsafe-go/retrypolicy"
	"github.com/sony/gobreaker/v2"

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
