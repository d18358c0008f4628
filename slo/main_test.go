package slo_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/component"
	"github.com/opskit/opskit/slo"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		component.Report("slo") // tests skipped for a missing promtool, Alertmanager or Chromium
		os.Exit(code)
	}))
}

// quietLog discards what the Monitor logs (drops and failures are expected
// in several tests and checked through DeliveryStats).
var quietLog = slog.New(slog.DiscardHandler)

// start is a fixed time aligned on an hour, so bucket edges are predictable.
var start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// newMonitor returns a Monitor on a fake clock that evaluates on demand only.
func newMonitor(t *testing.T, opts ...slo.Option) (*slo.Monitor, *clock.Fake) {
	t.Helper()
	return newMonitorOn(t, clock.NewFake(start), opts...)
}

// newMonitorOn is newMonitor on the given fake clock (for a restart).
func newMonitorOn(t *testing.T, fc *clock.Fake, opts ...slo.Option) (*slo.Monitor, *clock.Fake) {
	t.Helper()
	opts = append([]slo.Option{slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog),
		slo.WithMeterProvider(noop.NewMeterProvider())}, opts...)
	m, err := slo.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return m, fc
}

// steady records rate events per second, badFrac of them bad, in 10-second
// batches for d, evaluating after each batch; it returns the first time the
// alert of severity sev was firing (zero if never).
func steady(m *slo.Monitor, fc *clock.Fake, tr *slo.Tracker, d time.Duration, rate int64, badFrac float64, sev slo.Severity) time.Time {
	var first time.Time
	for elapsed := time.Duration(0); elapsed < d; elapsed += 10 * time.Second {
		total := rate * 10
		tr.RecordN(total, int64(float64(total)*badFrac))
		fc.Advance(10 * time.Second)
		if sts := m.Evaluate(); first.IsZero() && firing(sts, tr.Objective().Name, sev) {
			first = fc.Now()
		}
	}
	return first
}

// alertState returns the state of objective's alert of severity sev.
func alertState(sts []slo.Status, objective string, sev slo.Severity) slo.AlertState {
	for _, st := range sts {
		if st.Objective != objective {
			continue
		}
		for _, a := range st.Alerts {
			if a.Severity == sev {
				return a.State
			}
		}
	}
	return ""
}

// holds reports whether objective's tier holds as of the last evaluation.
func holds(sts []slo.Status, objective, tier string) bool {
	for _, st := range sts {
		if st.Objective != objective {
			continue
		}
		for _, t := range st.Tiers {
			if t.Name == tier {
				return t.Holds
			}
		}
	}
	return false
}

// firing reports whether objective's alert of severity sev fires.
func firing(sts []slo.Status, objective string, sev slo.Severity) bool {
	return alertState(sts, objective, sev) == slo.Firing
}

// warm records a healthy history of rate events per second for d: in
// hourly batches up to the last 73 hours, then every 10 seconds, so that
// every window is full and the tiers' windows (up to 3 days) see smooth
// traffic at their edges.
func warm(fc *clock.Fake, tr *slo.Tracker, d time.Duration, rate int64) {
	fine := min(d, 73*time.Hour)
	for elapsed := time.Duration(0); elapsed < d-fine; elapsed += time.Hour {
		tr.RecordN(rate*3600, 0)
		fc.Advance(time.Hour)
	}
	for elapsed := time.Duration(0); elapsed < fine; elapsed += 10 * time.Second {
		tr.RecordN(rate*10, 0)
		fc.Advance(10 * time.Second)
	}
}
