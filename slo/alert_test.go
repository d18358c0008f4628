package slo_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// A 100% outage of a 99.9% objective at 10 events a second spends 2% of a
// 30-day budget (the 14.4x-over-1h condition) after 0.02*720h*0.001 =
// 51.84s; with 10-second evaluations the page must fire at 60s, not 50s.
func TestOutagePagesWithinAMinuteAndResets(t *testing.T) {
	log := filepath.Join(t.TempDir(), "incidents.jsonl")
	m, fc := newMonitor(t, slo.WithIncidentLog(log))
	tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999, Runbook: "fail over", Outcome: "orders go through"})
	warm(fc, tr, 30*24*time.Hour, 10)
	if first := steady(m, fc, tr, time.Hour, 10, 0, "page-1h"); !first.IsZero() {
		t.Fatalf("healthy traffic paged at %v", first)
	}
	outage := fc.Now()
	first := steady(m, fc, tr, 3*time.Minute, 10, 1, "page-1h")
	if got := first.Sub(outage); got != 60*time.Second {
		t.Errorf("page-1h fired %v into the outage, want 60s (workbook: 0.86 min)", got)
	}
	sts := m.Status()
	// 3 minutes of outage: 6h burn = 1800/181800/0.001 = 9.9 >= 6, but the
	// faster tier fires, so page-6h is suppressed.
	if s := alertState(sts, "orders", "page-6h"); s != slo.Suppressed {
		t.Errorf("page-6h: got %s, want suppressed", s)
	}
	// 1d: 1800 bad of ~830000 is 2.2x < 3: not even suppressed.
	if s := alertState(sts, "orders", "ticket-1d"); s != slo.OK {
		t.Errorf("ticket-1d: got %s, want ok", s)
	}
	if n := len(m.OpenIncidents()); n != 1 {
		t.Errorf("got %d open incidents, want 1 (suppressed tiers open none)", n)
	}
	// Recovery: the 5m short window clears after about 5 minutes (the bad
	// events must drop below 1.44% of 3000), then page-1h resolves.
	recovered := fc.Now()
	var resolved time.Time
	for i := 0; i < 60 && resolved.IsZero(); i++ {
		tr.RecordN(100, 0)
		fc.Advance(10 * time.Second)
		if !firing(m.Evaluate(), "orders", "page-1h") {
			resolved = fc.Now()
		}
	}
	if d := resolved.Sub(recovered); d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("page-1h resolved %v after recovery, want about 5m", d)
	}
	// page-6h still holds (30m: 1800/18000 = 10% -> 100x; 6h: 8.3x) and
	// fires now that the faster tier is quiet.
	if s := alertState(m.Status(), "orders", "page-6h"); s != slo.Firing {
		t.Errorf("page-6h after page-1h resolved: got %s, want firing", s)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := slo.ReadIncidentLog(f)
	if err != nil {
		t.Fatal(err)
	}
	incs := slo.Incidents(recs)
	if len(incs) != 2 || incs[0].Tier != "page-1h" || incs[0].Open() || incs[1].Tier != "page-6h" || !incs[1].Open() {
		t.Fatalf("incidents: got %+v", incs)
	}
	page := incs[0]
	if !page.Started.Equal(outage.Add(time.Minute)) || !page.Resolved.Equal(resolved) {
		t.Errorf("page incident: started %v resolved %v, want %v and %v", page.Started, page.Resolved, outage.Add(time.Minute), resolved)
	}
	if page.Peak.BurnRateLong < page.Start.BurnRateLong || page.Peak.BurnRateLong < 40 {
		t.Errorf("peak %v should exceed start %v and reach ~50x (3 min of 60)", page.Peak.BurnRateLong, page.Start.BurnRateLong)
	}
	if recs[0].Change != "opened" || recs[len(recs)-1].Change != "opened" || page.Runbook != "fail over" {
		t.Errorf("records: %+v", recs)
	}
}

func TestLowTrafficDoesNotPage(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "night", Target: 0.999, MinEvents: 20})
	// 15 events in an hour, all bad: burn 1000x, but below MinEvents.
	for i := 0; i < 15; i++ {
		tr.Record(false)
		fc.Advance(4 * time.Minute)
		for _, a := range m.Evaluate()[0].Alerts {
			if a.State == slo.Firing {
				t.Fatalf("alert %s fired on %d events", a.Tier, i+1)
			}
		}
	}
	// Enough traffic and the same ratio pages.
	tr.RecordN(20, 20)
	if !firing(m.Evaluate(), "night", "page-1h") {
		t.Error("page-1h did not fire with 20+ bad events")
	}
}

func TestDisabledTierAndBudgetExhausted(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "batch", Target: 0.99, DisableTiers: []string{"page-1h", "page-6h"}})
	tr.RecordN(1000, 500)
	fc.Advance(10 * time.Second)
	sts := m.Evaluate()
	if s := alertState(sts, "batch", "page-1h"); s != slo.Disabled {
		t.Errorf("page-1h: got %s, want disabled", s)
	}
	// 1d/2h at 3x: 50% bad is 50x; the fastest enabled tier fires.
	if s := alertState(sts, "batch", "ticket-1d"); s != slo.Firing {
		t.Errorf("ticket-1d: got %s, want firing", s)
	}
	if s := alertState(sts, "batch", "ticket-3d"); s != slo.Suppressed {
		t.Errorf("ticket-3d: got %s, want suppressed", s)
	}
	if s := alertState(sts, "batch", slo.BudgetExhausted); s != slo.Firing {
		t.Errorf("budget-exhausted: got %s, want firing", s)
	}
}

func TestRestartKeepsBudget(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "slo.json")
	log := filepath.Join(dir, "incidents.jsonl")
	obj := slo.Objective{Name: "orders", Target: 0.999}
	m1, fc := newMonitor(t, slo.WithSnapshotFile(snap, 0), slo.WithIncidentLog(log))
	tr := m1.MustAdd(obj)
	tr.RecordN(5000, 2)
	fc.Advance(3 * time.Hour)
	tr.RecordN(5000, 1)
	fc.Advance(30 * time.Second)
	tr.RecordN(100, 100) // an outage in progress: pages
	if !firing(m1.Evaluate(), "orders", "page-1h") {
		t.Fatal("page-1h did not fire before the restart")
	}
	before := m1.Status()[0]
	openBefore := m1.OpenIncidents()
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithSnapshotFile(snap, 0), slo.WithIncidentLog(log))
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	m2.MustAdd(obj)
	after := m2.Status()[0]
	for i, w := range before.Windows {
		if after.Windows[i] != w {
			t.Errorf("window %v: before %+v, after restart %+v", w.Window, w, after.Windows[i])
		}
	}
	if after.Budget != before.Budget {
		t.Errorf("budget: before %+v, after %+v", before.Budget, after.Budget)
	}
	// The incident open at the restart is taken up again, not reopened.
	ids := func(incs []slo.Incident) map[string]bool {
		out := map[string]bool{}
		for _, i := range incs {
			out[i.ID] = true
		}
		return out
	}
	open := ids(m2.OpenIncidents())
	if len(open) != len(openBefore) || !open[openBefore[0].ID] {
		t.Fatalf("open incidents after restart: %v, before: %+v", open, openBefore)
	}
	m2.Evaluate()
	if again := ids(m2.OpenIncidents()); len(again) != len(open) || !again[openBefore[0].ID] {
		t.Errorf("incidents after first evaluation: %v, want %v continued", again, open)
	}
}

func TestCorruptSnapshotIsSetAside(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "slo.json")
	if err := os.WriteFile(snap, []byte(`{"version":1,"series":[{"name":"a","fine":[[1,1,5]]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	m, _ := newMonitor(t, slo.WithSnapshotFile(snap, 0))
	m.MustAdd(slo.Objective{Name: "a", Target: 0.99})
	if _, err := os.Stat(snap + ".corrupt"); err != nil {
		t.Errorf("damaged snapshot not moved aside: %v", err)
	}
}

func TestRecordAllocatesNothing(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "a", Target: 0.99})
	lat := m.MustAdd(slo.Objective{Name: "b", Target: 0.99, Latency: []slo.Threshold{{Max: time.Millisecond}, {Max: time.Second}}})
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		tr.Record(n%3 == 0)
		lat.RecordLatency(time.Duration(n) * time.Microsecond)
		n++
		if n%100 == 0 {
			fc.Advance(10 * time.Second) // include bucket rotations
		}
	})
	if allocs != 0 {
		t.Errorf("Record and RecordLatency: %v allocs per call, want 0", allocs)
	}
}

// On the real clock Record reads the Monitor's cached time; the event must
// land in the current window and Close must stop the refreshing goroutine.
func TestRealClockRecords(t *testing.T) {
	m, err := slo.New(slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog))
	if err != nil {
		t.Fatal(err)
	}
	tr := m.MustAdd(slo.Objective{Name: "real", Target: 0.99})
	tr.Record(false)
	tr.RecordLatency(time.Millisecond)
	if w, _ := m.Status()[0].Window(5 * time.Minute); w.Total != 2 || w.Bad != 1 {
		t.Errorf("got %d/%d, want 2 events, 1 bad", w.Total, w.Bad)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
