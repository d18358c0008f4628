package health

import (
	"log/slog"
	"net/netip"

	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/release"
)

// Option configures New.
type Option interface{ apply(*config) }

// config is what the options write; New reads it once.
type config struct {
	meterProvider metric.MeterProvider
	logger        *slog.Logger
	clock         clock.Clock
	listeners     []func(StatusChange)
	authorize     audit.Authorizer
	trusted       []netip.Prefix
	release       *release.Info
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMeterProvider sets where metrics go. Default: otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.meterProvider = mp })
}

// WithLogger sets the logger for status changes and panics. Default:
// slog.Default().
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithClock sets the clock for intervals, timeouts, result times and the
// drain delay. Default: the wall clock.
func WithClock(c clock.Clock) Option { return optionFunc(func(cf *config) { cf.clock = c }) }

// WithListener adds a function called on every status change of a check,
// outside every lock of the Checker, in the goroutine that ran the check.
// A listener that panics is logged and does not stop the others.
func WithListener(fn func(StatusChange)) Option {
	return optionFunc(func(c *config) {
		if fn != nil {
			c.listeners = append(c.listeners, fn)
		}
	})
}

// DetailsAction is the action a details authorizer is asked about.
const DetailsAction audit.Action = "health.details"

// WithDetailsAuthorizer makes fn alone decide whether a ?verbose request
// may see failure reasons: it may when fn returns no error for
// DetailsAction. It replaces the default policy (see WithTrustedProxies).
func WithDetailsAuthorizer(fn audit.Authorizer) Option {
	return optionFunc(func(c *config) { c.authorize = fn })
}

// WithTrustedProxies lists the reverse proxies (by address range) whose
// forwarding headers the default details policy believes.
//
// The default policy shows failure reasons only to the local host: a
// request from a loopback address that carries no forwarding header
// (Forwarded, X-Forwarded-For, X-Real-IP and the like). A request that
// carries one came through a proxy — a sidecar on the same host looks
// local — and sees reasons only if it came from a trusted proxy and the
// client the proxies name (the last address not itself a trusted proxy)
// is loopback. Default: no trusted proxies.
func WithTrustedProxies(prefixes ...netip.Prefix) Option {
	return optionFunc(func(c *config) { c.trusted = append(c.trusted, prefixes...) })
}

// WithRelease puts the running release into every application/health+json
// answer, as the draft's "serviceId", "version" and "releaseId" (empty
// fields are left out). Use release.FromBuild to default them to the
// binary's build info. Default: none of the three.
func WithRelease(i release.Info) Option {
	return optionFunc(func(c *config) { c.release = &i })
}
