package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
)

// Do calls fn until it succeeds, the policy's attempts run out, fn returns
// a Permanent or non-retryable error, or ctx ends, waiting between attempts
// as p says. It returns nil or an *Error.
//
// Do never sleeps past ctx's deadline: when the next wait would reach it,
// Do returns at once with an *Error matching both context.DeadlineExceeded
// and the last error. Do waits on the wall clock and keeps no retry budget;
// a Retrier (New) adds a budget, a breaker, a limiter, a clock and metrics.
func Do(ctx context.Context, p Policy, fn func(context.Context) error) error {
	e := engine{policy: p, clock: clock.Real()}
	return e.run(ctx, fn)
}

// DoValue is Do, or Retrier.Do, for a function that returns a value: the
// value of the successful call, or T's zero value with the error. r is a
// Policy or a *Retrier.
func DoValue[T any, R Policy | *Retrier](ctx context.Context, r R, fn func(context.Context) (T, error)) (T, error) {
	var v T
	call := func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	}
	var err error
	switch r := any(&r).(type) { // a pointer, so that a Policy is not copied to the heap
	case *Policy:
		err = Do(ctx, *r, call)
	case **Retrier:
		err = (*r).Do(ctx, call)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// engine is one retry loop's configuration. It lives on the caller's
// stack; nil collaborators are skipped.
type engine struct {
	policy   Policy
	budget   *Budget
	breaker  *Breaker
	limiter  *Limiter
	throttle *throttle
	clock    clock.Clock
	stats    *retryStats

	// started is when the current attempt began, read once and shared by
	// the limiter, the throttle and the attempt timeout; readNow asks for
	// it even when none of those is set (the Transport's own timeout).
	started time.Time
	readNow bool
}

// run is the retry loop shared by Do, Retrier and Transport.
func (e *engine) run(ctx context.Context, fn func(context.Context) error) error {
	if err := e.policy.Validate(); err != nil {
		return err
	}
	n := e.policy.attempts()
	_, limit := e.policy.bounds()
	var prev time.Duration
	for attempt := 1; ; attempt++ {
		err := e.attempt(ctx, fn)
		if err == nil {
			e.budget.Success()
			e.stats.finish(resultOK, attempt)
			return nil
		}
		e.stats.failedAttempt()
		if callerStopped(ctx, err) {
			return e.giveUp(resultCanceled, attempt, err, ctx.Err())
		}
		if errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrRateLimited) {
			return e.giveUp(resultRejected, attempt, err, nil)
		}
		if !e.retryable(err) {
			return e.giveUp(resultPermanent, attempt, err, nil)
		}
		if attempt >= n {
			return e.giveUp(resultExhausted, attempt, err, nil)
		}
		d, hinted := hintOf(err)
		if hinted {
			d = min(max(d, 0), limit)
		} else {
			d = e.policy.nextDelay(attempt, prev)
		}
		prev = d
		if deadline, ok := ctx.Deadline(); ok && !e.clock.Now().Add(d).Before(deadline) {
			return e.giveUp(resultDeadline, attempt, err, context.DeadlineExceeded)
		}
		if !e.budget.TryRetry() {
			return e.giveUp(resultBudget, attempt, err, ErrBudgetExhausted)
		}
		e.stats.retry(d)
		if timer.Sleep(ctx, e.clock, d) != nil {
			return e.giveUp(resultCanceled, attempt, err, ctx.Err())
		}
	}
}

func (e *engine) giveUp(r result, attempts int, last, reason error) error {
	e.stats.finish(r, attempts)
	return &Error{Attempts: attempts, Last: unpermanent(last), Reason: reason}
}

// retryable applies the fixed rules, then the policy's classifier.
func (e *engine) retryable(err error) bool {
	if IsPermanent(err) || errors.Is(err, ErrCircuitOpen) || errors.Is(err, ErrRateLimited) || certificateError(err) {
		return false
	}
	return e.policy.Retryable == nil || e.policy.Retryable(err)
}

// attempt makes one call through the limiter and the breaker, under the
// per-attempt timeout.
func (e *engine) attempt(ctx context.Context, fn func(context.Context) error) error {
	var now time.Time // read at most once, only when something needs it
	if e.limiter != nil || e.throttle != nil || e.policy.AttemptTimeout > 0 || e.readNow {
		now = e.clock.Now()
	}
	e.started = now
	if e.limiter != nil {
		if err := e.limiter.waitAt(ctx, now); err != nil {
			return err
		}
	}
	if e.throttle != nil {
		b, ok := e.throttle.admit(now)
		if !ok {
			return errThrottled
		}
		err := e.call(ctx, now, fn)
		e.throttle.settle(ctx, b, err)
		return err
	}
	return e.call(ctx, now, fn)
}

// call makes the attempt through the breaker, under the attempt timeout.
func (e *engine) call(ctx context.Context, now time.Time, fn func(context.Context) error) error {
	actx := ctx
	if e.policy.AttemptTimeout > 0 {
		ac, stop := attemptContext(ctx, e.clock, now, e.policy.AttemptTimeout)
		defer stop()
		actx = ac
	}
	if e.breaker != nil {
		return e.breaker.execute(ctx, actx, fn)
	}
	return fn(actx)
}

// attemptContext bounds ctx by timeout from now, on clock c. When ctx's
// own deadline comes first, ctx already bounds the attempt and is returned
// as it is. On the real clock this is context.WithDeadline.
func attemptContext(ctx context.Context, c clock.Clock, now time.Time, timeout time.Duration) (context.Context, context.CancelFunc) {
	deadline := now.Add(timeout)
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		return ctx, func() {}
	}
	return timer.WithDeadline(ctx, c, deadline)
}

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
	reg     registration
}

// New returns a Retrier for p. Close releases its metrics (not the
// breaker's or limiter's, which the caller owns).
func New(p Policy, opts ...Option) (*Retrier, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cfg := configure(opts, Option.applyRetrier)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Retrier{
		policy:  p,
		budget:  cfg.budgetOr(),
		breaker: cfg.breaker,
		limiter: cfg.limiter,
		clock:   cfg.clock,
	}
	reg, err := r.stats.register(cfg.meterProvider, cfg.name, r.budget, nil)
	if err != nil {
		return nil, fmt.Errorf("retry: metrics: %w", err)
	}
	r.reg.set(reg)
	return r, nil
}

// Do is the package-level Do with the Retrier's budget, breaker, limiter,
// clock and metrics. A refusal by the breaker or the limiter is not
// retried.
func (r *Retrier) Do(ctx context.Context, fn func(context.Context) error) error {
	if r.clock == nil {
		return errors.New("retry: the Retrier is a zero value; make it with New")
	}
	e := engine{policy: r.policy, budget: r.budget, breaker: r.breaker, limiter: r.limiter, clock: r.clock, stats: &r.stats}
	return e.run(ctx, fn)
}

// Budget returns the Retrier's retry budget (nil when budgeting is off).
func (r *Retrier) Budget() *Budget { return r.budget }

// Close releases the Retrier's metrics registration. It is safe to call
// more than once. A Retrier starts no goroutine, so there is nothing to
// shut down.
func (r *Retrier) Close() error {
	return r.reg.release()
}
