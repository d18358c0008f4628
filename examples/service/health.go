package main

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/opskit/opskit/health"
	"go.opentelemetry.io/otel/metric"
)

// newHealth registers the service's checks:
//   - startup: the data directory has room;
//   - liveness: the goroutine count is sane (a leak means restart us);
//   - readiness: the downstream answers. It is not critical: when it is
//     down the service still takes orders into its queue, so it stays
//     ready and reports warn instead of being pulled from the load balancer.
func newHealth(dataDir, downstreamPing string, mp metric.MeterProvider, log *slog.Logger) (*health.Checker, error) {
	hc, err := health.New(health.WithMeterProvider(mp), health.WithLogger(log))
	if err != nil {
		return nil, err
	}
	pingClient := &http.Client{Timeout: time.Second}
	for _, c := range []health.Check{
		{Name: "data-dir", Probes: health.Startup, Func: health.DiskFree(dataDir, 64<<20)},
		{Name: "goroutines", Probes: health.Liveness, Func: health.Goroutines(10_000)},
		{Name: "downstream", Probes: health.Readiness, NonCritical: true,
			Interval: 2 * time.Second, Timeout: 500 * time.Millisecond,
			Func: health.HTTPGet(pingClient, downstreamPing)},
	} {
		if err := hc.Register(c); err != nil {
			hc.Close()
			return nil, err
		}
	}
	return hc, nil
}
