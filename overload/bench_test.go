package overload

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opskit/opskit/clock"
	"go.opentelemetry.io/otel/metric/noop"
)

// The admit path against the plain semaphore it replaces (a buffered
// channel), in the same run, on the real clock: one Acquire and one
// Release per operation, from every core at once.
func BenchmarkAdmit(b *testing.B) {
	b.Run("opskit", func(b *testing.B) {
		l, err := New(WithClock(clock.Real()), WithMeterProvider(noop.NewMeterProvider()), WithLimits(1000, 1000, 1000))
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		l.limit.Store(1000) // past the first probe
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p, ok := l.Acquire(Normal)
				if !ok {
					b.Error("refused")
					return
				}
				p.Release()
			}
		})
	})
	b.Run("channel-semaphore", func(b *testing.B) {
		sem := make(chan struct{}, 1000)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				select {
				case sem <- struct{}{}:
				default:
					b.Error("refused")
					return
				}
				<-sem
			}
		})
	})
}

// The HTTP middleware's admit path, with a handler that does nothing.
func BenchmarkHandler(b *testing.B) {
	l, err := New(WithMeterProvider(noop.NewMeterProvider()), WithLimits(1000, 1000, 1000))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	h, err := l.Handler(okHandler)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := nopWriter{h: http.Header{}}
		r := httptest.NewRequest(http.MethodGet, "/api/orders", nil)
		for pb.Next() {
			h.ServeHTTP(w, r)
		}
	})
}
