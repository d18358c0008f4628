package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/health"
	"github.com/opskit/opskit/retry"
	"github.com/opskit/opskit/slo"
)

// Stack is the order service with the whole kit on it, wired as
// examples/service wires it:
//
//   - slo.Middleware on POST /api/orders with an availability and a
//     latency objective;
//   - a feature counted per order with the tenant of the X-Tenant header
//     (Registry.WithTenant, Feature.Use);
//   - the downstream reached through retry.Transport with a retry budget
//     and a breaker per host;
//   - a health.Checker on /livez /readyz (a liveness check, the breaker as
//     a readiness check, and a background check of the downstream);
//   - /metrics: the OpenTelemetry SDK with its Prometheus exporter, plus
//     the Go and process collectors, fed by every component above.
//
// Nothing logs on the request path: every component gets a discarding
// logger, so the comparison with the bare server measures the kit, not
// a log handler.
type Stack struct {
	Handler http.Handler

	client *http.Client // the order handler's, through retry.Transport

	meters     *sdkmetric.MeterProvider
	monitor    *slo.Monitor
	avail      *slo.Tracker
	latency    *slo.Tracker
	features   *feature.Registry
	placeOrder *feature.Feature
	breakers   *retry.Breakers
	transport  *retry.Transport
	checks     *health.Checker
}

// Config varies the Stack. Its zero value is the stack of examples/service.
type Config struct {
	// AttemptTimeout is the retry Transport's Policy.AttemptTimeout: each
	// attempt gets a context of its own that ends after it. Zero means
	// 400ms, as examples/service; negative means no per-attempt timeout
	// (attempts run under the request's deadline only).
	AttemptTimeout time.Duration
}

// NewOpskit builds the Stack in front of d and starts its background work
// (health checks, the SLO evaluation and feature clock goroutines); Close
// stops it.
func NewOpskit(d *Downstream, cfg Config) (_ *Stack, err error) {
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	log := slog.New(slog.DiscardHandler)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("e2e: prometheus exporter: %w", err)
	}
	s.meters = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))

	if s.monitor, err = slo.New(slo.WithMeterProvider(s.meters), slo.WithLogger(log)); err != nil {
		return nil, err
	}
	if s.avail, err = s.monitor.Add(slo.Objective{Name: "orders-availability", Target: 0.999,
		Runbook: "Look at the downstream", Outcome: "customers can place orders"}); err != nil {
		return nil, err
	}
	if s.latency, err = s.monitor.Add(slo.Objective{Name: "orders-latency", Target: 0.99,
		Latency: []slo.Threshold{{Max: 300 * time.Millisecond}},
		Runbook: "Look at the downstream's latency", Outcome: "customers get an answer within 300ms"}); err != nil {
		return nil, err
	}

	if s.features, err = feature.New(feature.WithInstance("e2e"), feature.WithMeterProvider(s.meters), feature.WithLogger(log)); err != nil {
		return nil, err
	}
	if s.placeOrder, err = s.features.Define("orders.place", "team-orders",
		time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), "Place an order through POST /api/orders"); err != nil {
		return nil, err
	}

	if s.breakers, err = retry.NewBreakers(retry.BreakerSettings{MinRequests: 20, FailureRatio: 0.5,
		Window: time.Minute, OpenTimeout: 30 * time.Second}, 0,
		retry.WithMeterProvider(s.meters), retry.WithLogger(log)); err != nil {
		return nil, err
	}
	budget, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.AttemptTimeout == 0:
		cfg.AttemptTimeout = 400 * time.Millisecond
	case cfg.AttemptTimeout < 0:
		cfg.AttemptTimeout = 0
	}
	if s.transport, err = retry.NewTransport(retry.Policy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond,
		MaxDelay: 2 * time.Second, AttemptTimeout: cfg.AttemptTimeout},
		retry.WithName("downstream"), retry.WithBase(d.NewTransport()), retry.WithBudget(budget),
		retry.WithBreakers(s.breakers), retry.WithMeterProvider(s.meters), retry.WithLogger(log)); err != nil {
		return nil, err
	}

	if s.checks, err = health.New(health.WithMeterProvider(s.meters), health.WithLogger(log)); err != nil {
		return nil, err
	}
	pingClient := &http.Client{Transport: d.NewTransport(), Timeout: time.Second}
	for _, c := range []health.Check{
		{Name: "goroutines", Probes: health.Liveness, Func: health.Goroutines(10_000)},
		{Name: "downstream-breaker", Probes: health.Readiness, NonCritical: true, Func: s.transport.Check},
		{Name: "downstream", Probes: health.Readiness, NonCritical: true, Interval: time.Second,
			Timeout: 500 * time.Millisecond, Func: health.HTTPGet(pingClient, d.PingURL)},
	} {
		if err = s.checks.Register(c); err != nil {
			return nil, err
		}
	}
	if err = s.checks.Start(); err != nil {
		return nil, err
	}

	s.client = &http.Client{Transport: s.transport}
	h := &orders{client: s.client, url: d.URL, onOrder: s.countOrder}
	mux := http.NewServeMux()
	mux.Handle("POST "+OrderPath, slo.Middleware(h, s.avail, s.latency))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.checks.Mount(mux)
	s.Handler = mux
	return s, nil
}

// countOrder counts the order feature for the request's tenant.
func (s *Stack) countOrder(r *http.Request) {
	s.placeOrder.Use(s.features.WithTenant(r.Context(), r.Header.Get(TenantHeader)))
}

// Close stops everything NewOpskit started, the request path first and the
// telemetry last, and returns the first error.
func (s *Stack) Close() error {
	var errs []error
	if s.checks != nil {
		errs = append(errs, s.checks.Close())
	}
	if s.transport != nil {
		errs = append(errs, s.transport.Close())
	}
	if s.breakers != nil {
		errs = append(errs, s.breakers.Close())
	}
	if s.monitor != nil {
		errs = append(errs, s.monitor.Shutdown(context.Background()))
	}
	if s.features != nil {
		errs = append(errs, s.features.Shutdown(context.Background()))
	}
	if s.meters != nil {
		errs = append(errs, s.meters.Shutdown(context.Background()))
	}
	return errors.Join(errs...)
}
