package slo_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// Objective.Impact's text reaches the firing notification (annotation
// "impact", the IF clause and the description) and the incident, cut to
// 300 bytes on one line; a hook that panics is logged and the alert still
// fires without it; an objective's own "impact" annotation wins.
func TestImpactHook(t *testing.T) {
	var logs bytes.Buffer
	got := make(chan slo.Alert, 16)
	m, fc := newMonitor(t, slo.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
			got <- a
			return nil
		})))
	calls := 0
	long := "orders.bulk is failing for 37 tenants (12 % of its users)\nsince 10:02 UTC; top reason: " + strings.Repeat("é", 400)
	bulk := m.MustAdd(slo.Objective{Name: "bulk", Target: 0.99, Period: time.Hour,
		Impact: func() string { calls++; return long }})
	boom := m.MustAdd(slo.Objective{Name: "boom", Target: 0.99, Period: time.Hour,
		Impact: func() string { panic("hook broke") }})
	own := m.MustAdd(slo.Objective{Name: "own", Target: 0.99, Period: time.Hour,
		Annotations: map[string]string{"impact": "set by hand"}, Impact: func() string { return "from the hook" }})
	for _, tr := range []*slo.Tracker{bulk, boom, own} {
		tr.RecordN(100, 50)
	}
	fc.Advance(5 * time.Second)
	sts := m.Evaluate()
	if calls != 1 {
		t.Errorf("Impact called %d times in one evaluation, want 1", calls)
	}
	for _, name := range []string{"bulk", "boom", "own"} {
		if !firing(sts, name, slo.Page) {
			t.Fatalf("%s: page not firing", name)
		}
	}
	alerts := map[string]slo.Alert{}
	for range 6 { // page and ticket of each
		if a := <-got; a.Severity == slo.Page {
			alerts[a.Objective] = a
		}
	}
	imp := alerts["bulk"].Annotations["impact"]
	if len(imp) > 300 || !strings.HasPrefix(imp, "orders.bulk is failing for 37 tenants (12 % of its users) since 10:02 UTC; top reason: é") ||
		!strings.HasSuffix(imp, "…") || strings.Contains(imp, "\n") {
		t.Errorf("impact annotation (%d bytes) = %q", len(imp), imp)
	}
	if !strings.HasSuffix(alerts["bulk"].If, "; impact: "+imp) || !strings.Contains(alerts["bulk"].Annotations["description"], "; impact: orders.bulk") {
		t.Errorf("IF %q / description %q lack the impact", alerts["bulk"].If, alerts["bulk"].Annotations["description"])
	}
	if _, ok := alerts["boom"].Annotations["impact"]; ok || strings.Contains(alerts["boom"].If, "impact") {
		t.Errorf("panicking hook left text: %v / %q", alerts["boom"].Annotations, alerts["boom"].If)
	}
	if !strings.Contains(logs.String(), "hook broke") || !strings.Contains(logs.String(), "objective=boom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	if a := alerts["own"]; a.Annotations["impact"] != "set by hand" || !strings.Contains(a.If, "impact: from the hook") {
		t.Errorf("own: annotation %q, IF %q", a.Annotations["impact"], a.If)
	}
	for _, inc := range m.Incidents() {
		want := map[string]string{"bulk": imp, "boom": "", "own": "from the hook"}[inc.Objective]
		if inc.Impact != want {
			t.Errorf("incident %s: Impact %q, want %q", inc.ID, inc.Impact, want)
		}
	}
}
