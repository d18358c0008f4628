package slo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// An outage longer than the bound burns budget while it lasts: the units
// still undelivered count bad as their bound passes, and page; delivering
// them afterwards counts nothing more. Every unit counts once.
func TestPendingCountsLateUnitsAtTheirDeadline(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "fulfilment", Target: 0.999})
	p, err := tr.Pending(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	accept := func(k int) {
		for range k {
			p.Accept(fmt.Sprint(n), fc.Now())
			n++
		}
	}
	// An hour of normal service: everything delivered in 10 seconds.
	for range 360 {
		accept(10)
		fc.Advance(10 * time.Second)
		for i := n - 10; i < n; i++ {
			p.Complete(fmt.Sprint(i), true)
		}
	}
	delivered := n
	// The downstream goes down: nothing is delivered for 3 minutes.
	var paged time.Duration
	outage := fc.Now()
	for range 18 {
		accept(10)
		fc.Advance(10 * time.Second)
		sts := m.Evaluate()
		if paged == 0 && firing(sts, "fulfilment", slo.Page) {
			paged = fc.Now().Sub(outage)
		}
	}
	if paged == 0 || paged > 2*time.Minute {
		t.Fatalf("paged %v into the outage, want soon after the 1-minute bound", paged)
	}
	w, _ := m.Status()[0].Window(time.Hour)
	// Units accepted in the first 2 minutes passed their bound (the last
	// evaluation counts those whose deadline is at or before now).
	if w.Bad != 130 {
		t.Errorf("bad events during the outage: %d, want 130", w.Bad)
	}
	// Recovery: everything is delivered, late; nothing more counts bad.
	for i := delivered; i < n; i++ {
		p.Complete(fmt.Sprint(i), true)
	}
	fc.Advance(2 * time.Minute)
	m.Evaluate()
	w, _ = m.Status()[0].Window(2 * time.Hour)
	if w.Total != int64(n) || w.Bad != 180-50 || p.Len() != 0 {
		t.Errorf("after recovery: %d events, %d bad, %d pending; want %d events, 130 bad (the 50 delivered in time are good), 0 pending",
			w.Total, w.Bad, p.Len(), n)
	}
}

func TestPendingOutcomes(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "jobs", Target: 0.99})
	p, _ := tr.Pending(time.Minute)
	p.Accept("ok", fc.Now())
	p.Accept("failed", fc.Now())
	p.Accept("ok", fc.Now()) // twice: once
	p.Accept("slow", fc.Now())
	fc.Advance(30 * time.Second)
	p.Accept("future", fc.Now().Add(time.Hour)) // counts from now: due at 1m30s
	p.Complete("ok", true)
	p.Complete("failed", false)
	p.Complete("never-accepted", true)
	fc.Advance(31 * time.Second)
	p.Complete("slow", true) // late, not yet counted by an evaluation: bad
	p.Complete("future", true)
	w, _ := m.Status()[0].Window(time.Hour)
	if w.Total != 5 || w.Bad != 2 || p.Len() != 0 {
		t.Errorf("%d events, %d bad, %d pending; want 5, 2, 0", w.Total, w.Bad, p.Len())
	}
	// A unit accepted again long after its bound (a restart without a
	// snapshot) counts at its deadline, ten minutes back: after the
	// evaluations above, in buckets already folded once.
	fc.Advance(20 * time.Minute)
	m.Evaluate()
	p.Accept("old", fc.Now().Add(-11*time.Minute))
	st := m.Status()[0]
	if w, _ := st.Window(time.Hour); w.Total != 6 || w.Bad != 3 || p.Len() != 1 {
		t.Errorf("after an old unit: %d events, %d bad, %d pending; want 6, 3, 1", w.Total, w.Bad, p.Len())
	}
	if w, _ := st.Window(5 * time.Minute); w.Total != 0 {
		t.Errorf("the old unit counted now, not at its deadline: %+v", w)
	}
	if w, _ := st.Window(72 * time.Hour); w.Total != 6 {
		t.Errorf("minute tier missed the old unit: %+v", w)
	}
	p.Complete("old", true) // already counted late
	if w, _ := m.Status()[0].Window(time.Hour); w.Total != 6 || p.Len() != 0 {
		t.Errorf("completing a late unit counted again: %+v", w)
	}
	if _, err := tr.Pending(0); err == nil || !strings.HasPrefix(err.Error(), "slo: ") {
		t.Errorf("bound 0: %v", err)
	}
	lat := m.MustAdd(slo.Objective{Name: "lat", Target: 0.99, Latency: []slo.Threshold{{Max: time.Second}}})
	if _, err := lat.Pending(time.Minute); err == nil {
		t.Error("Pending on a latency objective should fail")
	}
}

// Across a crash, a unit counts once: units late before the last snapshot
// are in it; those whose bound passed after it count when accepted again.
func TestPendingCountsOnceAcrossACrash(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "slo.json")
	obj := slo.Objective{Name: "orders", Target: 0.99}
	m1, fc := newMonitor(t, slo.WithSnapshotFile(snap, 0))
	p1, _ := m1.MustAdd(obj).Pending(time.Minute)
	accepted := map[string]time.Time{}
	for i := range 30 { // one unit every 10 seconds for 5 minutes, none delivered
		id := fmt.Sprint("u", i)
		accepted[id] = fc.Now()
		p1.Accept(id, fc.Now())
		fc.Advance(10 * time.Second)
		m1.Evaluate() // saves every 10 seconds
	}
	fc.Advance(30 * time.Second) // three more deadlines pass, unsaved
	saved, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snap, saved, 0o600); err != nil { // as if killed before Shutdown
		t.Fatal(err)
	}
	m2, _ := newMonitorOn(t, fc, slo.WithSnapshotFile(snap, 0))
	p2, _ := m2.MustAdd(obj).Pending(time.Minute)
	for id, at := range accepted {
		p2.Accept(id, at)
	}
	fc.Advance(2 * time.Minute)
	m2.Evaluate()
	if w, _ := m2.Status()[0].Window(time.Hour); w.Total != 30 || w.Bad != 30 {
		t.Errorf("after the crash: %d events, %d bad; want each of the 30 units counted once", w.Total, w.Bad)
	}
}
