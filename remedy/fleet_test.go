package remedy_test

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/remedy"
	"github.com/opskit/opskit/slo"
)

// replicas returns two Monitors of one fleet (a shared fleet.Memory), each
// with the checkout objective, evaluated once in order: the first leads.
func replicas(t *testing.T, fc *clock.Fake, first, second string) (*slo.Monitor, *slo.Monitor) {
	t.Helper()
	store := fleet.NewMemory(fc)
	replica := func(name string) *slo.Monitor {
		m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithStore(store), slo.WithInstance(name),
			slo.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		m.MustAdd(slo.Objective{Name: "checkout", Target: 0.99})
		m.Evaluate()
		return m
	}
	a := replica(first)
	return a, replica(second)
}

// In a fleet only the leader acts: a follower's Monitor sends no
// notifications, and its Notifier runs nothing even if given one.
func TestOnlyTheLeaderActs(t *testing.T) {
	fc := clock.NewFake(start)
	leader, follower := replicas(t, fc, "a", "b")
	if !leader.Leader() || follower.Leader() {
		t.Fatalf("Leader: a %v, b %v; want a only", leader.Leader(), follower.Leader())
	}
	var runs atomic.Int64
	var sent []slo.Alert
	rem, err := remedy.New(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error { sent = append(sent, a); return nil }),
		remedy.WithAudit(&audittest.Recorder{}), remedy.WithClock(fc), remedy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Shutdown(context.Background())
	if err := rem.Add(remedy.Rule{Objective: "checkout", Actions: []remedy.Action{{Name: "switch off checkout",
		Do: func(context.Context, slo.Alert) error { runs.Add(1); return nil }}}}); err != nil {
		t.Fatal(err)
	}
	rem.Attach(follower)
	if err := rem.Notify(context.Background(), firing("inc-1", slo.Page)); err != nil {
		t.Fatal(err)
	}
	if runs.Load() != 0 || !strings.Contains(sent[0].Do, "not the fleet's leader") {
		t.Errorf("follower: %d runs, Do %q; want none, saying why", runs.Load(), sent[0].Do)
	}
}

// A switch automation made before a restart is taken up by the new
// process and undone after its recovery signal; never before.
func TestSwitchFoundAfterRestartIsUndone(t *testing.T) {
	h := newHarness(t, nil)
	s := newShop(t, h)
	ctx := context.Background()
	// As the previous process left it (the registry restores switches from its snapshot).
	if err := s.f.Switch(ctx, feature.Switch{On: false, Actor: remedy.Actor, Why: "page of objective checkout"}); err != nil {
		t.Fatal(err)
	}
	s.broken.Store(true)
	probes, probe := s.probe()
	if err := h.rem.Add(remedy.Rule{Objective: "checkout", CheckEvery: 10 * time.Minute,
		Actions: []remedy.Action{remedy.SwitchOff(s.f, remedy.Recovery{Probe: probe})}}); err != nil {
		t.Fatal(err)
	}
	h.fc.Advance(time.Hour)
	if st := s.f.Switched(); st.On || probes.Load() != 6 {
		t.Fatalf("after an hour of a persisting cause: %s, %d probes; want off, 6 probes", st, probes.Load())
	}
	s.broken.Store(false)
	h.fc.Advance(10 * time.Minute)
	if st := s.f.Switched(); !st.On || st.Actor != remedy.Actor {
		t.Fatalf("after recovery: %s; want switched on by automation", st)
	}
	if recs := h.records(remedy.ActionUndo); len(recs) != 1 || recs[0].Result != "ok" {
		t.Errorf("undo records = %+v, want one ok", recs)
	}
}

// A person's switch found at start is not automation's to undo.
func TestPersonsSwitchFoundAtStartIsLeftAlone(t *testing.T) {
	h := newHarness(t, nil)
	s := newShop(t, h)
	if err := s.f.Switch(context.Background(), feature.Switch{On: false, Actor: "alice", Why: "migration"}); err != nil {
		t.Fatal(err)
	}
	if err := h.rem.Add(remedy.Rule{Objective: "checkout", CheckEvery: time.Minute,
		Actions: []remedy.Action{remedy.SwitchOff(s.f, remedy.Recovery{Probe: func(context.Context) error { return nil }})}}); err != nil {
		t.Fatal(err)
	}
	h.fc.Advance(time.Hour)
	if st := s.f.Switched(); st.On {
		t.Errorf("automation switched on alice's switch: %s", st)
	}
	if n := len(h.records(remedy.ActionUndo)); n != 0 {
		t.Errorf("%d undo records, want none", n)
	}
}

// A switch automation made on another replica (the previous leader) is
// taken up: the follower neither asks the signal nor undoes; once it
// leads, it undoes after the signal passes.
func TestNewLeaderTakesUpTheSwitch(t *testing.T) {
	fc := clock.NewFake(start)
	old, next := replicas(t, fc, "a", "b")
	trail := &audittest.Recorder{}
	reg, err := feature.New(feature.WithClock(fc), feature.WithAudit(trail), feature.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Shutdown(context.Background())
	f := reg.MustDefine("checkout", "team-shop", start, "Pay")
	rem, err := remedy.New(nil, remedy.WithAudit(trail), remedy.WithClock(fc), remedy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Shutdown(context.Background())
	var probes atomic.Int64
	if err := rem.Add(remedy.Rule{Objective: "checkout", CheckEvery: 10 * time.Minute, Actions: []remedy.Action{
		remedy.SwitchOff(f, remedy.Recovery{Probe: func(context.Context) error { probes.Add(1); return nil }})}}); err != nil {
		t.Fatal(err)
	}
	rem.Attach(next)
	// The old leader's automation switches checkout off (the registry
	// shares switches across the fleet).
	if err := f.Switch(context.Background(), feature.Switch{On: false, Actor: remedy.Actor, Why: "page on a"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		fc.Advance(10 * time.Minute)
		old.Evaluate()
		next.Evaluate()
	}
	if st := f.Switched(); st.On || probes.Load() != 0 {
		t.Fatalf("on a follower: %s, %d probes; want still off, no probe", st, probes.Load())
	}
	if err := old.Shutdown(context.Background()); err != nil { // gives the lease up
		t.Fatal(err)
	}
	fc.Advance(time.Second) // past the lease a's Shutdown left
	next.Evaluate()
	if !next.Leader() {
		t.Fatal("b does not lead after a shut down")
	}
	fc.Advance(10 * time.Minute)
	if st := f.Switched(); !st.On || probes.Load() != 1 {
		t.Errorf("on the new leader: %s, %d probes; want switched on after one probe", st, probes.Load())
	}
}
