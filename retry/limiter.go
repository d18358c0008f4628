package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/time/rate"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
)

// ErrRateLimited is returned when the client-side rate limiter refuses a
// call: at once in fail-fast mode, or when the wait would pass the
// context's deadline or the limiter's MaxWait. Do does not retry it.
var ErrRateLimited = errors.New("retry: rate limited")

// LimiterConfig configures a Limiter.
type LimiterConfig struct {
	// Rate is the sustained calls per second; it must be > 0.
	Rate float64
	// Burst is how many calls may go at once after a quiet period; 0
	// means max(1, Rate rounded up).
	Burst int
	// Wait makes callers queue for their turn; false (the default)
	// refuses at once with ErrRateLimited when no token is free.
	Wait bool
	// MaxWait, when Wait is set, refuses calls that would wait longer;
	// 0 means only the context's deadline bounds the wait.
	MaxWait time.Duration
}

// Limiter is a client-side rate limit on golang.org/x/time/rate, timed by
// the injectable clock. It is safe for concurrent use.
type Limiter struct {
	lim     *rate.Limiter
	wait    bool
	maxWait time.Duration
	clock   clock.Clock
	reg     registration

	waits      atomic.Int64 // calls that had to wait
	waitedNs   atomic.Int64 // total time waited
	rejections atomic.Int64
}

// NewLimiter returns a full limiter. Close releases its metrics.
func NewLimiter(cfg LimiterConfig, opts ...CommonOption) (*Limiter, error) {
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("retry: LimiterConfig.Rate is %v, want a finite number > 0", cfg.Rate)
	}
	if cfg.Burst < 0 {
		return nil, fmt.Errorf("retry: LimiterConfig.Burst is %d, want >= 0", cfg.Burst)
	}
	if cfg.MaxWait < 0 {
		return nil, fmt.Errorf("retry: LimiterConfig.MaxWait is %v, want >= 0", cfg.MaxWait)
	}
	if cfg.Burst == 0 {
		cfg.Burst = max(1, int(math.Min(math.Ceil(cfg.Rate), math.MaxInt32)))
	}
	c := configure(opts, CommonOption.applyRetrier)
	l := &Limiter{
		lim:     rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		wait:    cfg.Wait,
		maxWait: cfg.MaxWait,
		clock:   c.clock,
	}
	// rate.NewLimiter starts full at its zero time; anchor it to our clock.
	l.lim.SetLimitAt(c.clock.Now(), rate.Limit(cfg.Rate))
	reg, err := l.register(c.meterProvider, c.name)
	l.reg.set(reg)
	if err != nil {
		return nil, fmt.Errorf("retry: limiter metrics: %w", err)
	}
	return l, nil
}

// Wait takes a token, waiting for one if the limiter was configured to
// wait. It returns ErrRateLimited (possibly wrapping
// context.DeadlineExceeded) or the context's error when it gives up.
func (l *Limiter) Wait(ctx context.Context) error {
	if l.lim == nil {
		return errors.New("retry: the Limiter is a zero value; make it with NewLimiter")
	}
	return l.waitAt(ctx, l.clock.Now())
}

func (l *Limiter) waitAt(ctx context.Context, now time.Time) error {
	if !l.wait {
		if l.lim.AllowN(now, 1) {
			return nil
		}
		l.rejections.Add(1)
		return ErrRateLimited
	}
	r := l.lim.ReserveN(now, 1)
	if !r.OK() {
		l.rejections.Add(1)
		return ErrRateLimited
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if l.maxWait > 0 && d > l.maxWait {
		r.CancelAt(now)
		l.rejections.Add(1)
		return fmt.Errorf("%w: the wait of %v exceeds MaxWait %v", ErrRateLimited, d, l.maxWait)
	}
	if deadline, ok := ctx.Deadline(); ok && now.Add(d).After(deadline) {
		r.CancelAt(now)
		l.rejections.Add(1)
		return fmt.Errorf("%w: the wait of %v would pass the deadline: %w", ErrRateLimited, d, context.DeadlineExceeded)
	}
	l.waits.Add(1)
	t := timer.New(l.clock, d)
	defer t.Stop()
	select {
	case <-t.C():
		l.waitedNs.Add(int64(d))
		return nil
	case <-ctx.Done():
		r.CancelAt(l.clock.Now())
		return ctx.Err()
	}
}

// Close releases the limiter's metrics registration.
func (l *Limiter) Close() error {
	return l.reg.release()
}

func (l *Limiter) register(mp metric.MeterProvider, downstream string) (metric.Registration, error) {
	m := mp.Meter(meterName)
	waits, err1 := m.Int64ObservableCounter("opskit.retry.limiter.waits",
		metric.WithUnit("{wait}"), metric.WithDescription("Calls that waited for the rate limiter."))
	waited, err2 := m.Float64ObservableCounter("opskit.retry.limiter.wait_time",
		metric.WithUnit("s"), metric.WithDescription("Total time calls waited for the rate limiter."))
	rejections, err3 := m.Int64ObservableCounter("opskit.retry.limiter.rejections",
		metric.WithUnit("{call}"), metric.WithDescription("Calls the rate limiter refused."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	ds := metric.WithAttributeSet(attribute.NewSet(attribute.String("downstream", downstream)))
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(waits, l.waits.Load(), ds)
		o.ObserveFloat64(waited, time.Duration(l.waitedNs.Load()).Seconds(), ds)
		o.ObserveInt64(rejections, l.rejections.Load(), ds)
		return nil
	}, waits, waited, rejections)
}
