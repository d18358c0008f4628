package overload

import (
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newTestLimiter is a Limiter on a fake clock with metrics going nowhere.
func newTestLimiter(t testing.TB, opts ...Option) (*Limiter, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(epoch)
	l, err := New(append([]Option{WithClock(fc), WithMeterProvider(noop.NewMeterProvider())}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l, fc
}
