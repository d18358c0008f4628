package report_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/report"
	"github.com/opskit/opskit/slo"
)

// readReport decodes a written JSON report.
func readReport(t *testing.T, path string) report.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// readFile returns a file's text.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestScriptedWeek plays a week of history into the real components on a
// fake clock, with a Writer running from the week's start; at the week's
// end the Writer writes the week, and every figure of the report equals
// the truth the script recorded or the record it came from.
func TestScriptedWeek(t *testing.T) {
	w, out := scriptedWeek(t, func(w *world) {
		// Checkout on the Sunday before the week (the previous period) and
		// at the first minute after it: neither is the week's.
		if err := w.reg.Import(feature.DayUsage{Feature: "checkout", Day: monday.Add(-time.Minute), Uses: 5, Tenants: []string{"tenant-2"}}); err != nil {
			t.Fatal(err)
		}
		w.atWeekEnd = func() { w.used.Use(w.reg.WithTenant(context.Background(), "tenant-3")) }
	})
	dir := w.dir
	end := monday.AddDate(0, 0, 7)
	// What the features section came from, read at the same moment: the
	// registry's report of the 7 UTC days before the week's end.
	fr, err := w.reg.Report(feature.Policy{Days: 7, End: end})
	if err != nil {
		t.Fatal(err)
	}

	r := readReport(t, filepath.Join(out, "2026-W49.json"))
	if r.Week != "2026-W49" || !r.From.Equal(monday) || !r.To.Equal(end) || !r.Complete || r.Location != "UTC" || r.Release != rel {
		t.Fatalf("header: week %s from %v to %v complete %v location %s release %+v", r.Week, r.From, r.To, r.Complete, r.Location, r.Release)
	}

	// Service levels: the week's events and the period's are what the
	// script recorded (the monitor started with the week).
	if len(r.Compliance.Objectives) != 1 || r.Compliance.Status != report.OK {
		t.Fatalf("compliance: %+v", r.Compliance)
	}
	o := r.Compliance.Objectives[0]
	if o.Name != "orders" || o.Target != 0.99 || o.PeriodSeconds != (30*24*time.Hour).Seconds() {
		t.Errorf("objective: %+v", o)
	}
	target := 0.99 // a variable: the constant expression 1-0.99 is exact, the monitor's float arithmetic is not
	for name, win := range map[string]report.Window{"week": o.Week, "period": o.PeriodToDate} {
		if win.Events != w.events || win.Bad != w.bad {
			t.Errorf("%s: %d events %d bad, want %d and %d", name, win.Events, win.Bad, w.events, w.bad)
		}
		want := float64(w.events-w.bad) / float64(w.events)
		if win.Compliance == nil || *win.Compliance != want || win.Met != (want >= 0.99) {
			t.Errorf("%s: compliance %v met %v, want %v", name, win.Compliance, win.Met, want)
		}
		if spent := float64(w.bad) / (float64(w.events) * (1 - target)); win.BudgetSpent != spent {
			t.Errorf("%s: budget spent %v, want %v", name, win.BudgetSpent, spent)
		}
	}
	if !o.Week.From.Equal(monday) || !o.Week.To.Equal(end) || !o.PeriodToDate.To.Equal(end) ||
		!o.PeriodToDate.From.Equal(end.Add(-30*24*time.Hour)) {
		t.Errorf("windows: week %v-%v period %v-%v", o.Week.From, o.Week.To, o.PeriodToDate.From, o.PeriodToDate.To)
	}

	// Incidents: the one the outage opened, as the incident log has it.
	f, err := os.Open(filepath.Join(dir, "incidents.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := slo.ReadIncidentLog(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	incs := slo.Incidents(recs)
	if len(incs) != 1 || incs[0].Open() || incs[0].Pages != 1 || incs[0].Release.ID != rel.ID {
		t.Fatalf("the script should have opened and resolved one paging incident: %+v", incs)
	}
	inc := incs[0]
	tue := monday.AddDate(0, 0, 1)
	if inc.Started.Before(tue.Add(14*time.Hour)) || !inc.Started.Before(tue.Add(15*time.Hour)) || !inc.Resolved.Before(tue.AddDate(0, 0, 1)) {
		t.Errorf("incident outside the outage: %v to %v", inc.Started, inc.Resolved)
	}
	is := r.Incidents
	if is.Opened != 1 || is.Resolved != 1 || is.OpenAtEnd != 0 || len(is.List) != 1 {
		t.Fatalf("incidents: %+v", is)
	}
	ttr := inc.Resolved.Sub(inc.Started)
	if is.MeanTimeToResolveSeconds != ttr.Seconds() || is.MaxTimeToResolveSeconds != ttr.Seconds() {
		t.Errorf("time to resolve: mean %v max %v, want %v", is.MeanTimeToResolveSeconds, is.MaxTimeToResolveSeconds, ttr.Seconds())
	}
	l := is.List[0]
	if l.ID != inc.ID || l.Objective != "orders" || l.Severity != string(slo.Page) || !l.Started.Equal(inc.Started) ||
		!l.Resolved.Equal(inc.Resolved) || l.DurationSeconds != ttr.Seconds() || l.Pages != inc.Pages ||
		l.Tickets != inc.Tickets || l.Release != rel.ID || l.AckedBy != "ann" || l.TimeToAckSeconds != w.ackAt.Sub(inc.Started).Seconds() {
		t.Errorf("incident line %+v\nwant from %+v (acked at %v)", l, inc, w.ackAt)
	}
	if r.Noise.Pages != inc.Pages || r.Noise.Tickets != inc.Tickets || len(r.Noise.ByObjective) != 1 ||
		r.Noise.ByObjective[0] != (report.NoiseLine{Objective: "orders", Incidents: 1, Pages: inc.Pages, Tickets: inc.Tickets}) {
		t.Errorf("noise: %+v", r.Noise)
	}

	// Maintenance: three actions (one done, one denied, one failed) and
	// one read, in the order and with the fields the audit log has.
	mt := r.Maintenance
	if mt.Actions != 3 || mt.OK != 1 || mt.Denied != 1 || mt.Failed != 1 || mt.Reads != 1 || mt.Omitted != 0 {
		t.Errorf("maintenance counts: %+v", mt)
	}
	var acts []string
	for _, a := range mt.List {
		acts = append(acts, a.Actor+" "+a.Action+" "+a.Target+" "+a.Result+" "+a.Release)
	}
	want := []string{"ann queue.requeue 42 ok " + rel.ID, "bob feature.switch checkout denied " + rel.ID,
		"automation queue.purge all disk full " + rel.ID}
	if !slices.Equal(acts, want) {
		t.Errorf("actions:\n got %q\nwant %q", acts, want)
	}
	if len(mt.ByAction) != 3 {
		t.Errorf("by action: %+v", mt.ByAction)
	}

	// Releases: the running one, named by the incident and the records;
	// both releases' counts and the candidate's verdict as the monitor has
	// them.
	if r.Releases.Running != rel || len(r.Releases.Releases) != 1 || r.Releases.Releases[0].ID != rel.ID ||
		r.Releases.Releases[0].Incidents != 1 || r.Releases.Releases[0].Actions != 4 {
		t.Errorf("releases: %+v", r.Releases)
	}
	counts, _, err := w.mon.Releases("orders")
	if err != nil {
		t.Fatal(err)
	}
	verdict, err := w.mon.Verdict("orders", candidate, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Releases.Verdicts) != 2 || len(counts) != 2 {
		t.Fatalf("verdicts: %+v\nmonitor: %+v", r.Releases.Verdicts, counts)
	}
	for i, v := range r.Releases.Verdicts {
		c := counts[i]
		if v.Objective != "orders" || v.Release != c.Release || v.Own != c.Own || v.Good != c.Good || v.Bad != c.Bad ||
			!v.Since.Equal(c.First) || !v.LastEvent.Equal(c.Last) || v.ErrorRatio != c.ErrorRatio || !v.WentLive {
			t.Errorf("verdict line %+v\nmonitor %+v", v, c)
		}
	}
	own, cand := r.Releases.Verdicts[0], r.Releases.Verdicts[1]
	if !own.Own || own.Release != rel.ID || own.Decision != "" || own.Good+own.Bad != w.events-w.candEvents || own.Bad != w.bad-w.candBad || cand.Release != candidate || cand.Good+cand.Bad != w.candEvents ||
		cand.Bad != w.candBad || cand.Decision != string(verdict.Decision) || cand.Reason != verdict.Reason || cand.Decision == "" {
		t.Errorf("own %+v\ncandidate %+v\nverdict %+v", own, cand, verdict)
	}

	// Queue: the week's counts are the script's; the backlog is the
	// messages it left.
	qs := r.Queue
	if !qs.Counted || !qs.CountedFrom.Equal(monday) || !qs.CountedTo.Equal(end.Add(report.Settle)) || qs.Accepted != w.enqueued ||
		qs.Delivered != w.acked || qs.DeadLettered != w.dead || qs.Retried != 0 {
		t.Errorf("queue: %+v, want %d accepted %d delivered %d dead", qs, w.enqueued, w.acked, w.dead)
	}
	st, err := w.q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	oldest := end.Add(report.Settle).Sub(tue.Add(18 * time.Hour)) // the first batch's leftovers, when the week was written
	if qs.Depth != st.Depth || qs.Depth != int(w.enqueued-w.acked-w.dead) || qs.DeadHeld != int(w.dead) ||
		qs.OldestAgeSeconds != st.OldestAge.Seconds() || qs.OldestAgeSeconds != oldest.Seconds() {
		t.Errorf("queue backlog: %+v, stats now %+v", qs, st)
	}

	// Features: the registry's report at the same moment.
	// Exactly the week: the 12 uses of Tuesday, not the Sunday before (the
	// previous period's 5) nor the Monday after.
	fs := r.Features
	if fs.Headline != fr.Headline || !slices.Equal(fs.NeverUsed, fr.NeverUsed) || !slices.Equal(fs.NeverUsed, []string{"fax"}) ||
		fs.Declared != 2 || fs.Used != fr.Summary.Used || len(fs.Changes) != 1 || fs.Changes[0].Name != "checkout" ||
		fs.Changes[0].Uses != 12 || fs.Changes[0].PrevUses != 5 {
		t.Errorf("features: %+v\nregistry: %q never %v", fs, fr.Headline, fr.NeverUsed)
	}
	if !fs.From.Equal(monday) || !fs.To.Equal(end) || fs.Note != "" {
		t.Errorf("features cover %s to %s (note %q), want exactly the week %s to %s", fs.From, fs.To, fs.Note, monday, end)
	}
	span := "Usage on the UTC days Mon 30 Nov 2026 to Sun 6 Dec 2026, compared with the 7 days before; 0 of 2 declared features used." // checkout is rarely used

	// The other formats show the same figures.
	md := readFile(t, filepath.Join(out, "2026-W49.md"))
	page := readFile(t, filepath.Join(out, "2026-W49.html"))
	for _, s := range []string{
		"1 incident opened, 1 resolved",
		itoa(w.events) + " (" + itoa(w.bad) + ")",
		itoa(w.enqueued) + " accepted, " + itoa(w.acked) + " delivered, 0 retried, " + itoa(w.dead) + " dead-lettered",
		"3 operator actions: 1 done, 1 denied, 1 failed; 1 read of reports",
		"failed: disk full",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("Markdown lacks %q", s)
		}
		if !strings.Contains(page, s) {
			t.Errorf("HTML lacks %q", s)
		}
	}
	if h := "100 % of features rarely or never used"; !strings.HasPrefix(fr.Headline, h) || !strings.Contains(page, h) || !strings.Contains(md, h) {
		t.Errorf("the features headline %q is missing", fr.Headline)
	}
	if !strings.Contains(page, span) || !strings.Contains(md, span) {
		t.Errorf("the features period %q is missing", span)
	}

	// In Berlin the week starts an hour before the UTC Monday and the
	// registry counts UTC days: the section covers the 7 whole UTC days
	// before the week's end there (Sunday 29 Nov to Saturday 5 Dec) and
	// says so.
	berlin := time.FixedZone("CET", 3600)
	rb, err := report.Build(context.Background(), w.sources(), report.WeekOf(monday), berlin, w.fc.Now())
	if err != nil {
		t.Fatal(err)
	}
	fb := rb.Features
	if !fb.From.Equal(monday.AddDate(0, 0, -1)) || !fb.To.Equal(end.AddDate(0, 0, -1)) || len(fb.Changes) != 1 || fb.Changes[0].Uses != 5+12 ||
		!strings.Contains(fb.Note, "not the week in CET (Sun 29 Nov 23:00 to Sun 6 Dec 23:00 UTC)") {
		t.Errorf("features in CET: %s to %s, changes %+v, note %q", fb.From, fb.To, fb.Changes, fb.Note)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRestartAcrossWeekBoundary stops the service on Friday and starts it
// again on the next Wednesday: the new Writer writes the week that ended
// while it was down, once; a third start writes nothing again.
func TestRestartAcrossWeekBoundary(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "reports")
	fc := clock.NewFake(monday)
	w := newWorld(t, dir, fc)
	wr, err := report.New(out, w.sources(), report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	w.script()
	if err := wr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.audit("ann", "queue.purge", "7", "ok") // after the first Writer stopped, still in the week
	fc.Set(monday.AddDate(0, 0, 9))          // Wednesday of 2026-W50
	if _, err := os.Stat(filepath.Join(out, "2026-W49.json")); !os.IsNotExist(err) {
		t.Fatalf("the week was written while no Writer ran: %v", err)
	}

	wr2, err := report.New(out, w.sources(), report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	r := readReport(t, filepath.Join(out, "2026-W49.json"))
	if r.Week != "2026-W49" || !r.Complete || r.Maintenance.Actions != 4 || r.Incidents.Opened != 1 {
		t.Errorf("caught-up report: week %s complete %v actions %d incidents %d", r.Week, r.Complete, r.Maintenance.Actions, r.Incidents.Opened)
	}
	if r.Queue.Counted || r.Queue.Note == "" {
		t.Errorf("the queue's week was not sampled by this run, yet the report counts it: %+v", r.Queue)
	}
	if o := r.Compliance.Objectives[0]; o.Week.Events != w.events || o.Week.Bad != w.bad {
		t.Errorf("caught-up compliance: %+v, want %d/%d", o.Week, w.events, w.bad)
	}
	info, err := os.Stat(filepath.Join(out, "2026-W49.json"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("report file mode %v, want 0600", info.Mode().Perm())
	}
	if err := wr2.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Written once: a third Writer leaves the file as it is.
	before := readFile(t, filepath.Join(out, "2026-W49.json"))
	fc.Advance(time.Hour)
	wr3, err := report.New(out, w.sources(), report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := wr3.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := readFile(t, filepath.Join(out, "2026-W49.json")); after != before {
		t.Error("a restart wrote the week again")
	}
	files, _ := filepath.Glob(filepath.Join(out, "*.json"))
	if len(files) != 2 { // the week and the state
		t.Errorf("files: %v", files)
	}
}

// TestCatchUpBound: after twelve weeks down, a Writer writes the eight
// newest missed weeks, oldest first, and skips the older ones.
func TestCatchUpBound(t *testing.T) {
	dir := t.TempDir()
	fc := clock.NewFake(monday.Add(36 * time.Hour))
	wr, err := report.New(dir, report.Sources{}, report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if err := wr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	fc.Advance(12 * 7 * 24 * time.Hour)
	wr, err = report.New(dir, report.Sources{}, report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Shutdown(context.Background())
	files, _ := filepath.Glob(filepath.Join(dir, "20*.json"))
	var weeks []string
	for _, f := range files {
		weeks = append(weeks, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	// 2026 has 53 weeks: W49 to W53, then 2027-W01 to W07 ended.
	want := []string{"2026-W53", "2027-W01", "2027-W02", "2027-W03", "2027-W04", "2027-W05", "2027-W06", "2027-W07"}
	if !slices.Equal(weeks, want) {
		t.Errorf("weeks written %v, want %v", weeks, want)
	}
	r := readReport(t, filepath.Join(dir, "2026-W53.json"))
	for name, s := range map[string]report.Status{"compliance": r.Compliance.Status, "incidents": r.Incidents.Status,
		"maintenance": r.Maintenance.Status, "queue": r.Queue.Status, "features": r.Features.Status} {
		if s != report.NotConfigured {
			t.Errorf("%s: status %q with no source", name, s)
		}
	}
	page := readFile(t, filepath.Join(dir, "2026-W53.html"))
	if !strings.Contains(page, "Not configured: no audit trail was given to the report.") {
		t.Error("the page does not say the audit trail is not configured")
	}
}
