// Package opskit is a library that makes a Go service operable from its
// first release: the platform can probe it, the on-call engineer gets alerts
// that say what to do, work accepted during an outage is not lost, and the
// product owner can see which features are used. It holds no code; the
// packages below do the work and meet only through plain Go values.
//
//   - health: startup, liveness and readiness probes on the Kubernetes
//     conventions (/livez, /readyz, /startupz, /healthz), with timeouts that
//     hold, panics contained and a drain on shutdown.
//   - slo: objectives, error budgets and multi-window multi-burn-rate alerts
//     that say IF, DO and SO THAT; incidents that document themselves;
//     Prometheus rules for fleets.
//   - retry: backoff with jitter, retry budgets, circuit breakers, rate
//     limits and an http.RoundTripper that honours Retry-After.
//   - queue: a durable retry queue on local disk (checksummed log, group
//     commit, leases, dead letters); queue/postgres is the same queue on
//     PostgreSQL, in a module of its own.
//   - feature: feature-usage counters nearly free on the hot path, distinct
//     tenants, and reports of what is never or rarely used.
//
// # How the packages fit
//
// Every component that can be unhealthy offers a func(context.Context) error,
// which health registers as a check. Every component takes a
// metric.MeterProvider (the OpenTelemetry API; otel.GetMeterProvider() by
// default), so one exporter shows all of opskit's metrics. The queue takes
// retry's backoff policy for redelivery. Nothing else crosses packages.
//
// A service wires them like this (error handling shortened):
//
//	checks := health.New()
//	client := &http.Client{Transport: retry.NewTransport(http.DefaultTransport)}
//	orders, _ := queue.Open("data/orders")
//	checks.Register(health.Check{Name: "queue", Func: orders.Check, Probes: health.Readiness})
//	avail := slo.MustObjective(slo.Objective{Name: "orders", Target: 0.999})
//	placeOrder := feature.Define("place-order", "team-orders", "2026-01-01", "customer places an order")
//
//	mux := http.NewServeMux()
//	checks.Mount(mux)                      // /livez /readyz /startupz /healthz
//	mux.Handle("POST /orders", slo.Middleware(avail, ordersHandler(client, orders, placeOrder)))
//
// examples/service is that wiring, complete and runnable: `make run`.
//
// # Conventions
//
// Constructors take functional options (WithMeterProvider, WithLogger,
// WithClock) or a policy struct whose zero value is a documented default.
// Every goroutine has an owner whose Close or Shutdown stops it and waits.
// Hot paths update atomics; OpenTelemetry reads them at collection time.
// Bad input is an error naming the field and the value, never a panic.
package opskit
