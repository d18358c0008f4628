package remedy_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/remedy"
	"github.com/opskit/opskit/slo"
)

var start = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// harness is a service with one objective, "checkout", whose alerts go
// through a remedy.Notifier to a pager, all on a fake clock.
type harness struct {
	t     *testing.T
	fc    *clock.Fake
	mon   *slo.Monitor
	tr    *slo.Tracker
	rem   *remedy.Notifier
	trail *audittest.Recorder
	pages chan slo.Alert // what the pager was sent, after remedy
	logs  *syncBuffer
	prev  map[slo.Severity]slo.AlertState
}

// newHarness builds the harness; slo options come after the defaults.
func newHarness(t *testing.T, rules []remedy.Rule, opts ...slo.Option) *harness {
	t.Helper()
	h := &harness{t: t, fc: clock.NewFake(start), trail: &audittest.Recorder{}, pages: make(chan slo.Alert, 4096),
		logs: &syncBuffer{}, prev: map[slo.Severity]slo.AlertState{}}
	pager := slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
		h.pages <- a
		return nil
	})
	var err error
	h.rem, err = remedy.New(pager, remedy.WithAudit(h.trail), remedy.WithClock(h.fc),
		remedy.WithLogger(slog.New(slog.NewTextHandler(h.logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if err := h.rem.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	opts = append([]slo.Option{slo.WithClock(h.fc), slo.WithEvaluationInterval(-1),
		slo.WithLogger(slog.New(slog.DiscardHandler)), slo.WithMeterProvider(noop.NewMeterProvider()),
		slo.WithNotifyRate(time.Nanosecond, 1000), slo.WithResendInterval(1000 * time.Hour),
		slo.WithNotifier(h.rem)}, opts...)
	h.mon, err = slo.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	h.rem.Attach(h.mon)
	t.Cleanup(func() {
		if err := h.mon.Shutdown(context.Background()); err != nil {
			t.Errorf("Monitor.Shutdown: %v", err)
		}
		if err := h.rem.Shutdown(context.Background()); err != nil {
			t.Errorf("Notifier.Shutdown: %v", err)
		}
	})
	h.tr = h.mon.MustAdd(slo.Objective{Name: "checkout", Target: 0.99, Runbook: "restore the payments client",
		Outcome: "customers can pay"})
	return h
}

// step records 10 seconds of traffic at 10 requests a second, of which
// bad are bad, advances the clock and evaluates. It returns the alerts
// that started firing at this evaluation.
func (h *harness) step(bad int64) []slo.Severity {
	return h.stepWith(func() { h.tr.RecordN(100, bad) })
}

// stepWith is step with traffic made by traffic.
func (h *harness) stepWith(traffic func()) []slo.Severity {
	traffic()
	h.fc.Advance(10 * time.Second)
	var started []slo.Severity
	for _, st := range h.mon.Evaluate() {
		for _, a := range st.Alerts {
			if a.State == slo.Firing && h.prev[a.Severity] != slo.Firing {
				started = append(started, a.Severity)
			}
			h.prev[a.Severity] = a.State
		}
	}
	return started
}

// untilPage steps with traffic until the page starts firing, and
// returns the page as the pager received it.
func (h *harness) untilPage(traffic func()) slo.Alert {
	h.t.Helper()
	for i := 0; i < 360; i++ {
		for _, sev := range h.stepWith(traffic) {
			if sev == slo.Page {
				return h.next(slo.Page, slo.Firing)
			}
		}
	}
	h.t.Fatal("no page in an hour of traffic")
	return slo.Alert{}
}

// next returns the next notification of severity sev in state, skipping
// others; it waits for the Monitor's notifier goroutine.
func (h *harness) next(sev slo.Severity, state slo.AlertState) slo.Alert {
	h.t.Helper()
	for {
		select {
		case a := <-h.pages:
			if a.Severity == sev && a.State == state && !a.Repeat {
				return a
			}
		case <-time.After(10 * time.Second): // a guard against a hang, not a wait for time to pass
			h.t.Fatalf("no %s %s notification reached the pager", sev, state)
		}
	}
}

// notes returns the notes automation wrote in incident id.
func (h *harness) notes(id string) []string {
	var out []string
	for _, inc := range h.mon.Incidents() {
		if inc.ID != id {
			continue
		}
		for _, n := range inc.Notes {
			if n.By == remedy.Actor {
				out = append(out, n.Text)
			}
		}
	}
	return out
}

// records returns the audit records of action.
func (h *harness) records(action audit.Action) []audit.Record {
	var out []audit.Record
	for _, r := range h.trail.Records() {
		if r.Action == action {
			out = append(out, r)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// contains reports whether one of ss contains sub.
func contains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
