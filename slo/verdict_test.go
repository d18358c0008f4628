package slo_test

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// feed records n events on tr, each bad with probability p.
func feed(rng *rand.Rand, tr *slo.Tracker, n int, p float64) {
	var bad int64
	for range n {
		if rng.Float64() < p {
			bad++
		}
	}
	tr.RecordN(int64(n), bad)
}

// firstDecision feeds the baseline (1 % bad) and the candidate (candBad)
// in rounds of 50 candidate and 450 baseline events, asking for a verdict
// after every round, until one is not NotEnoughData or the candidate has
// max events; it returns that verdict and the candidate's events then.
func firstDecision(t *testing.T, seed uint64, candBad float64, max int) (release.Verdict, int) {
	t.Helper()
	m, fc := newMonitor(t, slo.WithRelease(release.Info{ID: "v1"}))
	base := m.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	cand, err := base.ForRelease("v2")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for n := 50; n <= max; n += 50 {
		feed(rng, base, 450, 0.01)
		feed(rng, cand, 50, candBad)
		fc.Advance(time.Second)
		v, err := m.Verdict("api", "v2", "")
		if err != nil {
			t.Fatal(err)
		}
		if v.Candidate.Total() != uint64(n) || v.Baseline.Total() != uint64(9*n) {
			t.Fatalf("verdict counts %+v %+v after %d candidate events", v.Candidate, v.Baseline, n)
		}
		if v.Decision != release.NotEnoughData {
			return v, n
		}
	}
	v, err := m.Verdict("api", "v2", "v1")
	if err != nil {
		t.Fatal(err)
	}
	return v, max
}

// Known truth through the Monitor: a candidate with 3x the baseline's 1 %
// error ratio gets no-go, an equal one go, neither before each release
// has release.DefaultMinEvents events; too few events give not enough
// data. Several seeds, each a pipeline looking after every 50 events.
func TestVerdictKnownTruth(t *testing.T) {
	for seed := range uint64(5) {
		v, n := firstDecision(t, seed, 0.03, 20000)
		if v.Decision != release.NoGo || n < release.DefaultMinEvents {
			t.Errorf("seed %d, 3x: %s after %d candidate events: %s", seed, v.Decision, n, v.Reason)
		}
		v, n = firstDecision(t, seed, 0.01, 20000)
		if v.Decision != release.Go || n < release.DefaultMinEvents {
			t.Errorf("seed %d, equal: %s after %d candidate events: %s", seed, v.Decision, n, v.Reason)
		}
	}
	v, _ := firstDecision(t, 1, 0.30, 450) // 30x worse, but 450 < 500 events
	if v.Decision != release.NotEnoughData || !strings.Contains(v.Reason, "needs 500") {
		t.Errorf("too few events: %s: %s", v.Decision, v.Reason)
	}
}

// Both releases are counted over the same time: the baseline's events
// from before the candidate began do not count in the verdict. Per release
// counts are listed with the process's own release marked, latency
// thresholds and Pending units count under the Tracker's release.
func TestVerdictSameSpanAndReleases(t *testing.T) {
	m, fc := newMonitor(t, slo.WithRelease(release.Info{ID: "v1"}))
	base := m.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	base.RecordN(10000, 5000) // before the candidate: must not count
	fc.Advance(time.Minute)
	cand, err := base.ForRelease("v2")
	if err != nil {
		t.Fatal(err)
	}
	if cand.Release() != "v2" || base.Release() != "v1" {
		t.Errorf("Release(): %q %q", cand.Release(), base.Release())
	}
	base.RecordN(600, 6)
	cand.RecordN(700, 7)
	fc.Advance(time.Minute)
	v, err := m.Verdict("api", "v2", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Baseline != (release.Counts{Good: 594, Bad: 6}) || v.Candidate != (release.Counts{Good: 693, Bad: 7}) {
		t.Errorf("verdict counts: baseline %+v candidate %+v", v.Baseline, v.Candidate)
	}
	// The other way round: the baseline began later than the candidate.
	if v, err := m.Verdict("api", "v1", "v2"); err != nil || v.Candidate != (release.Counts{Good: 594, Bad: 6}) {
		t.Errorf("swapped: %+v, %v", v, err)
	}
	rcs, dropped, err := m.Releases("api")
	if err != nil || dropped != 0 || len(rcs) != 2 {
		t.Fatalf("Releases: %+v %d %v", rcs, dropped, err)
	}
	if r := rcs[0]; r.Release != "v1" || !r.Own || r.Good != 5594 || r.Bad != 5006 || !r.First.Equal(start) ||
		!r.Last.Equal(start.Add(2*time.Minute)) { // the own release's Last: when first read with those events
		t.Errorf("v1: %+v", r)
	}
	if r := rcs[1]; r.Release != "v2" || r.Own || r.Good != 693 || r.Bad != 7 || r.ErrorRatio != 0.01 {
		t.Errorf("v2: %+v", r)
	}
	st := m.Status()[0]
	if w, _ := st.Window(time.Hour); w.Total != 11300 || w.Bad != 5013 {
		t.Errorf("the objective counts every release: %+v", w)
	}

	lat := m.MustAdd(slo.Objective{Name: "lat", Target: 0.99,
		Latency: []slo.Threshold{{Max: 100 * time.Millisecond}, {Max: time.Second}}})
	lc, err := lat.ForRelease("v2")
	if err != nil {
		t.Fatal(err)
	}
	lc.RecordLatencies([]time.Duration{time.Millisecond, 200 * time.Millisecond, 2 * time.Second})
	lc.RecordLatency(500 * time.Millisecond)
	for name, bad := range map[string]int64{"lat:100ms": 3, "lat:1s": 1} {
		rcs, _, _ := m.Releases(name)
		if len(rcs) != 2 || rcs[1].Release != "v2" || rcs[1].Good+rcs[1].Bad != 4 || rcs[1].Bad != bad || rcs[0].Good+rcs[0].Bad != 0 {
			t.Errorf("%s: %+v", name, rcs)
		}
	}

	jobs := m.MustAdd(slo.Objective{Name: "jobs", Target: 0.99})
	jc, _ := jobs.ForRelease("v2")
	p, err := jc.Pending(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p.Accept("a", fc.Now())
	p.Accept("b", fc.Now())
	p.Complete("a", true)
	fc.Advance(2 * time.Minute)
	m.Evaluate() // b is late: bad, under v2
	if rcs, _, _ := m.Releases("jobs"); len(rcs) != 2 || rcs[1].Good != 1 || rcs[1].Bad != 1 {
		t.Errorf("jobs: %+v", rcs)
	}
}

// At most MaxReleases releases are counted apart per objective: the one
// whose last event is oldest goes (never the process's own), a dropped
// release's Tracker takes a slot back when it records again, and bad ids
// are errors.
func TestReleasesBounded(t *testing.T) {
	m, fc := newMonitor(t, slo.WithRelease(release.Info{ID: "own"}))
	base := m.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	var trs []*slo.Tracker
	for i := range slo.MaxReleases {
		tr, err := base.ForRelease(string(rune('a' + i)))
		if err != nil {
			t.Fatal(err)
		}
		tr.Record(true)
		fc.Advance(time.Second)
		trs = append(trs, tr)
	}
	rcs, dropped, _ := m.Releases("api")
	if len(rcs) != slo.MaxReleases || dropped != 1 || rcs[0].Release != "own" || rcs[1].Release != "b" {
		t.Fatalf("after %d more releases: %d kept, %d dropped: %+v", slo.MaxReleases, len(rcs), dropped, rcs)
	}
	if _, err := m.Verdict("api", "a", ""); !errors.Is(err, slo.ErrNoRelease) {
		t.Errorf("verdict of a dropped release: %v", err)
	}
	trs[0].Record(false) // "a" again: takes the slot of "b", the oldest last event
	rcs, dropped, _ = m.Releases("api")
	if len(rcs) != slo.MaxReleases || dropped != 2 || rcs[len(rcs)-1].Release != "a" || rcs[len(rcs)-1].Bad != 1 || rcs[1].Release != "c" {
		t.Errorf("a back: %d dropped: %+v", dropped, rcs)
	}
	for _, id := range []string{"", strings.Repeat("x", 65), "v1\n", "bad\x00", string([]byte{0xff})} {
		if _, err := base.ForRelease(id); err == nil || !strings.Contains(err.Error(), "slo: release id") {
			t.Errorf("ForRelease(%q): %v", id, err)
		}
	}
	if _, err := m.Verdict("nope", "a", ""); !errors.Is(err, slo.ErrNoObjective) {
		t.Errorf("unknown objective: %v", err)
	}
	if _, err := m.Verdict("api", "own", ""); err == nil {
		t.Error("candidate = baseline: no error")
	}
	if _, _, err := m.Releases("nope"); !errors.Is(err, slo.ErrNoObjective) {
		t.Errorf("Releases of unknown: %v", err)
	}
	if _, err := slo.New(slo.WithVerdictPolicy(release.Policy{Regression: 0.5})); err == nil ||
		!strings.Contains(err.Error(), "Regression") {
		t.Errorf("bad policy: %v", err)
	}
}

// The events metric counts per release: the process's release and a
// ForRelease one, with a "release" attribute; no attribute without
// WithRelease, so existing series keep their labels.
func TestEventsMetricPerRelease(t *testing.T) {
	collect := func(opts ...slo.Option) (map[string]int64, *slo.Tracker) {
		reader := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		defer mp.Shutdown(context.Background())
		m, _ := newMonitor(t, append(opts, slo.WithMeterProvider(mp))...)
		tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
		tr.RecordN(10, 1)
		if c, err := tr.ForRelease("v2"); err == nil {
			c.RecordN(5, 2)
		}
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, md := range sm.Metrics {
				if md.Name != slo.EventsMetric {
					continue
				}
				for _, dp := range md.Data.(metricdata.Sum[int64]).DataPoints {
					good, _ := dp.Attributes.Value("good")
					rel, ok := dp.Attributes.Value("release")
					key := good.Emit() + "/" + rel.AsString()
					if !ok {
						key = good.Emit() + "/-"
					}
					got[key] = dp.Value
				}
			}
		}
		return got, tr
	}
	got, _ := collect(slo.WithRelease(release.Info{ID: "v1"}))
	want := map[string]int64{"true/v1": 9, "false/v1": 1, "true/v2": 3, "false/v2": 2}
	if !maps.Equal(got, want) {
		t.Errorf("with WithRelease: %v, want %v", got, want)
	}
	got, _ = collect()
	want = map[string]int64{"true/-": 9, "false/-": 1, "true/v2": 3, "false/v2": 2}
	if !maps.Equal(got, want) {
		t.Errorf("without WithRelease: %v, want %v", got, want)
	}
}

// Recording through a ForRelease Tracker allocates nothing either.
func TestReleaseRecordAllocatesNothing(t *testing.T) {
	m, fc := newMonitor(t, slo.WithRelease(release.Info{ID: "v1"}))
	tr, err := m.MustAdd(slo.Objective{Name: "a", Target: 0.99}).ForRelease("v2")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	allocs := testing.AllocsPerRun(1000, func() {
		tr.Record(n%3 == 0)
		n++
		if n%100 == 0 {
			fc.Advance(time.Second)
		}
	})
	if allocs != 0 {
		t.Errorf("Record under a release: %v allocs per call, want 0", allocs)
	}
}

// Per-release counts survive a restart through the snapshot file, and in
// a fleet a replica's verdict sees the candidate another replica runs.
func TestReleasesSnapshotAndFleet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "slo.json")
	fc := clock.NewFake(start)
	m1, _ := newMonitorOn(t, fc, slo.WithSnapshotFile(path, time.Minute), slo.WithRelease(release.Info{ID: "v1"}))
	tr := m1.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	cand, _ := tr.ForRelease("v2")
	tr.RecordN(1000, 10)
	cand.RecordN(600, 30)
	fc.Advance(time.Minute)
	before, err := m1.Verdict("api", "v2", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	m2, _ := newMonitorOn(t, fc, slo.WithSnapshotFile(path, time.Minute), slo.WithRelease(release.Info{ID: "v1"}))
	m2.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	after, err := m2.Verdict("api", "v2", "")
	if err != nil || after != before || after.Candidate != (release.Counts{Good: 570, Bad: 30}) {
		t.Errorf("after a restart: %+v, %v; before: %+v", after, err, before)
	}

	store := fleet.NewMemory(fc)
	a, _ := newMonitorOn(t, fc, slo.WithStore(store), slo.WithInstance("a"), slo.WithRelease(release.Info{ID: "v1"}))
	b, _ := newMonitorOn(t, fc, slo.WithStore(store), slo.WithInstance("b"), slo.WithRelease(release.Info{ID: "v2"}))
	ta := a.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	tb := b.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	ta.RecordN(900, 9)
	tb.RecordN(100, 3)
	fc.Advance(10 * time.Second)
	a.Evaluate()
	b.Evaluate()
	a.Evaluate()
	v, err := a.Verdict("api", "v2", "")
	if err != nil || v.Baseline != (release.Counts{Good: 891, Bad: 9}) || v.Candidate != (release.Counts{Good: 97, Bad: 3}) {
		t.Errorf("fleet verdict on a: %+v, %v", v, err)
	}
	rcs, _, _ := a.Releases("api")
	if len(rcs) != 2 || !rcs[0].Own || rcs[1].Own || rcs[1].Release != "v2" {
		t.Errorf("fleet releases on a: %+v", rcs)
	}
}
