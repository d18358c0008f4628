package release_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/release"
)

func TestRegisterMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	reg, err := release.RegisterMetrics(mp, release.Info{Service: "orders", Version: "v1.4.2", ID: "0123456789ab"})
	if err != nil {
		t.Fatal(err)
	}
	collect := func() []metricdata.DataPoint[int64] {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if m.Name == "opskit.build.info" {
					return m.Data.(metricdata.Gauge[int64]).DataPoints
				}
			}
		}
		return nil
	}
	pts := collect()
	want := attribute.NewSet(attribute.String("service.name", "orders"), attribute.String("service.version", "v1.4.2"),
		attribute.String("release.id", "0123456789ab"))
	if len(pts) != 1 || pts[0].Value != 1 || !pts[0].Attributes.Equals(&want) {
		t.Fatalf("opskit.build.info = %+v, want one point of 1 with %v", pts, want.Encoded(attribute.DefaultEncoder()))
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if pts := collect(); len(pts) != 0 {
		t.Errorf("after Unregister: %+v, want no points", pts)
	}
}
