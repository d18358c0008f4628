package slo_test

import (
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/opskit/opskit/internal/clock"
	"github.com/opskit/opskit/slo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quietLog discards what the Monitor logs (drops and failures are expected
// in several tests and checked through DeliveryStats).
var quietLog = slog.New(slog.DiscardHandler)

// start is a fixed time aligned on an hour, so bucket edges are predictable.
var start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// newMonitor returns a Monitor on a fake clock that evaluates on demand only.
func newMonitor(t *testing.T, opts ...slo.Option) (*slo.Monitor, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(start)
	opts = append([]slo.Option{slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog),
		slo.WithMeterProvider(noop.NewMeterProvider())}, opts...)
	m, err := slo.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m, fc
}

// steady records rate events per second, badFrac of them bad, in 10-second
// batches for d, evaluating after each batch; it returns the first time the
// alert named tier was firing (zero if never).
func steady(m *slo.Monitor, fc *clock.Fake, tr *slo.Tracker, d time.Duration, rate int64, badFrac float64, tier string) time.Time {
	var first time.Time
	for elapsed := time.Duration(0); elapsed < d; elapsed += 10 * time.Second {
		total := rate * 10
		tr.RecordN(total, int64(float64(total)*badFrac))
		fc.Advance(10 * time.Second)
		if sts := m.Evaluate(); first.IsZero() && firing(sts, tr.Objective().Name, tier) {
			first = fc.Now()
		}
	}
	return first
}

func alertState(sts []slo.Status, objective, tier string) slo.AlertState {
	for _, st := range sts {
		if st.Objective != objective {
			continue
		}
		for _, a := range st.Alerts {
			if a.Tier == tier {
				return a.State
			}
		}
	}
	return ""
}

func firing(sts []slo.Status, objective, tier string) bool {
	return alertState(sts, objective, tier) == slo.Firing
}

// warm records a healthy history of rate events per second for d, in
// hourly batches, so that every window up to the period is full.
func warm(fc *clock.Fake, tr *slo.Tracker, d time.Duration, rate int64) {
	for elapsed := time.Duration(0); elapsed < d; elapsed += time.Hour {
		tr.RecordN(rate*3600, 0)
		fc.Advance(time.Hour)
	}
}
