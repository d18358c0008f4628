package overload

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/clock"
)

// Option configures New.
type Option interface{ apply(*config) }

// HandlerOption configures Limiter.Handler.
type HandlerOption interface{ applyHandler(*handlerConfig) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type handlerOptionFunc func(*handlerConfig)

func (f handlerOptionFunc) applyHandler(c *handlerConfig) { f(c) }

// Defaults of New. They suit request handlers whose unloaded latency is
// between about a millisecond and a second.
const (
	DefaultMinLimit     = 4
	DefaultInitialLimit = 20
	DefaultMaxLimit     = 1000
	DefaultTolerance    = 1.25
	DefaultWindow       = 50 * time.Millisecond
	DefaultSamples      = 32
	DefaultProbeEvery   = 30 * time.Second
	DefaultRetryAfter   = time.Second
)

// config is what the options write; New reads it once.
type config struct {
	minLimit, initialLimit, maxLimit int
	tolerance                        float64
	window                           time.Duration
	samples                          int
	probeEvery                       time.Duration
	clock                            clock.Clock
	meterProvider                    metric.MeterProvider
	name                             string
}

func defaultConfig() config {
	return config{
		minLimit: DefaultMinLimit, initialLimit: DefaultInitialLimit, maxLimit: DefaultMaxLimit,
		tolerance: DefaultTolerance, window: DefaultWindow, samples: DefaultSamples, probeEvery: DefaultProbeEvery,
	}
}

// validate names the first bad setting and its value.
func (c *config) validate() error {
	switch {
	case c.minLimit < 1:
		return fmt.Errorf("overload: WithLimits min %d must be at least 1", c.minLimit)
	case c.maxLimit < c.minLimit:
		return fmt.Errorf("overload: WithLimits max %d is below min %d", c.maxLimit, c.minLimit)
	case c.initialLimit < c.minLimit || c.initialLimit > c.maxLimit:
		return fmt.Errorf("overload: WithLimits initial %d is outside [min %d, max %d]", c.initialLimit, c.minLimit, c.maxLimit)
	case math.IsNaN(c.tolerance) || c.tolerance < 1 || c.tolerance > 10:
		return fmt.Errorf("overload: WithTolerance %v must be between 1 and 10", c.tolerance)
	case c.window <= 0:
		return fmt.Errorf("overload: WithWindow duration %v must be positive", c.window)
	case c.samples < 1:
		return fmt.Errorf("overload: WithWindow samples %d must be at least 1", c.samples)
	case c.probeEvery <= 0:
		return fmt.Errorf("overload: WithProbeEvery %v must be positive", c.probeEvery)
	}
	return nil
}

// WithLimits bounds the concurrency limit and sets where it starts.
// Defaults: DefaultMinLimit, DefaultInitialLimit, DefaultMaxLimit. New
// rejects min < 1, max < min and an initial value outside [min, max].
func WithLimits(min, initial, max int) Option {
	return optionFunc(func(c *config) { c.minLimit, c.initialLimit, c.maxLimit = min, initial, max })
}

// WithTolerance sets how much slower than its unloaded latency the work
// may run before the limit falls: 1.25 (DefaultTolerance) lets the average
// latency of a window reach 1.25 times the baseline. Lower keeps latency
// closer to unloaded at the price of refusing more during noise; New
// rejects values below 1 or above 10.
func WithTolerance(ratio float64) Option {
	return optionFunc(func(c *config) { c.tolerance = ratio })
}

// WithWindow sets how often the limit is reconsidered: a sample window
// closes when at least d has passed and at least samples pieces of work
// have finished in it (and never before twice the baseline latency has
// passed, so that slow work is judged on whole round trips). Defaults:
// DefaultWindow, DefaultSamples.
func WithWindow(d time.Duration, samples int) Option {
	return optionFunc(func(c *config) { c.window, c.samples = d, samples })
}

// WithProbeEvery sets how often the limiter re-measures the unloaded
// latency it compares against: for one sample window the limit drops to
// its minimum, the work already in flight is left out, and the average
// latency of the work admitted in that window becomes the baseline. The
// first probe starts at New. Default: DefaultProbeEvery. A shorter period
// follows a service that really became slower sooner, at the price of
// refusing more work during each probe under load.
func WithProbeEvery(d time.Duration) Option {
	return optionFunc(func(c *config) { c.probeEvery = d })
}

// WithClock sets the clock latencies and windows are measured with.
// Default: the wall clock.
func WithClock(c clock.Clock) Option { return optionFunc(func(cf *config) { cf.clock = c }) }

// WithMeterProvider sets where metrics go. Default: otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithName names the limiter in its metrics (the attribute "limiter"),
// for services with more than one. Default: "default".
func WithName(name string) Option { return optionFunc(func(c *config) { c.name = name }) }

// handlerConfig is what the handler options write.
type handlerConfig struct {
	classify   func(*http.Request) Priority
	retryAfter time.Duration
}

// WithClassifier sets how a request's priority is chosen. Default:
// DefaultPriority (probes and /metrics exempt, everything else Normal). A
// classifier that marks critical paths usually falls back to
// DefaultPriority so that probes stay exempt.
func WithClassifier(fn func(*http.Request) Priority) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) { c.classify = fn })
}

// WithRetryAfter sets the Retry-After a refused request is sent, rounded up
// to whole seconds (at least 1). Default: DefaultRetryAfter.
func WithRetryAfter(d time.Duration) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) { c.retryAfter = d })
}
