package retry

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/internal/clock"
)

// Retrier is a Policy bound to one downstream: its retry budget (on by
// default), optionally a breaker and a rate limiter, a clock and metrics.
// Make one per downstream and share it; it is safe for concurrent use.
type Retrier struct {
	policy  Policy
	budget  *Budget
	breaker *Breaker
	limiter *Limiter
	clock   clock.Clock
	stats   retryStats
	reg     metric.Registration
}

// New returns a Retrier for p. It reads WithName, WithBudget,
// WithBreaker, WithLimiter, WithClock and WithMeterProvider. Close
// releases its metrics (not the breaker's or limiter's, which the caller
// owns).
func New(p Policy, opts ...Option) (*Retrier, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	r := &Retrier{
		policy:  p,
		budget:  cfg.budgetFor(p),
		breaker: cfg.breaker,
		limiter: cfg.limiter,
		clock:   cfg.clock,
	}
	reg, err := r.stats.register(cfg.meterProvider, cfg.downstream(), r.budget)
	if err != nil {
		return nil, fmt.Errorf("retry: metrics: %w", err)
	}
	r.reg = reg
	return r, nil
}

func (r *Retrier) engine() engine {
	return engine{policy: r.policy, budget: r.budget, breaker: r.breaker, limiter: r.limiter, clock: r.clock, stats: &r.stats}
}

// Do is the package-level Do with the Retrier's budget, breaker, limiter,
// clock and metrics. A refusal by the breaker or the limiter is not
// retried.
func (r *Retrier) Do(ctx context.Context, fn func(context.Context) error) error {
	e := r.engine()
	return e.run(ctx, fn)
}

// Budget returns the Retrier's retry budget (nil when budgeting is off).
func (r *Retrier) Budget() *Budget { return r.budget }

// Policy returns the Retrier's policy.
func (r *Retrier) Policy() Policy { return r.policy }

// Close releases the Retrier's metrics registration. It is safe to call
// more than once.
func (r *Retrier) Close() error {
	if r.reg == nil {
		return nil
	}
	err := r.reg.Unregister()
	r.reg = nil
	return err
}

// Value is Retrier.Do for a function that returns a value.
func Value[T any](ctx context.Context, r *Retrier, fn func(context.Context) (T, error)) (T, error) {
	var v T
	err := r.Do(ctx, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}
