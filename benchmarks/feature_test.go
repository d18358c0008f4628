package benchmarks

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/opskit/opskit/feature"
)

// newFeatureRegistry returns a registry with one declared feature, closed
// when the benchmark ends.
func newFeatureRegistry(b *testing.B) (*feature.Registry, *feature.Feature) {
	b.Helper()
	r, err := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithInstance("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Shutdown(context.Background()) })
	f, err := r.Define("checkout", "payments", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "the checkout flow")
	if err != nil {
		b.Fatal(err)
	}
	return r, f
}

// runSerialParallel runs op as the serial and parallel sub-benchmarks.
func runSerialParallel(b *testing.B, op func()) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			op()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				op()
			}
		})
	})
}

// BenchmarkFeatureUse is the cost of counting one use of a feature: opskit's
// Use against a bare atomic add (the floor), an OTel SDK counter with the
// feature and tenant passed as attributes on every call, and a Prometheus
// CounterVec looked up by its two labels on every call.
func BenchmarkFeatureUse(b *testing.B) {
	ctx := context.Background()
	b.Run("opskit", func(b *testing.B) {
		_, f := newFeatureRegistry(b)
		runSerialParallel(b, func() { f.Use(ctx) })
	})
	b.Run("atomic", func(b *testing.B) {
		var n atomic.Int64
		runSerialParallel(b, func() { n.Add(1) })
	})
	b.Run("otel", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { mp.Shutdown(context.Background()) })
		c, err := mp.Meter("bench").Int64Counter("feature.uses")
		if err != nil {
			b.Fatal(err)
		}
		runSerialParallel(b, func() {
			c.Add(ctx, 1, metric.WithAttributes(attribute.String("feature", "checkout"), attribute.String("tenant", "acme")))
		})
	})
	b.Run("prometheus", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "feature_uses_total", Help: "Feature uses."}, []string{"feature", "tenant"})
		reg.MustRegister(c)
		runSerialParallel(b, func() { c.WithLabelValues("checkout", "acme").Inc() })
	})
}

// BenchmarkFeatureUseTenant is Use with a tenant in the context: the add
// plus the OR into the day's tenant bitmap.
func BenchmarkFeatureUseTenant(b *testing.B) {
	b.Run("opskit", func(b *testing.B) {
		r, f := newFeatureRegistry(b)
		ctx := r.WithTenant(context.Background(), "acme")
		runSerialParallel(b, func() { f.Use(ctx) })
	})
}
