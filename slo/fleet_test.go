package slo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// sink collects the notifications of every replica of a simulated fleet.
type sink struct {
	mu  sync.Mutex
	got []sent
}

type sent struct {
	by string
	a  slo.Alert
}

func (s *sink) notifier(by string) slo.Notifier {
	return slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.got = append(s.got, sent{by, a})
		return nil
	})
}

// count returns how many notifications of severity sev match state and repeat.
func (s *sink) count(sev slo.Severity, state slo.AlertState, repeat bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.got {
		if x.a.Severity == sev && x.a.State == state && x.a.Repeat == repeat {
			n++
		}
	}
	return n
}

// replica is one Monitor of a simulated fleet.
type replica struct {
	name string
	m    *slo.Monitor
	tr   *slo.Tracker
	down bool // killed: neither records nor evaluates
}

// newFleet starts n replicas "r1".."rn" on one fleet.Memory and one fake
// clock, each tracking the objective "orders" (99%).
func newFleet(t *testing.T, n int, snk *sink, opts ...slo.Option) ([]*replica, *clock.Fake, *fleet.Memory) {
	t.Helper()
	fc := clock.NewFake(start)
	store := fleet.NewMemory(fc)
	var rs []*replica
	for i := range n {
		name := "r" + string(rune('1'+i))
		o := append([]slo.Option{slo.WithStore(store), slo.WithInstance(name), slo.WithNotifier(snk.notifier(name))}, opts...)
		m, _ := newMonitorOn(t, fc, o...)
		// One page tier, so the outage's end resolves within minutes.
		tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.99,
			Tiers: []slo.Tier{{Name: "page-1h", Severity: slo.Page, Long: time.Hour, Short: 5 * time.Minute, BurnRate: 14.4}}})
		rs = append(rs, &replica{name: name, m: m, tr: tr})
	}
	return rs, fc, store
}

// round lets every live replica record total events per second (bad of
// them bad) for 10 seconds, advances the clock and evaluates each.
func round(fc *clock.Fake, rs []*replica, total, bad int64) {
	for _, r := range rs {
		if !r.down {
			r.tr.RecordN(total*10, bad*10)
		}
	}
	fc.Advance(10 * time.Second)
	for _, r := range rs {
		if !r.down {
			r.m.Evaluate()
		}
	}
}

func leaders(rs []*replica) []string {
	var out []string
	for _, r := range rs {
		if !r.down && r.m.Leader() {
			out = append(out, r.name)
		}
	}
	return out
}

func orders(t *testing.T, m *slo.Monitor) slo.Status {
	t.Helper()
	for _, st := range m.Status() {
		if st.Objective == "orders" {
			return st
		}
	}
	t.Fatal("no status for orders")
	return slo.Status{}
}

// An outage all three replicas see is one incident and one page for the
// fleet; every replica shows the same fleet budget, its own share, and the
// incident; an operator acts on the incident from a follower.
func TestFleetOneIncidentOnePage(t *testing.T) {
	snk := &sink{}
	rs, fc, _ := newFleet(t, 3, snk)
	for range 30 { // 5 healthy minutes, 10 events a second per replica
		round(fc, rs, 10, 0)
	}
	if l := leaders(rs); len(l) != 1 {
		t.Fatalf("leaders %v, want exactly one", l)
	}
	for range 12 { // a 2-minute outage: 80% of every replica's events fail
		round(fc, rs, 10, 8)
	}
	round(fc, rs, 0, 0) // every replica has read the others' last counts
	var want slo.Budget
	for i, r := range rs {
		st := orders(t, r.m)
		if i == 0 {
			want = st.Budget
		}
		if st.Budget != want {
			t.Errorf("%s: budget %+v, want the fleet's %+v", r.name, st.Budget, want)
		}
		if len(st.Replicas) != 3 {
			t.Fatalf("%s: replicas %+v", r.name, st.Replicas)
		}
		var sum int64
		for _, sh := range st.Replicas {
			sum += sh.Budget.Total
			if sh.Self != (sh.Instance == r.name) || sh.Stale {
				t.Errorf("%s: share %+v", r.name, sh)
			}
		}
		if sum != st.Budget.Total {
			t.Errorf("%s: shares sum to %d events, budget counts %d", r.name, sum, st.Budget.Total)
		}
		if st.Alerts[0].State != slo.Firing {
			t.Errorf("%s: page alert %s, want firing on every replica", r.name, st.Alerts[0].State)
		}
	}
	// 42 rounds of 10 seconds, 3 replicas, 100 events each; 12 rounds of 80 bad.
	if want.Total != 42*3*100 || want.Bad != 12*3*80 {
		t.Errorf("fleet budget %+v, want %d events, %d bad", want, 42*3*100, 12*3*80)
	}
	// An operator acknowledges on a follower.
	var follower *replica
	for _, r := range rs {
		if !r.m.Leader() {
			follower = r
		}
	}
	incs := follower.m.Incidents()
	if len(incs) != 1 || !incs[0].Open() {
		t.Fatalf("follower %s sees incidents %+v", follower.name, incs)
	}
	if err := follower.m.Ack(incs[0].ID, "ann"); err != nil {
		t.Fatal(err)
	}
	for range 60 { // recovery
		round(fc, rs, 10, 0)
	}
	for _, r := range rs {
		incs := r.m.Incidents()
		if len(incs) != 1 {
			t.Fatalf("%s: %d incidents, want 1: %+v", r.name, len(incs), incs)
		}
		inc := incs[0]
		if inc.Open() || inc.Pages != 1 || inc.Ack == nil || inc.Ack.By != "ann" ||
			!slices.Equal(inc.Replicas, []string{"r1", "r2", "r3"}) || !strings.HasSuffix(inc.ID, "@"+leaders(rs)[0]) {
			t.Errorf("%s: incident %+v", r.name, inc)
		}
	}
	for _, r := range rs {
		if err := r.m.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := snk.count(slo.Page, slo.Firing, false); n != 1 {
		t.Errorf("%d page notifications, want 1 for the fleet", n)
	}
	if n := snk.count(slo.Page, slo.Resolved, false); n != 1 {
		t.Errorf("%d resolved pages, want 1", n)
	}
	for _, x := range snk.got {
		if _, ok := x.a.Labels["instance"]; ok {
			t.Errorf("fleet alert carries an instance label: %v", x.a.Labels)
		}
	}
}

// The leader is killed during an outage: another replica leads within the
// lease plus one evaluation interval, learns the open episode from the
// store and only resends it (Repeat); the fleet pages once and resolves
// once, under one incident id. The dead replica's counts still count.
func TestFleetHandoverKeepsThePage(t *testing.T) {
	for _, stop := range []string{"killed", "shut down"} {
		t.Run(stop, func(t *testing.T) {
			snk := &sink{}
			rs, fc, _ := newFleet(t, 3, snk)
			for range 30 {
				round(fc, rs, 10, 0)
			}
			for range 8 {
				round(fc, rs, 10, 9)
			}
			first := leaders(rs)
			if len(first) != 1 {
				t.Fatalf("leaders %v", first)
			}
			var dead *replica
			for _, r := range rs {
				if r.name == first[0] {
					dead = r
				}
			}
			id := orders(t, dead.m).Alerts[0].Incident
			if id == "" {
				t.Fatal("no incident open before the leader dies")
			}
			if stop == "shut down" {
				if err := dead.m.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			dead.down = true
			killedAt := fc.Now()
			var took time.Duration
			for took == 0 {
				round(fc, rs, 10, 9)
				if l := leaders(rs); len(l) == 1 {
					took = fc.Now().Sub(killedAt)
				}
				if fc.Now().Sub(killedAt) > time.Hour {
					t.Fatal("no replica took over")
				}
			}
			bound := 30*time.Second + 10*time.Second // the lease plus one evaluation interval
			if stop == "shut down" {
				bound = 10 * time.Second // the lease was given up: the next evaluation
			}
			if took > bound {
				t.Errorf("hand-over took %v, want at most %v", took, bound)
			}
			t.Logf("%s leader: another leads %v later (bound %v)", stop, took, bound)
			for range 6 { // the outage goes on under the new leader
				round(fc, rs, 10, 9)
			}
			for _, r := range rs {
				if r.down {
					continue
				}
				st := orders(t, r.m)
				if st.Alerts[0].Incident != id {
					t.Errorf("%s: incident %q, want the episode's %q", r.name, st.Alerts[0].Incident, id)
				}
				for _, sh := range st.Replicas {
					if sh.Instance == dead.name && (!sh.Stale || sh.Budget.Total == 0) {
						t.Errorf("%s: dead replica's share %+v: want stale, its events counted", r.name, sh)
					}
				}
			}
			for range 60 {
				round(fc, rs, 10, 0)
			}
			for _, r := range rs {
				if err := r.m.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			if n := snk.count(slo.Page, slo.Firing, false); n != 1 {
				t.Errorf("%d new page notifications across the hand-over, want 1", n)
			}
			if n := snk.count(slo.Page, slo.Firing, true); n == 0 {
				t.Error("the new leader did not resend the open page as a Repeat")
			}
			if n := snk.count(slo.Page, slo.Resolved, false); n != 1 {
				t.Errorf("%d resolved pages, want 1", n)
			}
			incs := rs[0].m.Incidents()
			if len(incs) != 1 || incs[0].ID != id || incs[0].Open() || incs[0].Pages != 1 {
				t.Errorf("incidents after the hand-over: %+v", incs)
			}
		})
	}
}

// A leader that shuts down gives the lease up: the next evaluation of
// another replica leads.
func TestFleetShutdownHandsOver(t *testing.T) {
	rs, fc, _ := newFleet(t, 2, &sink{})
	round(fc, rs, 1, 0)
	l := leaders(rs)
	if len(l) != 1 {
		t.Fatalf("leaders %v", l)
	}
	for _, r := range rs {
		if r.name == l[0] {
			if err := r.m.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			r.down = true
		}
	}
	round(fc, rs, 1, 0)
	if got := leaders(rs); len(got) != 1 || got[0] == l[0] {
		t.Errorf("leaders after %s shut down: %v", l[0], got)
	}
}

// Unreadable data in the store is logged, never fatal: a corrupt state is
// left out (the others still count) and a corrupt incident record skipped.
func TestFleetBadStoreData(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	lg := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	rs, fc, store := newFleet(t, 2, &sink{}, slo.WithLogger(lg))
	ctx := context.Background()
	if err := store.Put(ctx, slo.FleetStateKind, "rX", []byte(`{"version":2,"instance":"rX","series":[{"name":"orders","fine":[[1,5,9]]}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, slo.FleetStateKind, "rY", []byte(`{"version":2,"instance":"someone-else","series":[]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, slo.FleetIncidentKind, []byte(`{"v":2,"change":"opened"`)); err != nil {
		t.Fatal(err)
	}
	round(fc, rs, 10, 0)
	round(fc, rs, 10, 0)
	st := orders(t, rs[0].m)
	// r1 evaluates first: it has read r2's counts of the round before.
	if len(st.Replicas) != 2 || st.Budget.Total != 300 {
		t.Errorf("status with corrupt neighbours: budget %+v, replicas %+v", st.Budget, st.Replicas)
	}
	if len(rs[0].m.Incidents()) != 0 {
		t.Error("a corrupt record became an incident")
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	for _, want := range []string{`instance=rX`, `bad bucket [1 5 9]`, `instance=rY`, `instance is \"someone-else\"`, "incident record skipped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Bad configuration is refused with errors naming the option.
func TestFleetOptions(t *testing.T) {
	store := fleet.NewMemory(clock.NewFake(start))
	for _, tc := range []struct {
		opts []slo.Option
		want string
	}{
		{[]slo.Option{slo.WithStore(store), slo.WithInstance("")}, "WithInstance"},
		{[]slo.Option{slo.WithStore(store), slo.WithInstance("a"), slo.WithIncidentLog(t.TempDir() + "/i.jsonl")}, "WithIncidentLog"},
		{[]slo.Option{slo.WithStore(store), slo.WithInstance("a\nb")}, "control character"},
	} {
		m, err := slo.New(append(tc.opts, slo.WithMeterProvider(noop.NewMeterProvider()), slo.WithEvaluationInterval(-1))...)
		if err == nil {
			m.Shutdown(context.Background())
			t.Errorf("New accepted %d options, want an error about %s", len(tc.opts), tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "slo: ") {
			t.Errorf("error %q, want one naming %s", err, tc.want)
		}
	}
	// Without a store a Monitor leads itself.
	m, _ := newMonitor(t)
	if !m.Leader() {
		t.Error("a Monitor without a store is not its own leader")
	}
}

// A replica restarted under the same name without a snapshot file gets
// its own history back from the store.
func TestFleetRestoresOwnHistory(t *testing.T) {
	fc := clock.NewFake(start)
	store := fleet.NewMemory(fc)
	m1, _ := newMonitorOn(t, fc, slo.WithStore(store), slo.WithInstance("r1"))
	m1.MustAdd(slo.Objective{Name: "orders", Target: 0.99}).RecordN(100, 7)
	fc.Advance(10 * time.Second)
	if err := m1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	m2, _ := newMonitorOn(t, fc, slo.WithStore(store), slo.WithInstance("r1"))
	m2.MustAdd(slo.Objective{Name: "orders", Target: 0.99})
	if b := orders(t, m2).Budget; b.Total != 100 || b.Bad != 7 {
		t.Errorf("restored budget %+v, want 100 events, 7 bad", b)
	}
}

// Units of work are counted once for the fleet, whichever replicas accept
// and complete them, across a leader's death.
func TestFleetPendingCountsOnce(t *testing.T) {
	rs, fc, _ := newFleet(t, 3, &sink{})
	ps := map[string]*slo.Pending{}
	for _, r := range rs {
		p, err := r.tr.Pending(5 * time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ps[r.name] = p
	}
	if _, err := rs[0].tr.Pending(time.Minute); err == nil {
		t.Error("a second Pending on one objective was accepted in fleet mode")
	}
	t0 := fc.Now()
	for _, r := range rs { // "a" is re-accepted by every replica (a start-up sweep)
		ps[r.name].Accept("a", t0)
	}
	ps["r1"].Accept("b", t0)
	ps["r2"].Accept("c", t0)
	ps["r3"].Complete("d", false) // never accepted anywhere: counts as it says
	ps["r2"].Accept("f", t0)      // late, completed on another replica afterwards
	ps["r2"].Accept("g", t0)      // completed in time on another replica
	if n := ps["r1"].Len(); n != 2 {
		t.Errorf("r1 holds %d units, want 2", n)
	}
	live := func() *slo.Pending {
		for _, r := range rs {
			if !r.down {
				return ps[r.name]
			}
		}
		return nil
	}
	var dead *replica
	for elapsed := time.Duration(0); elapsed < 12*time.Minute; elapsed += 10 * time.Second {
		switch fc.Now().Sub(t0) {
		case time.Minute:
			ps["r2"].Complete("a", true)
			ps["r3"].Complete("g", true)
		case 6 * time.Minute: // b and c were late at 5m and decided since
			l := leaders(rs)
			for _, r := range rs {
				if r.name == l[0] {
					ps[r.name].Accept("e", fc.Now())
					r.down, dead = true, r
				}
			}
		case 7 * time.Minute:
			live().Complete("b", true) // late: already counted bad
			live().Complete("e", true) // the dead replica accepted it
			ps["r3"].Complete("f", true)
		case 8 * time.Minute:
			live().Accept("h", t0.Add(-time.Hour)) // first seen long after its deadline
		}
		round(fc, rs, 0, 0)
	}
	if dead == nil {
		t.Fatal("no leader to kill")
	}
	for _, r := range rs {
		if r.down {
			continue
		}
		b := orders(t, r.m).Budget
		if b.Total != 8 || b.Bad != 5 {
			t.Errorf("%s: fleet counts %d units, %d bad; want 8 units (a to h), 5 bad (b, c, f, h late, d failed)", r.name, b.Total, b.Bad)
		}
	}
}

// BenchmarkFleetEvaluate is one replica's evaluation in a fleet of three,
// each with a day of 10-second buckets, every other replica's state new
// at each evaluation (published, read, decoded, rebuilt), against one
// evaluation without a store. Per op: one evaluation.
func BenchmarkFleetEvaluate(b *testing.B) {
	day := func(fc *clock.Fake, trs ...*slo.Tracker) {
		for range 8640 {
			for _, tr := range trs {
				tr.RecordN(100, 1)
			}
			fc.Advance(10 * time.Second)
		}
	}
	newOn := func(fc *clock.Fake, opts ...slo.Option) *slo.Monitor {
		m, err := slo.New(append([]slo.Option{slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog),
			slo.WithMeterProvider(noop.NewMeterProvider())}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = m.Shutdown(context.Background()) })
		return m
	}
	b.Run("single", func(b *testing.B) {
		fc := clock.NewFake(start)
		m := newOn(fc)
		tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.99})
		day(fc, tr)
		b.ReportAllocs()
		for b.Loop() {
			tr.RecordN(100, 1)
			fc.Advance(10 * time.Second)
			m.Evaluate()
		}
	})
	b.Run("fleet-3", func(b *testing.B) {
		fc := clock.NewFake(start)
		store := fleet.NewMemory(fc)
		var ms []*slo.Monitor
		var trs []*slo.Tracker
		for _, name := range []string{"r1", "r2", "r3"} {
			m := newOn(fc, slo.WithStore(store), slo.WithInstance(name))
			ms = append(ms, m)
			trs = append(trs, m.MustAdd(slo.Objective{Name: "orders", Target: 0.99}))
		}
		day(fc, trs...)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			m := ms[i%3]
			trs[i%3].RecordN(100, 1)
			fc.Advance(10 * time.Second / 3)
			m.Evaluate()
			i++
		}
	})
}

// Range (the weekly report's query) sums the fleet's events too.
func TestFleetRange(t *testing.T) {
	rs, fc, _ := newFleet(t, 2, &sink{})
	from := fc.Now()
	round(fc, rs, 10, 1)
	round(fc, rs, 0, 0)
	for _, r := range rs {
		got, err := r.m.Range("orders", from, fc.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got.Good+got.Bad != 200 || got.Bad != 20 {
			t.Errorf("%s: Range %d good, %d bad; want the fleet's 180 good, 20 bad", r.name, got.Good, got.Bad)
		}
	}
}

// /slo shows the fleet's figures and every replica's share, in HTML and JSON.
func TestFleetPage(t *testing.T) {
	rs, fc, _ := newFleet(t, 2, &sink{})
	round(fc, rs, 10, 1)
	round(fc, rs, 0, 0)
	srv := httptest.NewServer(rs[1].m.Handler())
	defer srv.Close()
	var v struct {
		Objectives []struct {
			Budget   slo.Budget `json:"budget"`
			Replicas []struct {
				Instance string     `json:"instance"`
				Self     bool       `json:"self"`
				Budget   slo.Budget `json:"budget"`
			} `json:"replicas"`
		} `json:"objectives"`
	}
	get := func(q string) []byte {
		res, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return b
	}
	if err := json.Unmarshal(get("?format=json"), &v); err != nil {
		t.Fatal(err)
	}
	o := v.Objectives[0]
	if o.Budget.Total != 200 || len(o.Replicas) != 2 || o.Replicas[0].Instance != "r1" || o.Replicas[0].Budget.Total != 100 ||
		!o.Replicas[1].Self || o.Replicas[1].Budget.Bad != 10 {
		t.Errorf("JSON: %+v", o)
	}
	if html := string(get("")); !strings.Contains(html, "<h3>Replicas") || !strings.Contains(html, "r2 (this one)") {
		t.Error("the page lacks the replicas table")
	}
}

// Objectives, Pendings, records and operator reads may come while the
// replica evaluates (run with -race).
func TestFleetConcurrentUse(t *testing.T) {
	rs, fc, _ := newFleet(t, 2, &sink{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			rs[0].m.Evaluate()
			rs[0].m.Status()
		}
	}()
	p, err := rs[0].tr.Pending(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		id := fmt.Sprint(i)
		p.Accept(id, fc.Now())
		p.Complete(id, true)
		rs[0].tr.Record(true)
		rs[0].m.Incidents()
		rs[1].m.Evaluate()
	}
	<-done
	if err := rs[0].m.SaveSnapshot(); err == nil {
		t.Error("SaveSnapshot without a snapshot file succeeded")
	}
}

// A unit the leader decides counts under the release of the replica that
// completed it (or accepted it, when late), not under the leader's.
func TestFleetPendingRelease(t *testing.T) {
	fc := clock.NewFake(start)
	store := fleet.NewMemory(fc)
	var rs []*replica
	ps := map[string]*slo.Pending{}
	for i, id := range []string{"v1", "v2"} {
		name := fmt.Sprintf("r%d", i+1)
		m, _ := newMonitorOn(t, fc, slo.WithStore(store), slo.WithInstance(name), slo.WithRelease(release.Info{ID: id}))
		tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.99})
		p, err := tr.Pending(time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, &replica{name: name, m: m, tr: tr})
		ps[name] = p
	}
	ps["r2"].Accept("a", fc.Now())
	ps["r2"].Complete("a", true)
	ps["r2"].Accept("b", fc.Now())
	for range 12 {
		round(fc, rs, 0, 0)
	}
	if l := leaders(rs); len(l) != 1 || l[0] != "r1" {
		t.Fatalf("leaders %v, want r1", l)
	}
	got, _, err := rs[0].m.Releases("orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range got {
		want := [2]int64{0, 0}
		if rc.Release == "v2" {
			want = [2]int64{1, 1}
		}
		if [2]int64{rc.Good, rc.Bad} != want {
			t.Errorf("release %s: %d good, %d bad; want %v", rc.Release, rc.Good, rc.Bad, want)
		}
	}
	if len(got) != 2 {
		t.Errorf("releases %+v, want v1 and v2", got)
	}
}
