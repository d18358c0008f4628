package remedy_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/remedy"
	"github.com/opskit/opskit/slo"
)

// shop is a service whose checkout feature feeds the "checkout" objective
// (feature.Track), and calls a payments dependency that can break.
type shop struct {
	h      *harness
	f      *feature.Feature
	broken atomic.Bool // the payments dependency fails
	// What the objective saw, reset by the test.
	good, bad atomic.Int64
}

func newShop(t *testing.T, h *harness) *shop {
	t.Helper()
	reg, err := feature.New(feature.WithClock(h.fc), feature.WithAudit(h.trail),
		feature.WithLogger(slog.New(slog.DiscardHandler)), feature.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Shutdown(context.Background()); err != nil {
			t.Errorf("Registry.Shutdown: %v", err)
		}
	})
	s := &shop{h: h, f: reg.MustDefine("checkout", "team-shop", start, "Pay for the cart")}
	s.f.Track(func(good bool) {
		if good {
			s.good.Add(1)
		} else {
			s.bad.Add(1)
		}
		h.tr.Record(good)
	})
	return s
}

// traffic is 100 checkouts: those Enabled lets through succeed unless
// payments is broken; those it refuses count as failed uses by itself.
func (s *shop) traffic() {
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if !s.f.Enabled(ctx) {
			continue
		}
		if s.broken.Load() {
			s.f.FailWith(ctx, "payments: 502")
		} else {
			s.f.Use(ctx)
		}
	}
}

// probe is a probe of payments that counts its calls.
func (s *shop) probe() (*atomic.Int64, func(context.Context) error) {
	var n atomic.Int64
	return &n, func(context.Context) error {
		n.Add(1)
		if s.broken.Load() {
			return errors.New("payments: 502")
		}
		return nil
	}
}

// switches returns the feature switches in the audit trail (written by
// the feature package) as "off by automation", "on by automation", ...
func (s *shop) switches() []string {
	var out []string
	for _, r := range s.h.records(feature.SwitchAction) {
		out = append(out, r.Detail+" by "+r.Actor)
	}
	return out
}

// Dry run: the page runs nothing, and logs, notes and audits "would
// switch off checkout".
func TestDryRunSwitchesNothing(t *testing.T) {
	h := newHarness(t, nil)
	s := newShop(t, h)
	if err := h.rem.Add(remedy.Rule{Objective: "checkout", DryRun: true,
		Actions: []remedy.Action{remedy.SwitchOff(s.f, remedy.Recovery{Trial: 0.05})}}); err != nil {
		t.Fatal(err)
	}
	s.broken.Store(true)
	page := h.untilPage(s.traffic)
	for i := 0; i < 360; i++ { // an hour more of the cause
		h.stepWith(s.traffic)
	}
	if st := s.f.Switched(); !st.On {
		t.Fatalf("dry run switched the feature: %s", st)
	}
	if sw := s.switches(); len(sw) != 0 {
		t.Fatalf("dry run left feature switches in the audit trail: %q", sw)
	}
	const would = "would switch off checkout"
	if !strings.Contains(page.Do, "dry run, nothing done: "+would) {
		t.Errorf("page Do = %q, want it to say what would have been done", page.Do)
	}
	recs := h.records(remedy.ActionRun)
	if len(recs) != 1 || recs[0].Result != "dry run" || !strings.Contains(recs[0].Detail, would) || recs[0].Actor != "automation" {
		t.Errorf("audit records = %+v, want one dry run by automation saying %q", recs, would)
	}
	if notes := h.notes(page.Incident); len(notes) != 1 || !strings.Contains(notes[0], would) {
		t.Errorf("incident notes = %q, want one saying %q", notes, would)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "remedy: dry run: "+would) {
		t.Errorf("log lacks the dry run:\n%s", logs)
	}
}

// Live: the page switches checkout off once; the incident and the audit
// trail record it; refused calls still count as bad for the objective, so
// it keeps firing; hours of a persisting cause do not make it flap; it
// comes back on only after its trial share succeeds, within two checks
// of the recovery.
func TestLiveSwitchOffUntilRecovered(t *testing.T) {
	h := newHarness(t, nil)
	s := newShop(t, h)
	const every = 10 * time.Minute
	if err := h.rem.Add(remedy.Rule{Objective: "checkout", CheckEvery: every,
		Actions: []remedy.Action{remedy.SwitchOff(s.f, remedy.Recovery{Trial: 0.05})}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 180; i++ { // half an hour of healthy checkouts
		h.stepWith(s.traffic)
	}
	s.broken.Store(true)
	page := h.untilPage(s.traffic)

	st := s.f.Switched()
	if st.On || st.Actor != remedy.Actor || st.Trial != 0.05 || !strings.Contains(st.Why, page.Incident) {
		t.Fatalf("after the page: %s; want switched off by automation with a 5%% trial, naming the incident", st)
	}
	if !strings.Contains(page.Do, "done automatically: switch off checkout") || !strings.Contains(page.Do, "Left to a human: restore the payments client") {
		t.Errorf("page Do = %q", page.Do)
	}
	if notes := h.notes(page.Incident); len(notes) != 1 || !strings.Contains(notes[0], "switch off checkout: done") {
		t.Errorf("incident notes = %q, want the switch", notes)
	}
	if recs := h.records(remedy.ActionRun); len(recs) != 1 || recs[0].Result != "ok" || recs[0].Target != "switch off checkout" {
		t.Errorf("remedy audit records = %+v, want one ok run", recs)
	}

	// Refused calls count as bad: the switch does not hide the failure.
	s.good.Store(0)
	s.bad.Store(0)
	h.stepWith(s.traffic)
	if s.good.Load() != 0 || s.bad.Load() != 100 {
		t.Errorf("while switched off the objective saw %d good, %d bad of 100 calls; want all bad (95 refused, 5 failing trials)",
			s.good.Load(), s.bad.Load())
	}

	// Six hours of a persisting cause: no flapping, the page keeps firing,
	// the trial is judged at most once per check.
	logsBefore := strings.Count(h.logs.String(), "remedy: not recovered yet")
	for i := 0; i < 6*360; i++ {
		h.stepWith(s.traffic)
	}
	if sw := s.switches(); len(sw) != 1 {
		t.Fatalf("a persisting cause switched %d times: %q; want once", len(sw), sw)
	}
	if h.prev[slo.Page] != slo.Firing {
		t.Errorf("page %s after 6h of a persisting cause; want firing: refusals still count as bad", h.prev[slo.Page])
	}
	if checks := strings.Count(h.logs.String(), "remedy: not recovered yet") - logsBefore; checks < 30 || checks > 37 {
		t.Errorf("%d recovery checks in 6h, want 36 or so (one every %s)", checks, every)
	}

	// The cause ends: the first check whose whole interval of trial calls
	// succeeded switches it on, one or two checks later.
	s.broken.Store(false)
	fixed := h.fc.Now()
	for i := 0; !s.f.Switched().On; i++ {
		if i > 130 {
			t.Fatalf("still off %s after the cause ended: %s", h.fc.Now().Sub(fixed), s.f.Switched())
		}
		h.stepWith(s.traffic)
	}
	if back := h.fc.Now().Sub(fixed); back > 2*every+10*time.Second {
		t.Errorf("back on %s after the cause ended, want within two checks (%s each)", back, every)
	}
	if recs := h.records(remedy.ActionUndo); len(recs) != 1 || recs[0].Result != "ok" || recs[0].Actor != "automation" {
		t.Errorf("undo audit records = %+v, want one ok by automation", recs)
	}
	if notes := h.notes(page.Incident); len(notes) != 2 || !strings.Contains(notes[1], "undo switch off checkout: done") {
		t.Errorf("incident notes = %q, want the switch and its undo", notes)
	}

	// Three healthy hours: the page resolves and nothing switches again.
	for i := 0; i < 3*360; i++ {
		h.stepWith(s.traffic)
	}
	if sw := s.switches(); len(sw) != 2 {
		t.Errorf("switches = %q, want off then on", sw)
	}
	if h.prev[slo.Page] == slo.Firing {
		t.Error("page still firing after 3 healthy hours")
	}
	resolved := h.next(slo.Page, slo.Resolved)
	if !strings.Contains(resolved.Do, "undone after recovery: switch off checkout") {
		t.Errorf("resolved Do = %q, want what automation did and undid", resolved.Do)
	}
}

// With a probe as the signal, undo waits for the probe, asked at most
// once per check, however long the cause persists.
func TestProbeIsAskedAtMostOncePerCheck(t *testing.T) {
	h := newHarness(t, nil)
	s := newShop(t, h)
	probes, probe := s.probe()
	if err := h.rem.Add(remedy.Rule{Objective: "checkout", CheckEvery: 15 * time.Minute,
		Actions: []remedy.Action{remedy.SwitchOff(s.f, remedy.Recovery{Probe: probe})}}); err != nil {
		t.Fatal(err)
	}
	s.broken.Store(true)
	page := h.untilPage(s.traffic)
	if !strings.Contains(page.Do, "undone automatically once its probe passes, checked every 15m0s") {
		t.Errorf("page Do = %q", page.Do)
	}
	for i := 0; i < 10*360; i++ { // ten hours
		h.stepWith(s.traffic)
	}
	if n := probes.Load(); n != 40 {
		t.Errorf("probe asked %d times in 10h, want 40 (every 15m)", n)
	}
	s.broken.Store(false)
	h.fc.Advance(15 * time.Minute)
	if st := s.f.Switched(); !st.On || probes.Load() != 41 {
		t.Errorf("after the probe passed: %s, %d probes", st, probes.Load())
	}
}

// Automation leaves a person's switch alone: it does not switch off what
// a person switched off first (nothing to undo later), and it does not
// undo once a person has switched since.
func TestPersonsSwitchWins(t *testing.T) {
	h := newHarness(t, nil)
	s := newShop(t, h)
	if err := h.rem.Add(remedy.Rule{Objective: "checkout", CheckEvery: time.Minute,
		Actions: []remedy.Action{remedy.SwitchOff(s.f, remedy.Recovery{Probe: func(context.Context) error { return nil }})}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.f.Switch(ctx, feature.Switch{On: false, Actor: "alice", Why: "payments migration"}); err != nil {
		t.Fatal(err)
	}
	page := h.untilPage(func() { h.tr.RecordN(100, 100) })
	if !strings.Contains(page.Do, "not done automatically: switch off checkout") || !strings.Contains(page.Do, "alice") {
		t.Errorf("page Do = %q, want it to say alice switched it off first", page.Do)
	}
	h.fc.Advance(time.Hour)
	if st := s.f.Switched(); st.On || st.Actor != "alice" {
		t.Errorf("automation touched alice's switch: %s", st)
	}
	if recs := h.records(remedy.ActionRun); len(recs) != 1 || !strings.HasPrefix(recs[0].Result, "skipped: ") {
		t.Errorf("run records = %+v, want one skipped", recs)
	}
	if len(h.records(remedy.ActionUndo)) != 0 {
		t.Error("undo ran for a switch automation did not make")
	}
}

func TestPersonTakesOverAfterAutomation(t *testing.T) {
	h := newHarness(t, nil)
	s := newShop(t, h)
	if err := h.rem.Add(remedy.Rule{Objective: "checkout", CheckEvery: time.Minute,
		Actions: []remedy.Action{remedy.SwitchOff(s.f, remedy.Recovery{Probe: func(context.Context) error { return errors.New("down") }})}}); err != nil {
		t.Fatal(err)
	}
	s.broken.Store(true)
	h.untilPage(s.traffic)
	ctx := context.Background()
	for _, on := range []bool{true, false} { // bob tries the fix, then switches it off himself
		if err := s.f.Switch(ctx, feature.Switch{On: on, Actor: "bob", Why: "trying the fix"}); err != nil {
			t.Fatal(err)
		}
	}
	h.fc.Advance(time.Hour)
	if st := s.f.Switched(); st.On || st.Actor != "bob" {
		t.Errorf("automation undid bob's switch: %s", st)
	}
	recs := h.records(remedy.ActionUndo)
	if len(recs) != 1 || !strings.HasPrefix(recs[0].Result, "skipped: ") || !strings.Contains(recs[0].Result, "bob") {
		t.Errorf("undo records = %+v, want one skipped naming bob (then automation lets go)", recs)
	}
}

func TestSwitchOffMistakesReportedByAdd(t *testing.T) {
	reg, err := feature.New(feature.WithAudit(&audittest.Recorder{}), feature.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Shutdown(context.Background())
	f := reg.MustDefine("checkout", "team-shop", start, "Pay")
	rem, err := remedy.New(nil, remedy.WithAudit(&audittest.Recorder{}))
	if err != nil {
		t.Fatal(err)
	}
	probe := func(context.Context) error { return nil }
	for _, tc := range []struct {
		a    remedy.Action
		want string
	}{
		{remedy.SwitchOff(nil, remedy.Recovery{Probe: probe}), "the feature is nil"},
		{remedy.SwitchOff(f, remedy.Recovery{}), "neither Probe nor Trial"},
		{remedy.SwitchOff(f, remedy.Recovery{Trial: 0.9}), "Recovery.Trial is 0.9"},
		{remedy.SwitchOff(f, remedy.Recovery{Trial: 0.1, MinTrials: -1}), "Recovery.MinTrials is -1"},
		{remedy.SwitchOff(f, remedy.Recovery{Trial: 0.1, MaxFailed: 1}), "Recovery.MaxFailed is 1"},
	} {
		err := rem.Add(remedy.Rule{Objective: "checkout", Actions: []remedy.Action{tc.a}})
		if err == nil || !strings.HasPrefix(err.Error(), "remedy: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add = %v, want an error saying %q", err, tc.want)
		}
	}
}

// The alert resolving is no recovery signal: when traffic stops, the page
// resolves while the cause persists, and the switch stays off until the
// probe passes. The resolution says what is still in effect.
func TestResolvedPageDoesNotUndo(t *testing.T) {
	h := newHarness(t, nil)
	s := newShop(t, h)
	_, probe := s.probe()
	if err := h.rem.Add(remedy.Rule{Objective: "checkout",
		Actions: []remedy.Action{remedy.SwitchOff(s.f, remedy.Recovery{Probe: probe})}}); err != nil {
		t.Fatal(err)
	}
	s.broken.Store(true)
	h.untilPage(s.traffic)
	for i := 0; i < 2*360 && h.prev[slo.Page] == slo.Firing; i++ {
		h.stepWith(func() {}) // no traffic at all
	}
	resolved := h.next(slo.Page, slo.Resolved)
	if !strings.Contains(resolved.Do, "done automatically: switch off checkout") {
		t.Errorf("resolved Do = %q, want it to say the switch is still in effect", resolved.Do)
	}
	h.fc.Advance(time.Hour)
	if st := s.f.Switched(); st.On {
		t.Fatalf("switched back on without its probe passing: %s", st)
	}
	s.broken.Store(false)
	h.fc.Advance(remedy.DefaultCheckEvery)
	if st := s.f.Switched(); !st.On {
		t.Errorf("still off after the probe passed: %s", st)
	}
}
