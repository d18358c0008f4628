package feature_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/feature"
)

// BenchmarkHotPath is the package's own view of the hot path against a
// bare atomic add, in one process (the benchmarks module compares it with
// the peers): a use and a failure with a tenant on the context, and
// Enabled on a feature that is on.
func BenchmarkHotPath(b *testing.B) {
	ctx := context.Background()
	newReg := func(b *testing.B) (*feature.Registry, *feature.Feature) {
		r, err := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithInstance("bench"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Shutdown(context.Background()) })
		return r, r.MustDefine("checkout", "payments", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "the checkout flow")
	}
	both := func(b *testing.B, op func()) {
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
	b.Run("atomic", func(b *testing.B) {
		var n atomic.Int64
		both(b, func() { n.Add(1) })
	})
	b.Run("use", func(b *testing.B) {
		r, f := newReg(b)
		tctx := r.WithTenant(ctx, "acme")
		both(b, func() { f.Use(tctx) })
	})
	b.Run("fail", func(b *testing.B) {
		r, f := newReg(b)
		tctx := r.WithTenant(ctx, "acme")
		both(b, func() { f.Fail(tctx) })
	})
}
