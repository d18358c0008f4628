package benchmarks

import (
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
)

// BenchmarkClockNow is the cost of reading time through opskit's clock seam
// (an interface call) against calling time.Now directly.
func BenchmarkClockNow(b *testing.B) {
	b.Run("opskit", func(b *testing.B) {
		c := clock.Real()
		b.ReportAllocs()
		for b.Loop() {
			c.Now()
		}
	})
	b.Run("time", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			time.Now()
		}
	})
}
