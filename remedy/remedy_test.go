package remedy_test

import (
	"context"
	"errors"

	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/remedy"
	"github.com/opskit/opskit/slo"
)

// A Repeat notification, sent every minute while the page fires, does not
// run the actions again (limits that would allow it notwithstanding); its
// DO text still says what was done.
func TestRepeatDoesNotRerun(t *testing.T) {
	var runs atomic.Int64
	h := newHarness(t, []remedy.Rule{{Objective: "checkout", PerHour: 1000, PerEpisode: 1000, Actions: []remedy.Action{{
		Name: "page the payments team", Do: func(context.Context, slo.Alert) error { runs.Add(1); return nil }}}}},
		slo.WithResendInterval(time.Minute))
	page := h.untilPage(func() { h.tr.RecordN(100, 100) })
	repeats := 0
	for i := 0; i < 180; i++ { // 30 minutes of a persisting cause
		h.step(100)
	}
	// The pager has every notification once the Monitor has shut down.
	if err := h.mon.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(h.pages)
	for a := range h.pages {
		if a.Repeat && a.Severity == slo.Page {
			repeats++
			if !strings.Contains(a.Do, "done automatically: page the payments team") {
				t.Errorf("repeat's Do = %q, want it to say what was done", a.Do)
			}
		}
	}
	if got := runs.Load(); got != 1 {
		t.Errorf("action ran %d times over %d repeats, want once", got, repeats)
	}
	if repeats < 20 {
		t.Errorf("only %d repeat notifications in 30 minutes; the test needs them", repeats)
	}
	if want := "Left to a human: restore the payments client"; !strings.HasSuffix(page.Do, want) {
		t.Errorf("page Do = %q, want it to end with %q", page.Do, want)
	}
	if !strings.Contains(page.Annotations["description"], "do: done automatically: page the payments team") {
		t.Errorf("description = %q, want the automation in its do part", page.Annotations["description"])
	}
}

// An action that errors or panics is recorded as failed, in the incident
// and the audit trail; the alert still reaches the pager, and the next
// action of the rule still runs.
func TestFailingActionIsRecorded(t *testing.T) {
	var third atomic.Int64
	h := newHarness(t, []remedy.Rule{{Objective: "checkout", Actions: []remedy.Action{
		{Name: "restart payments", Do: func(context.Context, slo.Alert) error { return errors.New("connection refused") }},
		{Name: "flush the cache", Do: func(context.Context, slo.Alert) error { panic("nil map") }},
		{Name: "page the payments team", Do: func(context.Context, slo.Alert) error { third.Add(1); return nil }},
	}}})
	page := h.untilPage(func() { h.tr.RecordN(100, 100) })
	for _, want := range []string{"tried automatically and failed: restart payments (connection refused)",
		"tried automatically and failed: flush the cache (remedy: panic: nil map)", "done automatically: page the payments team"} {
		if !strings.Contains(page.Do, want) {
			t.Errorf("page Do = %q, want %q", page.Do, want)
		}
	}
	if third.Load() != 1 {
		t.Errorf("the action after the failing ones ran %d times, want 1", third.Load())
	}
	notes := h.notes(page.Incident)
	for _, want := range []string{"restart payments: failed: connection refused", "flush the cache: failed: remedy: panic: nil map"} {
		if !contains(notes, want) {
			t.Errorf("incident notes %q lack %q", notes, want)
		}
	}
	recs := h.records(remedy.ActionRun)
	if len(recs) != 3 || recs[0].Result != "connection refused" || !strings.Contains(recs[1].Result, "panic") || recs[2].Result != "ok" {
		t.Fatalf("audit records = %+v, want the two failures and one ok", recs)
	}
	for _, r := range recs {
		if r.Actor != "automation" || !strings.Contains(r.Detail, page.Incident) {
			t.Errorf("audit record %+v: want actor automation and the incident id", r)
		}
	}
}

// direct is a Notifier attached to a Monitor without incidents, for
// calling Notify with alerts made up by the test.
func direct(t *testing.T, r remedy.Rule) (*remedy.Notifier, *clock.Fake, *audittest.Recorder, *[]slo.Alert) {
	t.Helper()
	fc := clock.NewFake(start)
	var sent []slo.Alert
	trail := &audittest.Recorder{}
	rem, err := remedy.New(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
		sent = append(sent, a)
		return nil
	}), remedy.WithAudit(trail), remedy.WithClock(fc), remedy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := rem.Add(r); err != nil {
		t.Fatal(err)
	}
	mon, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	rem.Attach(mon)
	t.Cleanup(func() {
		_ = mon.Shutdown(context.Background())
		_ = rem.Shutdown(context.Background())
	})
	return rem, fc, trail, &sent
}

func firing(incident string, sev slo.Severity) slo.Alert {
	return slo.Alert{Objective: "checkout", Severity: sev, State: slo.Firing, Incident: incident, Do: "restore payments",
		Annotations: map[string]string{"description": "If it burns, do: restore payments, so that customers pay."}}
}

// The rate limit counts runs in any rolling hour, the cap runs in one
// incident; both count failed runs too.
func TestRateLimitAndCap(t *testing.T) {
	var runs, undos atomic.Int64
	rem, fc, trail, sent := direct(t, remedy.Rule{Objective: "checkout", Severity: slo.Ticket, PerHour: 2, PerEpisode: 1,
		CheckEvery: time.Minute, Actions: []remedy.Action{{Name: "switch off checkout",
			Do:        func(context.Context, slo.Alert) error { runs.Add(1); return nil },
			Undo:      func(context.Context) error { undos.Add(1); return nil },
			Recovered: func(context.Context) error { return nil }}}})
	ctx := context.Background()
	notify := func(a slo.Alert) {
		t.Helper()
		if err := rem.Notify(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	notify(firing("inc-1", slo.Ticket)) // runs (a ticket reaches a Ticket rule)
	fc.Advance(time.Minute)             // recovered: undone
	notify(firing("inc-1", slo.Page))   // same incident: capped
	fc.Advance(time.Minute)
	notify(firing("inc-2", slo.Page)) // second run this hour
	fc.Advance(time.Minute)
	notify(firing("inc-3", slo.Page)) // third this hour: rate-limited
	if runs.Load() != 2 || undos.Load() != 2 {
		t.Fatalf("runs %d, undos %d; want 2 and 2", runs.Load(), undos.Load())
	}
	for i, want := range []string{"done automatically: switch off checkout", "cap: 1 runs in this incident, at most 1",
		"done automatically: switch off checkout", "rate limit: 2 runs in the last hour, at most 2"} {
		if got := (*sent)[i].Do; !strings.Contains(got, want) {
			t.Errorf("notification %d Do = %q, want %q", i, got, want)
		}
	}
	fc.Advance(time.Hour - 2*time.Minute) // the first run leaves the hour
	notify(firing("inc-4", slo.Page))
	if runs.Load() != 3 {
		t.Errorf("after an hour: %d runs, want 3", runs.Load())
	}
	if n := len(trail.Records()); n != 3+2 {
		t.Errorf("%d audit records, want 3 runs and 2 undos: %+v", n, trail.Records())
	}
}

// Dry runs count against the limits as runs would, so a dry run shows
// what the live rule would do.
func TestDryRunCountsAgainstLimits(t *testing.T) {
	var runs atomic.Int64
	rem, _, trail, sent := direct(t, remedy.Rule{Objective: "checkout", DryRun: true, PerHour: 1,
		Actions: []remedy.Action{{Name: "switch off checkout", Do: func(context.Context, slo.Alert) error { runs.Add(1); return nil }}}})
	for _, a := range []slo.Alert{firing("inc-1", slo.Page), firing("inc-2", slo.Page), firing("inc-3", slo.Ticket)} {
		if err := rem.Notify(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	if runs.Load() != 0 {
		t.Fatalf("dry run ran the action %d times", runs.Load())
	}
	if got := (*sent)[0].Do; !strings.Contains(got, "dry run, nothing done: would switch off checkout") {
		t.Errorf("first Do = %q", got)
	}
	if got := (*sent)[1].Do; !strings.Contains(got, "rate limit") {
		t.Errorf("second Do = %q, want the rate limit", got)
	}
	if got := (*sent)[2].Do; got != "restore payments" {
		t.Errorf("a ticket for a page rule: Do = %q, want it untouched", got)
	}
	if recs := trail.Records(); len(recs) != 1 || recs[0].Result != "dry run" {
		t.Errorf("audit records = %+v, want one dry run", recs)
	}
}

// Until a Monitor is attached nothing runs: a run must be noted in its
// incident. After Shutdown nothing runs either. The alert passes on.
func TestNoRunWithoutMonitorOrAfterShutdown(t *testing.T) {
	var runs atomic.Int64
	var sent []slo.Alert
	rem, err := remedy.New(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
		sent = append(sent, a)
		return errors.New("pager down")
	}), remedy.WithAudit(&audittest.Recorder{}), remedy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	if err := rem.Add(remedy.Rule{Objective: "checkout", Actions: []remedy.Action{{Name: "switch off checkout",
		Do: func(context.Context, slo.Alert) error { runs.Add(1); return nil }}}}); err != nil {
		t.Fatal(err)
	}
	if err := rem.Notify(context.Background(), firing("inc-1", slo.Page)); err == nil || err.Error() != "pager down" {
		t.Errorf("Notify = %v, want the next notifier's error", err)
	}
	if err := rem.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = rem.Notify(context.Background(), firing("inc-2", slo.Page))
	if runs.Load() != 0 || len(sent) != 2 {
		t.Fatalf("runs %d, sent %d; want 0 and 2", runs.Load(), len(sent))
	}
	if !strings.Contains(sent[0].Do, "no Monitor attached") || !strings.Contains(sent[1].Do, "shutting down") {
		t.Errorf("Do texts %q, %q: want why nothing ran", sent[0].Do, sent[1].Do)
	}
	if err := rem.Add(remedy.Rule{Objective: "other", Actions: []remedy.Action{{Name: "x", Do: func(context.Context, slo.Alert) error { return nil }}}}); !errors.Is(err, remedy.ErrClosed) {
		t.Errorf("Add after Shutdown = %v, want ErrClosed", err)
	}
}

// Shutdown returns when its context ends even while a recovery check
// hangs, cancelling the check's context.
func TestShutdownIsBounded(t *testing.T) {
	entered := make(chan struct{})
	rem, fc, _, _ := direct(t, remedy.Rule{Objective: "checkout", CheckEvery: time.Minute, Actions: []remedy.Action{{
		Name: "switch off checkout", Do: func(context.Context, slo.Alert) error { return nil }, Undo: func(context.Context) error { return nil },
		Recovered: func(ctx context.Context) error { close(entered); <-ctx.Done(); return ctx.Err() }}}})
	if err := rem.Notify(context.Background(), firing("inc-1", slo.Page)); err != nil {
		t.Fatal(err)
	}
	advanced := make(chan struct{})
	go func() { fc.Advance(time.Minute); close(advanced) }()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rem.Shutdown(ctx); err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want it to say the check was cancelled", err)
	}
	<-advanced
}

func TestRuleValidation(t *testing.T) {
	do := func(context.Context, slo.Alert) error { return nil }
	for _, tc := range []struct {
		rule remedy.Rule
		want string
	}{
		{remedy.Rule{Actions: []remedy.Action{{Name: "a", Do: do}}}, `Objective is ""`},
		{remedy.Rule{Objective: "o", Severity: "critical", Actions: []remedy.Action{{Name: "a", Do: do}}}, `Severity is "critical"`},
		{remedy.Rule{Objective: "o"}, "Actions is empty"},
		{remedy.Rule{Objective: "o", Actions: []remedy.Action{{Do: do}}}, `Actions[0].Name is ""`},
		{remedy.Rule{Objective: "o", Actions: []remedy.Action{{Name: "a", Do: do}, {Name: "a", Do: do}}}, `Actions[1].Name is "a"`},
		{remedy.Rule{Objective: "o", Actions: []remedy.Action{{Name: "a"}}}, "Actions[0].Do is nil"},
		{remedy.Rule{Objective: "o", Actions: []remedy.Action{{Name: "a", Do: do, Undo: func(context.Context) error { return nil }}}}, "Actions[0].Recovered is nil"},
		{remedy.Rule{Objective: "o", PerHour: -1, Actions: []remedy.Action{{Name: "a", Do: do}}}, "PerHour is -1"},
		{remedy.Rule{Objective: "o", PerEpisode: -2, Actions: []remedy.Action{{Name: "a", Do: do}}}, "PerEpisode is -2"},
		{remedy.Rule{Objective: "o", CheckEvery: -time.Second, Actions: []remedy.Action{{Name: "a", Do: do}}}, "CheckEvery is -1s"},
	} {
		rem, err := remedy.New(nil, remedy.WithAudit(&audittest.Recorder{}))
		if err != nil {
			t.Fatal(err)
		}
		err = rem.Add(tc.rule)
		if err == nil || !strings.HasPrefix(err.Error(), "remedy: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%+v) = %v, want an error naming %s", tc.rule, err, tc.want)
		}
	}
	rem, _ := remedy.New(nil, remedy.WithAudit(&audittest.Recorder{}))
	ok := remedy.Rule{Objective: "o", Actions: []remedy.Action{{Name: "a", Do: do}}}
	if err := rem.Add(ok); err != nil {
		t.Fatal(err)
	}
	if err := rem.Add(ok); err == nil || !strings.Contains(err.Error(), `action "a" is already`) {
		t.Errorf("the same action twice for one objective: %v", err)
	}
	if _, err := remedy.New(nil); err == nil || !strings.Contains(err.Error(), "WithAudit") {
		t.Errorf("New without an audit sink = %v, want an error naming WithAudit", err)
	}
}

// An Undo that fails is recorded and tried again at the next check; the
// action stays in effect meanwhile.
func TestFailedUndoIsRetriedAtTheNextCheck(t *testing.T) {
	var undos atomic.Int64
	rem, fc, trail, sent := direct(t, remedy.Rule{Objective: "checkout", CheckEvery: time.Minute, Actions: []remedy.Action{{
		Name: "switch off checkout", Do: func(context.Context, slo.Alert) error { return nil },
		Undo: func(context.Context) error {
			if undos.Add(1) == 1 {
				return errors.New("switch service: 503")
			}
			return nil
		},
		Recovered: func(context.Context) error { return nil }}}})
	if err := rem.Notify(context.Background(), firing("inc-1", slo.Page)); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Minute)
	if err := rem.Notify(context.Background(), firing("inc-2", slo.Page)); err != nil {
		t.Fatal(err)
	}
	if got := (*sent)[1].Do; !strings.Contains(got, "done automatically: switch off checkout") {
		t.Errorf("after the failed undo, Do = %q; want it still in effect", got)
	}
	fc.Advance(time.Minute)
	var results []string
	for _, r := range trail.Records() {
		if r.Action == remedy.ActionUndo {
			results = append(results, r.Result)
		}
	}
	if undos.Load() != 2 || len(results) != 2 || results[0] != "switch service: 503" || results[1] != "ok" {
		t.Errorf("undos %d, records %q; want a failure, then ok a check later", undos.Load(), results)
	}
}
