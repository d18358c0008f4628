package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/opskit/opskit/health"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/release"
	"go.opentelemetry.io/otel/metric"
)

// newHealth registers the service's checks:
//   - startup: the data directory has room;
//   - liveness: the goroutine count is sane (a leak means restart us);
//   - readiness: the downstream answers. It is not critical: when it is
//     down the service still takes orders into its queue, so it stays
//     ready and reports warn instead of being pulled from the load balancer.
//   - readiness: the downstream's circuit breaker is closed, and the
//     order queue's backlog is bounded (also non-critical:
//     a long backlog is a warning to look at, not a reason to refuse work).
//
// The JSON answers name the release (serviceId, version, releaseId), and
// the build-info gauge carries it too.
func newHealth(dataDir, downstreamPing string, q queue.Backend, client *downstreamClient, rel release.Info, mp metric.MeterProvider, log *slog.Logger) (*health.Checker, error) {
	hc, err := health.New(health.WithMeterProvider(mp), health.WithLogger(log), health.WithRelease(rel))
	if err != nil {
		return nil, err
	}
	if _, err := release.RegisterMetrics(mp, rel); err != nil {
		hc.Close()
		return nil, err
	}
	pingClient := &http.Client{Timeout: time.Second}
	for _, c := range []health.Check{
		{Name: "data-dir", Probes: health.Startup, Func: health.DiskFree(dataDir, 64<<20)},
		{Name: "goroutines", Probes: health.Liveness, Func: health.Goroutines(10_000)},
		{Name: "downstream", Probes: health.Readiness, NonCritical: true,
			Interval: 2 * time.Second, Timeout: 500 * time.Millisecond,
			Func: health.HTTPGet(pingClient, downstreamPing)},
		{Name: "downstream-breaker", Probes: health.Readiness, NonCritical: true, Func: client.Check},
		{Name: "queue", Probes: health.Readiness, NonCritical: true, Interval: 5 * time.Second,
			Func: backlogCheck(q, 100_000, time.Hour)},
	} {
		if err := hc.Register(c); err != nil {
			hc.Close()
			return nil, err
		}
	}
	return hc, nil
}

// backlogCheck prefers a backend's own backlog check (PostgreSQL's is
// bounded in cost however deep the queue) over the generic one.
func backlogCheck(q queue.Backend, maxDepth int, maxAge time.Duration) func(context.Context) error {
	l := queue.Limits{MaxDepth: maxDepth, MaxAge: maxAge}
	if b, ok := q.(interface {
		HealthCheck(queue.Limits) func(context.Context) error
	}); ok {
		return b.HealthCheck(l)
	}
	return queue.HealthCheck(q, l)
}

// registerWorker adds the delivery worker's check once it runs: it warns
// (non-critical readiness) when the worker keeps failing, a delivery is
// stuck, or it stopped consuming. Orders still queue meanwhile, so the
// service stays ready; a worker paused behind an open breaker is healthy.
func registerWorker(hc *health.Checker, w *queue.Worker) error {
	return hc.Register(health.Check{Name: "delivery-worker", Probes: health.Readiness, NonCritical: true, Func: w.Check})
}
