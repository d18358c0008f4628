package benchmarks

import (
	"context"
	"testing"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/benchmarks/shedding"
	"github.com/opskit/opskit/overload"
)

// BenchmarkOverload offers three times a simulated service's capacity
// (32 slots × 25ms, 1280/s; half the slots go away in the middle of the
// run), open loop, behind each limiter; b.N is the number of requests
// offered, so a run lasts b.N/3840 s (at least 20ms; with a second of
// warm-up once it lasts a second or more). ns/op means nothing here; the
// figures are goodput-% (good answers over what the service could serve),
// p99-ms of good answers, and shed-% of what was offered. Probes are sent
// beside the load and none may be refused. The full table, with the other
// loads, the closed-loop view and the rounds, is `go run ./cmd/overload`.
func BenchmarkOverload(b *testing.B) {
	for _, l := range shedding.Limiters() {
		b.Run(l.Name, func(b *testing.B) {
			svc, err := shedding.NewService(32, 25*time.Millisecond)
			if err != nil {
				b.Fatal(err)
			}
			d := max(20*time.Millisecond, time.Duration(float64(b.N)/(3*svc.Capacity())*float64(time.Second)))
			var warm time.Duration
			if d >= time.Second {
				warm = time.Second
			}
			res, err := shedding.Measure(context.Background(), svc, l, shedding.Run{Load: 3, Warmup: warm, Duration: d, Halve: true})
			if err != nil {
				b.Fatal(err)
			}
			if res.ProbesShed > 0 {
				b.Fatalf("%d of %d probes refused", res.ProbesShed, res.Probes)
			}
			offered := float64(res.Good + res.Shed + res.Failed)
			b.ReportMetric(100*res.Goodput(), "goodput-%")
			b.ReportMetric(float64(res.Percentile(99))/1e6, "p99-ms")
			b.ReportMetric(100*float64(res.Shed)/max(1, offered), "shed-%")
		})
	}
}

// BenchmarkAdmission is the admit path alone (acquire, then release at
// once, from every core): opskit's overload.Limiter, failsafe-go's
// adaptivelimiter, and the buffered-channel semaphore a static limit is.
func BenchmarkAdmission(b *testing.B) {
	b.Run("opskit", func(b *testing.B) {
		l, err := overload.New(overload.WithMeterProvider(noop.NewMeterProvider()), overload.WithLimits(1000, 1000, 1000))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if p, ok := l.Acquire(overload.Normal); ok {
					p.Release()
				}
			}
		})
	})
	b.Run("failsafe-go", func(b *testing.B) {
		l := adaptivelimiter.NewBuilder[any]().WithLimits(1000, 1000, 1000).Build()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if p, ok := l.TryAcquirePermit(); ok {
					p.Record()
				}
			}
		})
	})
	b.Run("channel", func(b *testing.B) {
		sem := make(chan struct{}, 1000)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				select {
				case sem <- struct{}{}:
					<-sem
				default:
				}
			}
		})
	})
}
