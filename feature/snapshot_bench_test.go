package feature_test

import (
	"context"
	"io"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/feature"
)

// BenchmarkSnapshot is the cost of one snapshot (capture and encode) of
// 10 features with 8 days of tenant filters (500 tenants a day each) and
// a use by a known tenant between snapshots — what the registry's
// goroutine does every 5 seconds.
func BenchmarkSnapshot(b *testing.B) {
	r, err := feature.New(feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithInstance("bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Shutdown(context.Background()) })
	now := time.Now()
	var fs []*feature.Feature
	tenants := make([]string, 500)
	for i := range tenants {
		tenants[i] = "tenant-" + itoa(i)
	}
	for i := range 10 {
		f := r.MustDefine("feature-"+itoa(i), "o", now.AddDate(0, -3, 0), "d")
		fs = append(fs, f)
		for d := range 8 {
			if err := r.Import(feature.DayUsage{Feature: f.Name(), Day: now.AddDate(0, 0, -d), Uses: 1000, Failures: 10,
				Tenants: tenants, FailingTenants: tenants[:10]}); err != nil {
				b.Fatal(err)
			}
		}
	}
	ctx := r.WithTenant(context.Background(), "tenant-1")
	b.ReportAllocs()
	for b.Loop() {
		fs[0].Use(ctx)
		if err := r.WriteSnapshot(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
