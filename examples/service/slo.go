package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/opskit/opskit/slo"
	"go.opentelemetry.io/otel/metric"
)

// objectives are the service's promises. Targets of 99% keep every default
// burn-rate tier meaningful (a tier can fire only below 1/(1-target)).
var (
	fulfilmentObjective = slo.Objective{
		Name:    "order-fulfilment",
		Target:  0.99,
		Runbook: "Check the downstream (/demo/downstream) and the breaker state on /metrics; restore or fail over the downstream. Orders wait in /queue meanwhile.",
		Outcome: "customers' orders reach fulfilment and ship on time",
	}
	latencyObjective = slo.Objective{
		Name:    "api-orders-latency",
		Target:  0.99,
		Latency: []slo.Threshold{{Max: 300 * time.Millisecond}},
		Runbook: "Look at the downstream's latency and the retry delays on /metrics; if the downstream is slow, shorten the request path's deadline so orders queue instead of waiting.",
		Outcome: "customers get an answer within 300ms when they place an order",
	}
)

// objectives tracks both; fulfil is recorded on every downstream call
// (request path and queue worker), latency by middleware on /api/orders.
type objectives struct {
	mon     *slo.Monitor
	fulfil  *slo.Tracker
	latency *slo.Tracker
}

func newObjectives(dataDir string, mp metric.MeterProvider, log *slog.Logger) (*objectives, error) {
	mon, err := slo.New(
		slo.WithMeterProvider(mp),
		slo.WithLogger(log),
		slo.WithIncidentLog(filepath.Join(dataDir, "incidents.jsonl")),
		slo.WithSnapshotFile(filepath.Join(dataDir, "slo-snapshot.json"), time.Minute),
	)
	if err != nil {
		return nil, err
	}
	o := &objectives{mon: mon}
	if o.fulfil, err = mon.Add(fulfilmentObjective); err == nil {
		o.latency, err = mon.Add(latencyObjective)
	}
	if err != nil {
		_ = mon.Shutdown(context.Background()) // nothing queued yet: returns at once
		return nil, err
	}
	return o, nil
}

// Close shuts the monitor down, bounded: queued notifications get 10 seconds.
func (o *objectives) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return o.mon.Shutdown(ctx)
}
