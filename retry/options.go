package retry

import (
	"context"
	"log/slog"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/internal/clock"
)

// Option configures New, NewBreaker, NewBreakers, NewLimiter and
// NewTransport. Each constructor documents the options it reads; the
// others are ignored.
type Option func(*config)

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
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.logger == nil {
		c.logger = slog.New(discardHandler{})
	}
	c.clock = clock.OrReal(c.clock)
	return c
}

// WithMeterProvider sets where metrics go. Default: otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}

// WithLogger sets the logger for problems nobody can be returned an error
// for, such as a panicking state listener. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithClock sets the clock for backoff waits, attempt timeouts and the
// rate limiter. Default: the wall clock. (gobreaker reads the wall clock
// itself, so breaker timing always follows real time.)
func WithClock(c clock.Clock) Option { return func(cfg *config) { cfg.clock = c } }

// WithName names the downstream; it becomes the "downstream" attribute of
// every metric and the breaker's name. Default: "default".
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithBreaker makes every attempt of a Retrier pass through b.
func WithBreaker(b *Breaker) Option { return func(c *config) { c.breaker = b } }

// WithBreakers gives a Transport its per-host breakers. Default: a
// Breakers with default settings.
func WithBreakers(b *Breakers) Option { return func(c *config) { c.breakers = b } }

// WithLimiter makes every attempt wait for (or be refused by) l.
func WithLimiter(l *Limiter) Option { return func(c *config) { c.limiter = l } }

// WithBudget sets the retry budget, to share one among several Retriers
// and Transports calling the same downstream; nil turns budgeting off.
// Default: a new Budget with default settings (Policy.Budget, when set,
// wins).
func WithBudget(b *Budget) Option {
	return func(c *config) { c.budget, c.budgetSet = b, true }
}

// WithBase sets the RoundTripper a Transport sends through. Default:
// http.DefaultTransport.
func WithBase(rt http.RoundTripper) Option { return func(c *config) { c.base = rt } }

// budgetFor resolves the budget: the policy's, else the option's, else a
// fresh default one.
func (c *config) budgetFor(p Policy) *Budget {
	switch {
	case p.Budget != nil:
		return p.Budget
	case c.budgetSet:
		return c.budget
	}
	b, _ := NewBudget(BudgetConfig{}) // the defaults are valid
	return b
}

func (c *config) downstream() string {
	if c.name == "" {
		return "default"
	}
	return c.name
}

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (d discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discardHandler) WithGroup(string) slog.Handler           { return d }
