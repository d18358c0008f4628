package slo_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

func TestValidation(t *testing.T) {
	cases := []struct {
		name  string
		obj   slo.Objective
		field string
	}{
		{"empty name", slo.Objective{Target: 0.99}, "Name"},
		{"bad name", slo.Objective{Name: "a b", Target: 0.99}, "Name"},
		{"target 1", slo.Objective{Name: "a", Target: 1}, "Target"},
		{"target 0", slo.Objective{Name: "a"}, "Target"},
		{"target NaN", slo.Objective{Name: "a", Target: math.NaN()}, "Target"},
		{"period short", slo.Objective{Name: "a", Target: 0.99, Period: time.Minute}, "Period"},
		{"period fractional", slo.Objective{Name: "a", Target: 0.99, Period: 90 * time.Minute}, "Period"},
		{"min events", slo.Objective{Name: "a", Target: 0.99, MinEvents: -1}, "MinEvents"},
		{"min bad events", slo.Objective{Name: "a", Target: 0.99, MinBadEvents: -2}, "MinBadEvents"},
		{"reserved label", slo.Objective{Name: "a", Target: 0.99, Labels: map[string]string{"severity": "x"}}, `Labels["severity"]`},
		{"bad label name", slo.Objective{Name: "a", Target: 0.99, Labels: map[string]string{"1team": "x"}}, `Labels["1team"]`},
		{"empty label value", slo.Objective{Name: "a", Target: 0.99, Labels: map[string]string{"team": ""}}, `Labels["team"]`},
		{"reserved annotation", slo.Objective{Name: "a", Target: 0.99, Annotations: map[string]string{"summary": "x"}}, `Annotations["summary"]`},
		{"budget-exhausted is no tier", slo.Objective{Name: "a", Target: 0.99, DisableTiers: []string{"budget-exhausted"}}, "DisableTiers[0]"},
		{"no severity", slo.Objective{Name: "a", Target: 0.99, Tiers: []slo.Tier{{Name: "x", Severity: "sms", Long: time.Hour, Short: time.Minute, BurnRate: 2}}}, "Tiers[0].Severity"},
		{"threshold zero", slo.Objective{Name: "a", Target: 0.99, Latency: []slo.Threshold{{}}}, "Latency[0].Max"},
		{"threshold dup", slo.Objective{Name: "a", Target: 0.99, Latency: []slo.Threshold{{Max: 1}, {Max: 1}}}, "Latency[1].Max"},
		{"threshold target", slo.Objective{Name: "a", Target: 0.99, Latency: []slo.Threshold{{Max: 1, Target: 2}}}, "Latency[0].Target"},
		// 1/(1-0.9) = 10 < 14.4: the default page-1h tier can never fire.
		{"never fires", slo.Objective{Name: "a", Target: 0.9}, "Tiers[0].BurnRate"},
		{"never fires latency", slo.Objective{Name: "a", Target: 0.999, Latency: []slo.Threshold{{Max: 1, Target: 0.9}}}, "Tiers[0].BurnRate"},
		{"unknown tier", slo.Objective{Name: "a", Target: 0.99, DisableTiers: []string{"nope"}}, "DisableTiers[0]"},
		{"short > long", slo.Objective{Name: "a", Target: 0.99, Tiers: []slo.Tier{{Name: "x", Severity: slo.Page, Long: time.Hour, Short: 2 * time.Hour, BurnRate: 2}}}, "Tiers[0].Short"},
		{"long > period", slo.Objective{Name: "a", Target: 0.99, Period: time.Hour, Tiers: []slo.Tier{{Name: "x", Severity: slo.Page, Long: 2 * time.Hour, Short: time.Hour, BurnRate: 2}}}, "Tiers[0].Long"},
	}
	for _, c := range cases {
		err := c.obj.Validate()
		var ve *slo.ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, slo.ErrInvalidObjective) {
			t.Errorf("%s: got %v, want a ValidationError", c.name, err)
			continue
		}
		if ve.Field != c.field || !strings.HasPrefix(err.Error(), "slo: ") || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got field %q (%v), want %q", c.name, ve.Field, err, c.field)
		}
	}
	// With the impossible tier turned off, a 90% objective is fine.
	if err := (slo.Objective{Name: "a", Target: 0.9, DisableTiers: []string{"page-1h"}}).Validate(); err != nil {
		t.Errorf("page-6h at 6x with target 0.9 (max 10x) should be valid: got %v", err)
	}
}

func TestDefaultTiersScale(t *testing.T) {
	tiers := slo.DefaultTiers(30 * 24 * time.Hour)
	want := []struct {
		long, short time.Duration
		burn        float64
	}{{time.Hour, 5 * time.Minute, 14.4}, {6 * time.Hour, 30 * time.Minute, 6}, {24 * time.Hour, 2 * time.Hour, 3}, {72 * time.Hour, 6 * time.Hour, 1}}
	for i, w := range want {
		if tiers[i].Long != w.long || tiers[i].Short != w.short || tiers[i].BurnRate != w.burn {
			t.Errorf("tier %d: got %+v, want %+v", i, tiers[i], w)
		}
	}
	// A 7-day period scales the windows by 7/30: 1h -> 14m, 5m -> 1m10s.
	seven := slo.DefaultTiers(7 * 24 * time.Hour)
	if seven[0].Long != 14*time.Minute || seven[0].Short != 70*time.Second || seven[0].BurnRate != 14.4 {
		t.Errorf("7d page tier: got %+v", seven[0])
	}
	// Names follow the scaled windows.
	var names []string
	for _, tr := range slo.DefaultTiers(time.Hour) {
		names = append(names, tr.Name)
	}
	if got := strings.Join(names, " "); got != "page-10s page-30s ticket-2m ticket-6m" {
		t.Errorf("1h period tier names: %s", got)
	}
	if tiers[3].Name != "ticket-3d" || seven[0].Name != "page-14m" {
		t.Errorf("names: %s, %s", tiers[3].Name, seven[0].Name)
	}
}

// Windows up to a day are exact to the 10-second bucket: a 2h window drops
// an event as soon as it is 2h10s old, not a minute later.
func TestDayWindowsAreExactToTheBucket(t *testing.T) {
	m, fc := newMonitor(t)
	m.MustAdd(slo.Objective{Name: "api", Target: 0.99}).RecordN(10, 1)
	fc.Advance(2*time.Hour - 10*time.Second)
	if w, _ := m.Status()[0].Window(2 * time.Hour); w.Total != 10 {
		t.Fatalf("2h window before the edge: %d events, want 10", w.Total)
	}
	fc.Advance(10 * time.Second)
	if w, _ := m.Status()[0].Window(2 * time.Hour); w.Total != 0 {
		t.Errorf("2h window past the edge: %d events, want 0", w.Total)
	}
	fc.Advance(22*time.Hour - 20*time.Second)
	if w, _ := m.Status()[0].Window(24 * time.Hour); w.Total != 10 {
		t.Errorf("1d window before the edge: %d events, want 10", w.Total)
	}
	fc.Advance(20 * time.Second)
	if w, _ := m.Status()[0].Window(24 * time.Hour); w.Total != 0 {
		t.Errorf("1d window past the edge: %d events, want 0", w.Total)
	}
	if w, _ := m.Status()[0].Window(72 * time.Hour); w.Total != 10 {
		t.Errorf("3d window: %d events, want 10", w.Total)
	}
	// Longer windows are exact to the minute at their old edge.
	fc.Advance(48*time.Hour - 10*time.Second)
	if w, _ := m.Status()[0].Window(72 * time.Hour); w.Total != 10 {
		t.Errorf("3d window 10s before its edge: %d events, want 10", w.Total)
	}
	fc.Advance(time.Minute)
	if w, _ := m.Status()[0].Window(72 * time.Hour); w.Total != 0 {
		t.Errorf("3d window a minute past its edge: %d events, want 0", w.Total)
	}
}

func TestStatusMath(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "checkout", Target: 0.99})
	// Two hours ago: 1000 events, 30 bad. Now: 1000 events, 10 bad.
	tr.RecordN(1000, 30)
	fc.Advance(2 * time.Hour)
	tr.RecordN(1000, 10)
	for i := 0; i < 3; i++ {
		tr.Record(true)
	}
	st := m.Evaluate()[0]
	check := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
	}
	h, ok := st.Window(time.Hour)
	if !ok {
		t.Fatal("no 1h window")
	}
	if h.Total != 1003 || h.Bad != 10 {
		t.Errorf("1h window: got %d/%d, want 1003 total 10 bad", h.Total, h.Bad)
	}
	check("1h error ratio", h.ErrorRatio, 10.0/1003)
	check("1h burn rate", h.BurnRate, 10.0/1003/0.01)
	d, _ := st.Window(24 * time.Hour)
	if d.Total != 2003 || d.Bad != 40 {
		t.Errorf("1d window: got %d/%d, want 2003/40", d.Total, d.Bad)
	}
	// Budget: 2003 events allow 20.03 bad; 40 spent: remaining 1-40/20.03.
	check("allowed", st.Budget.Allowed, 20.03)
	check("remaining", st.Budget.Remaining, 1-40/20.03)
	check("remaining events", st.Budget.RemainingEvents, 20.03-40)
	if st.TimeToExhaustion != 0 {
		t.Errorf("overspent budget: time to exhaustion %v, want 0", st.TimeToExhaustion)
	}
}

func TestTimeToExhaustion(t *testing.T) {
	m, _ := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "api", Target: 0.999})
	if st := m.Status()[0]; st.TimeToExhaustion != -1 || st.Budget.Remaining != 1 {
		t.Errorf("no events: got ttl %v remaining %v, want -1 and 1", st.TimeToExhaustion, st.Budget.Remaining)
	}
	// 100000 events, 50 bad, all in the last hour: burn 0.5/0.1 = 0.5,
	// remaining 0.5; at burn 0.5 half a budget lasts a whole period.
	tr.RecordN(100000, 50)
	st := m.Status()[0]
	if math.Abs(st.Budget.Remaining-0.5) > 1e-9 || st.TimeToExhaustion != 30*24*time.Hour {
		t.Errorf("got remaining %v ttl %v, want 0.5 and 720h", st.Budget.Remaining, st.TimeToExhaustion)
	}
}

func TestLongWindowsAreExactSums(t *testing.T) {
	// Traffic that varies 100x: an average of hourly ratios would say 25%,
	// the exact sum says 2/101.
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	tr.RecordN(10000, 100) // busy hour, 1% bad
	fc.Advance(time.Hour)
	tr.RecordN(100, 1) // quiet hour, 1 bad of 100
	fc.Advance(time.Hour)
	st := m.Status()[0]
	d, _ := st.Window(24 * time.Hour)
	if d.Total != 10100 || d.Bad != 101 {
		t.Fatalf("1d window: got %d/%d, want 10100/101", d.Total, d.Bad)
	}
	if want := 101.0 / 10100; math.Abs(d.ErrorRatio-want) > 1e-12 {
		t.Errorf("error ratio: got %v, want %v", d.ErrorRatio, want)
	}
	p, _ := st.Window(30 * 24 * time.Hour)
	if p.Total != 10100 || p.Bad != 101 {
		t.Errorf("30d window: got %d/%d", p.Total, p.Bad)
	}
	// Thirty-one days later everything has left the period.
	fc.Advance(31 * 24 * time.Hour)
	if p, _ := m.Status()[0].Window(30 * 24 * time.Hour); p.Total != 0 {
		t.Errorf("after 31 days: got %d events in the period, want 0", p.Total)
	}
}

func TestLatencyThresholds(t *testing.T) {
	m, _ := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.99, Latency: []slo.Threshold{
		{Max: 100 * time.Millisecond}, {Max: time.Second, Target: 0.999},
	}})
	tr.RecordLatency(50 * time.Millisecond)
	tr.RecordLatency(200 * time.Millisecond)
	tr.RecordLatencies([]time.Duration{2 * time.Second, time.Millisecond, time.Second})
	sts := m.Status()
	if len(sts) != 2 || sts[0].Objective != "orders:100ms" || sts[1].Objective != "orders:1s" {
		t.Fatalf("got series %v", sts)
	}
	for i, want := range []int64{3, 1} { // >100ms: 200ms, 2s, 1s; >1s: 2s
		w, _ := sts[i].Window(time.Hour)
		if w.Total != 5 || w.Bad != want {
			t.Errorf("%s: got %d/%d, want 5 total %d bad", sts[i].Objective, w.Total, w.Bad, want)
		}
	}
	if sts[1].Target != 0.999 || sts[0].Threshold != 100*time.Millisecond {
		t.Errorf("got target %v threshold %v", sts[1].Target, sts[0].Threshold)
	}
}

func TestAddRejects(t *testing.T) {
	m, _ := newMonitor(t)
	m.MustAdd(slo.Objective{Name: "a", Target: 0.99})
	if _, err := m.Add(slo.Objective{Name: "a", Target: 0.999}); !errors.Is(err, slo.ErrDuplicate) {
		t.Errorf("duplicate: got %v", err)
	}
	if _, err := m.Add(slo.Objective{Name: "b", Target: 2}); !errors.Is(err, slo.ErrInvalidObjective) {
		t.Errorf("invalid: got %v", err)
	}
}
