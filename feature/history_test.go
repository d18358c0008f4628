package feature_test

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/feature"
)

// historyFeature is one feature of a generated 90-day history with its
// known truth.
type historyFeature struct {
	name    string
	since   time.Time
	tenants int                  // distinct tenants per day (the same set every day); 0 = none
	uses    func(age int) int64  // uses on the day age days before today (0 = today)
	active  func(age int) bool   // whether it is used that day at all
	status  feature.Status       // the truth
	trend   string               // the truth ("" = not checked)
	monthly func(m float64) bool // the fitted monthly change must satisfy this
}

func always(int) bool { return true }

// TestNinetyDayHistoryMatchesTheTruth imports 90 days of usage for a
// catalog whose every status and trend is known, and checks the headline,
// the rarity (relative to 2,000 active tenants), the trend labels and
// that every tenant figure carries its error and is within it.
func TestNinetyDayHistoryMatchesTheTruth(t *testing.T) {
	r, _ := newRegistry(t)
	old := start.Add(-200 * day)
	flat := func(n int64) func(int) int64 { return func(int) int64 { return n } }
	catalog := []historyFeature{
		{name: "core", since: old, tenants: 2000, uses: flat(10000), active: always, status: feature.StatusUsed, trend: "flat"},
		{name: "used-100", since: old, tenants: 100, uses: flat(300), active: always, status: feature.StatusUsed, trend: "flat"},
		{name: "used-300", since: old, tenants: 300, uses: flat(900), active: always, status: feature.StatusUsed, trend: "flat"},
		// Used by 25 of 2,000 tenants: more than 1 % (20).
		{name: "border-25", since: old, tenants: 25, uses: flat(40), active: always, status: feature.StatusUsed},
		// Used by 4 and 15 of 2,000: rarely used (the old absolute rule,
		// fewer than 3 tenants, called both "used").
		{name: "rare-4", since: old, tenants: 4, uses: flat(6), active: always, status: feature.StatusRare},
		{name: "rare-15", since: old, tenants: 15, uses: flat(20), active: always, status: feature.StatusRare},
		// A steady decline of 44 % a month: week over week that is only -12 %.
		{name: "decline-44", since: old, tenants: 200, uses: func(age int) int64 { return int64(math.Round(2000 * math.Pow(0.56, float64(89-age)/30))) },
			active: always, status: feature.StatusUsed, trend: "down", monthly: func(m float64) bool { return m > -0.48 && m < -0.40 }},
		// A 70 % drop a month ago, flat since: the week-over-week change is 0.
		{name: "drop-70", since: old, tenants: 200, uses: func(age int) int64 {
			if age > 30 {
				return 1000
			}
			return 300
		}, active: always, status: feature.StatusUsed, trend: "down", monthly: func(m float64) bool { return m < -0.3 }},
		{name: "grow-50", since: old, tenants: 200, uses: func(age int) int64 { return int64(math.Round(200 * math.Pow(1.5, float64(89-age)/30))) },
			active: always, status: feature.StatusUsed, trend: "up", monthly: func(m float64) bool { return m > 0.42 && m < 0.58 }},
		// Last used 9 days ago: not "never used".
		{name: "nine-days", since: old, tenants: 10, uses: flat(10), active: func(age int) bool { return age == 9 }, status: feature.StatusUnused, trend: "gone"},
		{name: "never-1", since: old, status: feature.StatusNeverUsed, trend: "none"},
		{name: "never-2", since: old, status: feature.StatusNeverUsed, trend: "none"},
		{name: "new-grace", since: start.Add(-5 * day), status: feature.StatusTooNew, trend: "none"},
	}
	for _, hf := range catalog {
		define(t, r, hf.name, hf.since)
		if hf.uses == nil {
			continue
		}
		ids := make([]string, hf.tenants)
		for i := range ids {
			ids[i] = fmt.Sprintf("tenant-%d", i) // subsets of core's 2,000
		}
		for age := 89; age >= 0; age-- {
			if !hf.active(age) {
				continue
			}
			if err := r.Import(feature.DayUsage{Feature: hf.name, Day: start.Add(-time.Duration(age) * day), Uses: hf.uses(age), Tenants: ids}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep := reportOf(t, r, feature.Policy{})
	rareOrNever := 0
	for _, hf := range catalog {
		if hf.status == feature.StatusRare || hf.status == feature.StatusUnused || hf.status == feature.StatusNeverUsed {
			rareOrNever++
		}
	}
	wantPct := math.Round(1000*float64(rareOrNever)/float64(len(catalog))) / 10
	wantHead := fmt.Sprintf("%s %% of features rarely or never used (%d of %d; rarely: fewer than 20 tenants, 1 %% of the ", strings.TrimSuffix(fmt.Sprintf("%.1f", wantPct), ".0"), rareOrNever, len(catalog))
	if !strings.HasPrefix(rep.Headline, wantHead) || rep.Summary.RareOrNeverPct != wantPct {
		t.Errorf("headline %q (%v %%), want it to start %q", rep.Headline, rep.Summary.RareOrNeverPct, wantHead)
	}
	if rep.Summary.Tenants < 1900 || rep.Summary.Tenants > 2100 || rep.Summary.TenantsErr <= 0 {
		t.Errorf("active tenants %d ±%v, want 2000 with an error", rep.Summary.Tenants, rep.Summary.TenantsErr)
	}
	for _, hf := range catalog {
		fr := line(t, rep, hf.name)
		if fr.Status != hf.status {
			t.Errorf("%s: status %q, want %q", hf.name, fr.Status, hf.status)
		}
		if hf.trend != "" && fr.Trend != hf.trend {
			t.Errorf("%s: trend %q (monthly %v), want %q", hf.name, fr.Trend, deref(fr.Monthly), hf.trend)
		}
		if hf.monthly != nil && (fr.Monthly == nil || !hf.monthly(*fr.Monthly)) {
			t.Errorf("%s: monthly change %v out of the truth's range", hf.name, deref(fr.Monthly))
		}
		truth := 0
		if hf.uses != nil && hf.active(0) {
			truth = hf.tenants
		}
		if fr.Tenants > 0 && fr.TenantsErr <= 0 {
			t.Errorf("%s: %d tenants without an error", hf.name, fr.Tenants)
		}
		if d := math.Abs(float64(fr.Tenants - int64(truth))); d > 4*fr.TenantsErr+1 {
			t.Errorf("%s: %d ±%v tenants, truth %d", hf.name, fr.Tenants, fr.TenantsErr, truth)
		}
	}
	if drop := line(t, rep, "drop-70"); drop.Change == nil || math.Abs(*drop.Change) > 0.01 {
		t.Errorf("drop-70: the week-over-week change is %v; the test's premise (flat week over week) is wrong", deref(drop.Change))
	}
	for _, name := range []string{"decline-44", "drop-70"} {
		if !slices.Contains(rep.Declining, name) {
			t.Errorf("declining = %v, want %s in it", rep.Declining, name)
		}
	}
	for _, f := range []feature.Format{feature.HTML, feature.Markdown, feature.CSV, feature.JSON} {
		if out := render(t, rep, f); !strings.Contains(out, rep.Headline[:20]) {
			t.Errorf("%s lacks the headline", f)
		}
	}
	if md := render(t, rep, feature.Markdown); !regexp.MustCompile(`\| decline\\-44 \|.*\| down \\-4[345]%/month \|`).MatchString(md) {
		t.Errorf("Markdown does not show decline-44's monthly rate:\n%s", md)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
