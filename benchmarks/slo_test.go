package benchmarks

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/slo"
)

func newSLOMonitor(b *testing.B) *slo.Monitor {
	b.Helper()
	m, err := slo.New(slo.WithEvaluationInterval(-1), slo.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m
}

// BenchmarkSLORecord is the cost of counting one event (one in 64 bad)
// against a bare atomic add, the floor: serial and from every core.
func BenchmarkSLORecord(b *testing.B) {
	b.Run("opskit/serial", func(b *testing.B) {
		tr := newSLOMonitor(b).MustAdd(slo.Objective{Name: "bench", Target: 0.999})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tr.Record(i&63 != 0)
			i++
		}
	})
	b.Run("atomic/serial", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		for b.Loop() {
			n.Add(1)
		}
	})
	b.Run("opskit/parallel", func(b *testing.B) {
		tr := newSLOMonitor(b).MustAdd(slo.Objective{Name: "bench", Target: 0.999})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				tr.Record(i&63 != 0)
				i++
			}
		})
	})
	b.Run("atomic/parallel", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
}

// BenchmarkSLOEvaluate evaluates one objective over every window (5m to
// 30d) with a day of history in the buckets.
func BenchmarkSLOEvaluate(b *testing.B) {
	b.Run("opskit", func(b *testing.B) {
		m := newSLOMonitor(b)
		tr := m.MustAdd(slo.Objective{Name: "bench", Target: 0.999})
		for i := 0; i < 1000; i++ {
			tr.RecordLatency(time.Millisecond)
		}
		b.ReportAllocs()
		for b.Loop() {
			m.Evaluate()
		}
	})
}
