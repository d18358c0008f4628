package feature_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/feature"
)

func TestMetricsReadAtCollection(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	r, fc := newRegistry(t, feature.WithMeterProvider(mp))
	used := define(t, r, "used", start)
	define(t, r, "unused", start)
	useTenants(r, used, "t", 3)
	advance(r, fc, day)
	useTenants(r, used, "u", 2)
	r.UseName(context.Background(), "stray")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	uses := map[string]int64{}
	tenants := map[string]int64{}
	var drift int64 = -1
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case "opskit.feature.uses":
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					name, _ := p.Attributes.Value("feature")
					uses[name.AsString()] = p.Value
				}
			case "opskit.feature.tenants":
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					name, _ := p.Attributes.Value("feature")
					w, _ := p.Attributes.Value("window")
					tenants[name.AsString()+"/"+w.AsString()] = p.Value
				}
			case "opskit.feature.drift":
				drift = m.Data.(metricdata.Sum[int64]).DataPoints[0].Value
			}
		}
	}
	if len(uses) != 2 || uses["used"] != 5 || uses["unused"] != 0 {
		t.Errorf("uses = %v, want used 5 and unused 0 (zeros are exported)", uses)
	}
	want := map[string]int64{"used/1d": 2, "used/7d": 5, "used/30d": 5, "unused/1d": 0, "unused/7d": 0, "unused/30d": 0}
	for k, v := range want {
		if got, ok := tenants[k]; !ok || got != v {
			t.Errorf("tenants[%s] = %d (present %v), want %d", k, got, ok, v)
		}
	}
	if drift != 1 {
		t.Errorf("drift = %d, want 1", drift)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
