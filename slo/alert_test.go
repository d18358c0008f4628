package slo_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// A 100% outage of a 99.9% objective at 10 events a second spends 2% of a
// 30-day budget (the 14.4x-over-1h condition) after 0.02*720h*0.001 =
// 51.84s; with 10-second evaluations the page must fire at 60s, not 50s.
// The tier changes from page-1h to page-6h as the outage ends, inside one
// incident with one page.
func TestOutagePagesOnceAndTierChangesInsideTheIncident(t *testing.T) {
	log := filepath.Join(t.TempDir(), "incidents.jsonl")
	m, fc := newMonitor(t, slo.WithIncidentLog(log))
	tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999, Runbook: "fail over", Outcome: "orders go through"})
	warm(fc, tr, 30*24*time.Hour, 10)
	if first := steady(m, fc, tr, time.Hour, 10, 0, slo.Page); !first.IsZero() {
		t.Fatalf("healthy traffic paged at %v", first)
	}
	outage := fc.Now()
	first := steady(m, fc, tr, 3*time.Minute, 10, 1, slo.Page)
	if got := first.Sub(outage); got != 60*time.Second {
		t.Errorf("page fired %v into the outage, want 60s (workbook: 0.86 min)", got)
	}
	sts := m.Status()
	if !holds(sts, "orders", "page-1h") || !holds(sts, "orders", "page-6h") || holds(sts, "orders", "ticket-1d") {
		t.Errorf("tiers after 3 minutes: %+v", sts[0].Tiers)
	}
	if a := sts[0].Alerts[0]; a.Tier != "page-1h" || a.Incident == "" {
		t.Errorf("page alert: %+v, want tier page-1h with an incident", a)
	}
	// Recovery: page-1h's 5m window clears after about 5 minutes, but
	// page-6h still holds (30m: 10% -> 100x; 6h: 8.3x): the same page alert
	// goes on with tier page-6h, and nothing is notified.
	var moved time.Time
	for i := 0; i < 60 && moved.IsZero(); i++ {
		tr.RecordN(100, 0)
		fc.Advance(10 * time.Second)
		if st := m.Evaluate()[0]; st.Alerts[0].Tier == "page-6h" {
			moved = fc.Now()
		}
	}
	if moved.IsZero() {
		t.Fatal("the page alert did not move to page-6h")
	}
	if !firing(m.Status(), "orders", slo.Page) {
		t.Fatal("page alert resolved while page-6h holds")
	}
	// page-6h's 30m window clears 30 minutes after the outage.
	steady(m, fc, tr, 40*time.Minute, 10, 0, slo.Page)
	if st := m.Status()[0]; firing(m.Status(), "orders", slo.Page) {
		t.Fatalf("page alert still firing 40 minutes after recovery: %+v", st.Tiers)
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
	if len(incs) != 1 {
		t.Fatalf("got %d incidents, want 1: %+v", len(incs), incs)
	}
	inc := incs[0]
	if inc.Open() || inc.Pages != 1 || inc.Tickets != 0 || inc.Severity != slo.Page || inc.Tier != "page-6h" {
		t.Errorf("incident: %+v", inc)
	}
	if !inc.Started.Equal(outage.Add(time.Minute)) {
		t.Errorf("incident started %v, want %v", inc.Started, outage.Add(time.Minute))
	}
	if inc.Peak.BurnRateLong < inc.Start.BurnRateLong || inc.Runbook != "fail over" {
		t.Errorf("peak %v, start %v, runbook %q", inc.Peak.BurnRateLong, inc.Start.BurnRateLong, inc.Runbook)
	}
	if recs[0].Change != "opened" || recs[len(recs)-1].Change != "resolved" || recs[0].Version != 2 {
		t.Errorf("records: first %+v last %+v", recs[0], recs[len(recs)-1])
	}
}

func TestLowTrafficGuards(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "night", Target: 0.999, MinEvents: 20})
	// 15 events in an hour, all bad: burn 1000x, but below MinEvents.
	for i := 0; i < 15; i++ {
		tr.Record(false)
		fc.Advance(4 * time.Minute)
		for _, a := range m.Evaluate()[0].Alerts {
			if a.State == slo.Firing {
				t.Fatalf("%s alert fired on %d events", a.Severity, i+1)
			}
		}
	}
	// Enough traffic and the same ratio pages.
	tr.RecordN(20, 20)
	if !firing(m.Evaluate(), "night", slo.Page) {
		t.Error("no page with 20+ bad events")
	}
}

// The guard also asks for MinBadEvents in the short window: one failure
// among a handful of requests cannot page, however high its ratio.
func TestOneFailureDoesNotPage(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "api", Target: 0.999})
	for i := 0; i < 120; i++ { // one request a minute for two hours
		tr.Record(i != 100 && i != 110)
		fc.Advance(time.Minute)
		if sts := m.Evaluate(); firing(sts, "api", slo.Page) {
			t.Fatalf("paged at minute %d: %+v", i, sts[0].Tiers)
		}
	}
	st := m.Status()[0]
	if st.Tiers[0].Numbers.ShortBadEvents > 2 {
		t.Errorf("short window holds %d bad events", st.Tiers[0].Numbers.ShortBadEvents)
	}
}

// A burn exactly at a tier's threshold does not fire it: the comparison is
// ">" (the workbook's, Sloth's and Pyrra's), with the threshold the rules
// print.
func TestExactThresholdDoesNotFire(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "tie", Target: 0.99, MinEvents: 1, MinBadEvents: 1,
		Tiers: []slo.Tier{{Name: "t", Severity: slo.Ticket, Long: time.Minute, Short: time.Minute, BurnRate: 2}}})
	tr.RecordN(1000, 20) // exactly 2% = 2 x (1-0.99)
	fc.Advance(10 * time.Second)
	if sts := m.Evaluate(); firing(sts, "tie", slo.Ticket) {
		t.Fatalf("fired at exactly the threshold: %+v", sts[0].Tiers)
	}
	tr.RecordN(1000, 21)
	if !firing(m.Evaluate(), "tie", slo.Ticket) {
		t.Fatal("did not fire above the threshold")
	}
}

func TestDisabledTiersAndBudgetExhaustedIsAState(t *testing.T) {
	var got []slo.Alert
	m, fc := newMonitor(t, slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
		got = append(got, a)
		return nil
	})))
	tr := m.MustAdd(slo.Objective{Name: "batch", Target: 0.99, DisableTiers: []string{"page-1h", "page-6h"}})
	tr.RecordN(1000, 500)
	fc.Advance(10 * time.Second)
	st := m.Evaluate()[0]
	if s := alertState([]slo.Status{st}, "batch", slo.Page); s != slo.Disabled {
		t.Errorf("page: got %s, want disabled", s)
	}
	if a := st.Alerts[1]; a.State != slo.Firing || a.Tier != "ticket-1d" {
		t.Errorf("ticket: %+v, want firing on ticket-1d (the fastest that holds)", a)
	}
	if !st.BudgetExhausted || st.Budget.Remaining >= 0 {
		t.Errorf("budget: exhausted %v, %+v", st.BudgetExhausted, st.Budget)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Severity != slo.Ticket {
		t.Fatalf("notifications: %+v, want one ticket (budget exhausted notifies nobody)", got)
	}
	incs := m.Incidents()
	if len(incs) != 1 || !incs[0].BudgetExhausted {
		t.Errorf("incident: %+v, want budget_exhausted recorded", incs)
	}
}

// A service younger than its period reports the history it has.
func TestYoungServiceSaysHowMuchItObserved(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "new", Target: 0.999})
	tr.RecordN(100, 0)
	fc.Advance(4 * time.Minute)
	st := m.Status()[0]
	if st.Observed != 4*time.Minute || st.Period != 30*24*time.Hour {
		t.Errorf("observed %v of %v, want 4m of 720h", st.Observed, st.Period)
	}
	fc.Advance(40 * 24 * time.Hour)
	if st := m.Status()[0]; st.Observed != st.Period {
		t.Errorf("observed %v after 40 days, want the period", st.Observed)
	}
}

func TestRestartKeepsBudgetAndTheEpisode(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "state", "slo.json")
	log := filepath.Join(dir, "state", "incidents.jsonl")
	obj := slo.Objective{Name: "orders", Target: 0.999}
	m1, fc := newMonitor(t, slo.WithSnapshotFile(snap, 0), slo.WithIncidentLog(log))
	tr := m1.MustAdd(obj)
	tr.RecordN(5000, 2)
	fc.Advance(3 * time.Hour)
	tr.RecordN(5000, 1)
	fc.Advance(30 * time.Second)
	tr.RecordN(100, 100) // an outage in progress: pages
	if !firing(m1.Evaluate(), "orders", slo.Page) {
		t.Fatal("no page before the restart")
	}
	before := m1.Status()[0]
	openBefore := m1.Incidents()
	if err := m1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{snap, log} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v, want 0600", p, err, fi.Mode())
		}
	}
	if fi, err := os.Stat(filepath.Dir(snap)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v, want 0700", err)
	}
	var sent []slo.Alert
	m2, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog),
		slo.WithSnapshotFile(snap, 0), slo.WithIncidentLog(log), slo.WithResendInterval(time.Hour),
		slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error { sent = append(sent, a); return nil })))
	if err != nil {
		t.Fatal(err)
	}
	m2.MustAdd(obj)
	after := m2.Status()[0]
	for i, w := range before.Windows {
		if after.Windows[i] != w {
			t.Errorf("window %v: before %+v, after restart %+v", w.Window, w, after.Windows[i])
		}
	}
	if after.Budget != before.Budget || after.Observed != before.Observed {
		t.Errorf("budget: before %+v %v, after %+v %v", before.Budget, before.Observed, after.Budget, after.Observed)
	}
	// The incident open at the restart is taken up again, not reopened,
	// and the page is resent as a repeat, not as a new page.
	m2.Evaluate()
	incs := m2.Incidents()
	if len(incs) != 1 || incs[0].ID != openBefore[0].ID || !incs[0].Open() || incs[0].Pages != 1 {
		t.Fatalf("incidents after restart: %+v, before: %+v", incs, openBefore)
	}
	if err := m2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A 3-hour-old service: the ticket fired too before the restart.
	if len(sent) != 2 || !sent[0].Repeat || !sent[1].Repeat || sent[0].Incident != openBefore[0].ID {
		t.Errorf("after restart sent %+v, want repeats of the page and the ticket", sent)
	}
}

func TestCorruptSnapshotIsSetAside(t *testing.T) {
	snap := filepath.Join(t.TempDir(), "slo.json")
	if err := os.WriteFile(snap, []byte(`{"version":2,"series":[{"name":"a","fine":[[1,1,5]]}]}`), 0o600); err != nil {
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

// Check is a health check that fails while the page alert fires, and only
// then: a ticket does not fail it.
func TestCheckFailsWhilePaging(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999, DisableTiers: []string{"ticket-1d", "ticket-3d"}})
	tk := m.MustAdd(slo.Objective{Name: "batch", Target: 0.999, DisableTiers: []string{"page-1h", "page-6h"}})
	if err := tr.Check(context.Background()); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	tr.RecordN(100, 100)
	tk.RecordN(100, 100)
	fc.Advance(10 * time.Second)
	m.Evaluate()
	err := tr.Check(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "slo: orders: page alert firing (tier page-1h)") {
		t.Errorf("paging: %v", err)
	}
	if err := tk.Check(context.Background()); err != nil {
		t.Errorf("a ticket failed the check: %v", err)
	}
}
