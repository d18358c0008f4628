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
//     commit, leases, dead letters); the postgres module (its own, so pgx
//     stays out of this one) is the same queue on PostgreSQL and the
//     fleet.Store replicas share.
//   - feature: feature-usage counters nearly free on the hot path, distinct
//     tenants, and reports of what is never or rarely used.
//   - clock: time as an input. Every WithClock takes a clock.Clock (Now and
//     AfterFunc); tests pass a clock.Fake and move time by hand, or adapt
//     the fake they already use in three lines.
//   - audit: the vocabulary of operator actions (who may act, the record of
//     what they did) and a tamper-evident log of them.
//   - overload: an adaptive concurrency limit for the service's own
//     handlers that sheds the excess early (503 and Retry-After), by
//     priority, never the probes.
//   - release: what is running (service, version, release id) and the
//     go/no-go verdict of a candidate release against its baseline.
//   - fleet: what replicas share (one tenant key, per-replica counts,
//     fleet-wide logs, a leader lease); in memory here, on PostgreSQL in
//     the postgres module.
//   - report: the weekly ops report for stakeholders, gathered from what the
//     others record (compliance, incidents, pages, operator actions,
//     releases, the queue, features): HTML for mail, Markdown and JSON.
//   - remedy: actions that run when an alert fires (switch a failing
//     feature off, undo it after an independent recovery signal), dry-run,
//     rate-limited, noted in the incident and audited as automation.
//
// # How the packages fit
//
// Every component that can be unhealthy offers a func(context.Context) error,
// which health registers as a check. Every component takes a
// metric.MeterProvider (the OpenTelemetry API; otel.GetMeterProvider() by
// default), so one exporter shows all of opskit's metrics. The queue takes
// retry's backoff policy for redelivery; release, audit and fleet are
// vocabulary every package may take as plain values. Nothing else crosses
// packages, except the two at the top: report reads the others' records
// and remedy acts through their public methods (a slo.Notifier in front
// of yours, a feature's switch). They compose the base packages; none of
// those imports them, so a service that wants only health still gets only
// health.
//
// A service wires them like this (the package Example has it whole, with
// the shutdown):
//
//	checks, _ := health.New()
//	transport, _ := retry.NewTransport(retry.Policy{MaxAttempts: 3})
//	orders, _ := queue.Open("data/orders")
//	objectives, _ := slo.New()
//	fulfilment := objectives.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
//	features, _ := feature.New(feature.WithDir("data/features"))
//	placeOrder := features.MustDefine("place-order", "team-orders", shipped, "Customer places an order")
//
//	checks.MustRegister(
//		health.Check{Name: "breaker", Probes: health.Readiness, NonCritical: true, Func: transport.Check},
//		health.Check{Name: "backlog", Probes: health.Readiness, NonCritical: true,
//			Func: queue.HealthCheck(orders, queue.Limits{MaxDepth: 10_000, MaxAge: time.Hour})})
//	// in the handler: placeOrder.Use(ctx); resp, err := client.Do(req);
//	// fulfilment.Record(err == nil); on error orders.Enqueue(ctx, order)
//	checks.Mount(mux) // /livez /readyz /startupz /healthz
//	mux.Handle("GET /slo", objectives.Handler())
//	mux.Handle("GET /features", features.Handler(feature.Policy{}))
//
// examples/service is that wiring, complete and runnable: `make run`.
//
// # Conventions
//
// Constructors take options typed per constructor (an option a constructor
// would ignore does not compile; options only record settings) or a policy
// struct whose zero value is a documented default. Every goroutine has an
// owner whose Shutdown(ctx) stops it and waits, but never past ctx, and says
// what it left undone. Time comes from a clock.Clock, so tests never sleep.
// Hot paths update atomics; OpenTelemetry reads them at collection time.
// Bad input is an error naming the field and the value, never a panic; every
// error starts with its package's name. Files are written 0600 in
// directories created 0700. The exported API of every package is recorded
// in api/ and checked by make test.
//
// # Shutting down
//
// A service stops in the order work flows through it, each step bounded by
// a context with a deadline:
//
//  1. health: Checker.DrainAndShutdown fails readiness at once, waits for
//     the load balancer to notice, then shuts the http.Server down, which
//     finishes the requests in flight.
//  2. queue: Worker.Shutdown lets running handlers settle their messages (a
//     message left unsettled is redelivered after its lease), then
//     Queue.Close.
//  3. slo and feature: Monitor.Shutdown and Registry.Shutdown save their
//     last snapshots, now that no request can record anything more.
//  4. retry's Transport.Close (metrics only), health's Checker.Shutdown,
//     then the OpenTelemetry meter provider, which flushes what was
//     recorded.
package opskit
