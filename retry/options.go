package retry

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
)

// Each constructor takes only the options it reads, so passing one it
// would ignore does not compile:
//
//	New           Option:          WithName, WithClock, WithMeterProvider, WithBudget, WithLimiter, WithBreaker
//	NewTransport  TransportOption: WithName, WithClock, WithMeterProvider, WithBudget, WithLimiter, WithLogger, WithBreakers, WithBase, WithThrottle
//	NewBreaker    BreakerOption:   WithName, WithClock, WithMeterProvider, WithLogger
//	NewBreakers   BreakerOption:   the same
//	NewLimiter    CommonOption:    WithName, WithClock, WithMeterProvider
//
// Options write into a private configuration that the constructor reads;
// none sees the value being built.

// Option configures New (a Retrier).
type Option interface{ applyRetrier(*config) }

// TransportOption configures NewTransport.
type TransportOption interface{ applyTransport(*config) }

// BreakerOption configures NewBreaker and NewBreakers. Every BreakerOption
// is also a TransportOption: a Transport passes it to the breakers it
// makes when WithBreakers is not given.
type BreakerOption interface {
	TransportOption
	applyBreaker(*config)
}

// CommonOption is an option every constructor reads: WithName, WithClock
// and WithMeterProvider return one.
type CommonOption struct{ set func(*config) }

func (o CommonOption) applyRetrier(c *config)   { o.set(c) }
func (o CommonOption) applyTransport(c *config) { o.set(c) }
func (o CommonOption) applyBreaker(c *config)   { o.set(c) }

// ClientOption is an option of the two clients, New and NewTransport:
// WithBudget and WithLimiter return one.
type ClientOption struct{ set func(*config) }

func (o ClientOption) applyRetrier(c *config)   { o.set(c) }
func (o ClientOption) applyTransport(c *config) { o.set(c) }

// retrierOnly, transportOnly and breakerOption back the options only some
// constructors read.
type retrierOnly func(*config)

func (f retrierOnly) applyRetrier(c *config) { f(c) }

type transportOnly func(*config)

func (f transportOnly) applyTransport(c *config) { f(c) }

type breakerOption func(*config)

func (f breakerOption) applyTransport(c *config) { f(c) }
func (f breakerOption) applyBreaker(c *config)   { f(c) }

type config struct {
	meterProvider metric.MeterProvider
	logger        *slog.Logger
	clock         clock.Clock
	name          string
	breaker       *Breaker
	breakers      *Breakers
	limiter       *Limiter
	budget        *Budget
	budgetSet     bool
	base          http.RoundTripper
	throttleK     float64
	throttleSet   bool
}

// defaults fills what no option set.
func (c *config) defaults() {
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.clock = timer.Or(c.clock)
	if c.name == "" {
		c.name = "default"
	}
	if !c.throttleSet {
		c.throttleK = defaultThrottleK
	}
}

// WithName names the downstream: the "downstream" attribute of every
// metric, and a single breaker's name. Default: "default".
func WithName(name string) CommonOption {
	return CommonOption{func(c *config) { c.name = name }}
}

// WithClock sets the clock for backoff waits, attempt timeouts, the rate
// limiter and the breakers' open timeout. Default: clock.Real(). See the
// package documentation for the breaker's rolling window, which follows
// the wall clock.
func WithClock(c clock.Clock) CommonOption {
	return CommonOption{func(cfg *config) { cfg.clock = c }}
}

// WithMeterProvider sets where metrics go. Default: otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) CommonOption {
	return CommonOption{func(c *config) { c.meterProvider = mp }}
}

// WithBudget sets the retry budget, to share one among the Retriers and
// Transports calling one downstream; nil turns budgeting off. Default: a
// Budget of its own with the default settings. A zero Budget{} is a
// budget with the default settings.
func WithBudget(b *Budget) ClientOption {
	return ClientOption{func(c *config) { c.budget, c.budgetSet = b, true }}
}

// WithLimiter makes every attempt wait for (or be refused by) l, which must
// come from NewLimiter. Default: no limit.
func WithLimiter(l *Limiter) ClientOption {
	return ClientOption{func(c *config) { c.limiter = l }}
}

// WithBreaker makes every attempt of a Retrier pass through b, which must
// come from NewBreaker (or Breakers.Get). Default: no breaker.
func WithBreaker(b *Breaker) Option {
	return retrierOnly(func(c *config) { c.breaker = b })
}

// WithBreakers gives a Transport its per-host breakers, which must come
// from NewBreakers. Default: a Breakers with default settings, made with
// the Transport's name, clock, logger and meter provider, and closed by
// the Transport's Close.
func WithBreakers(b *Breakers) TransportOption {
	return transportOnly(func(c *config) { c.breakers = b })
}

// WithBase sets the RoundTripper a Transport sends through. Default:
// http.DefaultTransport.
func WithBase(rt http.RoundTripper) TransportOption {
	return transportOnly(func(c *config) { c.base = rt })
}

// WithThrottle sets the multiplier K of a Transport's client-side adaptive
// throttling (the Google SRE book's "Handling Overload"): over the last two
// minutes the Transport counts the requests it attempted and those the
// downstream accepted (answered, 501 and 4xx but 429 included), and
// refuses a request locally, with an error matching ErrRateLimited, with
// probability max(0, (requests − K·accepts − 10) / (requests + 1)). A
// downstream that accepts at least 1/K of what it is sent is never
// throttled, nor is a client with fewer than 10 refused requests in the
// window; a downstream that refuses most requests (429, 5xx, timeouts)
// receives about K times what it accepts, however many callers keep
// asking. K must be 0 (off) or at least 1. Default: 2.
func WithThrottle(k float64) TransportOption {
	return transportOnly(func(c *config) { c.throttleK, c.throttleSet = k, true })
}

// WithLogger sets the logger for problems nobody can be returned an error
// for, such as a panicking breaker listener. Default: discard.
func WithLogger(l *slog.Logger) BreakerOption {
	return breakerOption(func(c *config) { c.logger = l })
}

// budgetOr returns the configured budget, or a fresh default one.
func (c *config) budgetOr() *Budget {
	if c.budgetSet {
		return c.budget
	}
	return new(Budget)
}

// configure applies opts over the defaults.
func configure[O any](opts []O, apply func(O, *config)) config {
	var c config
	for _, o := range opts {
		if any(o) != nil {
			apply(o, &c)
		}
	}
	c.defaults()
	return c
}

// validate rejects collaborators that were not made by their constructors
// (a zero Breaker, Breakers or Limiter has no settings to run with).
func (c *config) validate() error {
	switch {
	case c.breaker != nil && c.breaker.phase.Load() == nil:
		return errors.New("retry: WithBreaker: the Breaker is a zero value; make it with NewBreaker")
	case c.breakers != nil && c.breakers.cache == nil:
		return errors.New("retry: WithBreakers: the Breakers is a zero value; make it with NewBreakers")
	case c.limiter != nil && c.limiter.lim == nil:
		return errors.New("retry: WithLimiter: the Limiter is a zero value; make it with NewLimiter")
	case c.throttleK != 0 && !(c.throttleK >= 1 && c.throttleK <= math.MaxFloat64):
		return fmt.Errorf("retry: WithThrottle: K is %v, want 0 (off) or a finite number >= 1", c.throttleK)
	}
	return nil
}
