package slo_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/slo"
)

// Every objective's good and bad series exist from the start, at zero, so
// a Prometheus that starts scraping late still sees the first events as
// an increase; the alert gauges show both severities.
func TestMetricsExportZerosFromTheStart(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	m, _ := newMonitor(t, slo.WithMeterProvider(mp))
	m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	events := map[bool]int64{}
	severities := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			switch md.Name {
			case slo.EventsMetric:
				for _, dp := range md.Data.(metricdata.Sum[int64]).DataPoints {
					good, _ := dp.Attributes.Value("good")
					events[good.AsBool()] = dp.Value + 1 // +1: present
				}
			case slo.AlertsMetric:
				for _, dp := range md.Data.(metricdata.Gauge[int64]).DataPoints {
					sev, _ := dp.Attributes.Value("severity")
					if _, ok := dp.Attributes.Value("tier"); ok {
						t.Errorf("alert gauge has a tier attribute: %v", dp.Attributes)
					}
					severities[sev.AsString()] = dp.Value + 1
				}
			}
		}
	}
	if events[true] != 1 || events[false] != 1 {
		t.Errorf("events series before any event: %v, want good and bad at 0", events)
	}
	if severities["page"] != 1 || severities["ticket"] != 1 || len(severities) != 2 {
		t.Errorf("alert series: %v, want page and ticket at 0", severities)
	}
}
