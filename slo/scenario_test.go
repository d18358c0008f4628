package slo_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// scenario is traffic over time for a 99.9% objective over 30 days with
// the default tiers, evaluated every 10 seconds: step returns the events
// and bad events of the 10 seconds starting at offset since the scenario
// began (recorded at its start; the evaluation comes at its end). The same scenarios run in promtool against the generated rules
// (rules_test.go), so first-fire and resolve times can be compared within
// one evaluation interval.
type scenario struct {
	name     string
	warm     bool          // 30 days of healthy traffic at 10/s first
	duration time.Duration // of the traffic pattern; it then runs healthy until every alert resolves
	step     func(offset time.Duration) (total, bad int64)
	// want
	pages, tickets int // firing notifications
	firstPage      time.Duration
	// rules: minutes at which the generated rules, in promtool on the same
	// traffic (TestRulesScenarios), start and stop firing: page fires, page
	// resolves, ticket fires, ticket resolves; -1 for never. In process
	// agrees within one rule evaluation interval (a minute).
	rules [4]int
}

// outage is a 100% failure from 0 to d at 10 events a second.
func outage(d time.Duration) func(time.Duration) (int64, int64) {
	return func(off time.Duration) (int64, int64) {
		if off < d {
			return 100, 100
		}
		return 100, 0
	}
}

// burn is a steady error ratio from 0 to d at 10 events a second.
func burn(ratio float64, d time.Duration) func(time.Duration) (int64, int64) {
	return func(off time.Duration) (int64, int64) {
		if off < d {
			return 100, int64(100 * ratio)
		}
		return 100, 0
	}
}

var scenarios = []scenario{
	{name: "S1 10-minute 100% outage", warm: true, duration: 10 * time.Minute, step: outage(10 * time.Minute),
		pages: 1, tickets: 1, firstPage: time.Minute, rules: [4]int{1, 40, 5, 370}},
	{name: "S2 2% for 6h", warm: true, duration: 6 * time.Hour, step: burn(0.02, 6*time.Hour), pages: 1, tickets: 1,
		rules: [4]int{44, 381, 217, 702}},
	{name: "S3 1% for 6h", warm: true, duration: 6 * time.Hour, step: burn(0.01, 6*time.Hour), pages: 1, tickets: 0,
		rules: [4]int{217, 372, -1, -1}},
	{name: "S4 3-minute spike", warm: true, duration: 3 * time.Minute, step: outage(3 * time.Minute),
		pages: 1, tickets: 0, firstPage: time.Minute, rules: [4]int{1, 33, -1, -1}},
	// A new service, one request a minute, failures at minutes 60, 180 and
	// 300: no page (never 3 bad events in a page tier's short window); the
	// 1% error ratio over 5 hours opens one ticket once the 6h window holds
	// all three failures.
	{name: "S5 1/min, 3 failures", duration: 380 * time.Minute, step: func(off time.Duration) (int64, int64) {
		if off%time.Minute != 0 {
			return 0, 0
		}
		switch off {
		case 60 * time.Minute, 180 * time.Minute, 300 * time.Minute:
			return 1, 1
		}
		return 1, 0
	}, pages: 0, tickets: 1, rules: [4]int{-1, -1, 301, 421}},
	{name: "S6 10% for 1h, then recovery", warm: true, duration: time.Hour, step: burn(0.1, time.Hour), pages: 1, tickets: 1,
		rules: [4]int{9, 89, 44, 417}},
}

// TestScenarios runs each scenario in process on the fake clock: one
// incident per episode, at most one page and one ticket, each resolved
// once, and the times logged for comparison with the rules.
func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates days of traffic")
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var mu sync.Mutex
			var sent []slo.Alert
			m, fc := newMonitor(t, slo.WithResendInterval(1000*time.Hour), slo.WithNotifyRate(time.Nanosecond, 1000),
				slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
					mu.Lock()
					sent = append(sent, a)
					mu.Unlock()
					return nil
				})))
			tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
			if sc.warm {
				warm(fc, tr, 30*24*time.Hour, 10)
			}
			begin := fc.Now()
			times := map[string]time.Duration{}
			mark := func(key string) {
				if _, ok := times[key]; !ok {
					times[key] = fc.Now().Sub(begin)
				}
			}
			prev := map[slo.Severity]bool{}
			for off := time.Duration(0); off < sc.duration+3*24*time.Hour; off += 10 * time.Second {
				if total, bad := sc.step(off); total > 0 {
					tr.RecordN(total, bad)
				}
				fc.Advance(10 * time.Second)
				st := m.Evaluate()[0]
				for _, a := range st.Alerts {
					on := a.State == slo.Firing
					if on && !prev[a.Severity] {
						mark(string(a.Severity) + " fires")
					}
					if !on && prev[a.Severity] {
						mark(string(a.Severity) + " resolves")
					}
					prev[a.Severity] = on
				}
				if off > sc.duration && !prev[slo.Page] && !prev[slo.Ticket] {
					break
				}
			}
			if err := m.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			incs := m.Incidents()
			t.Logf("%s: %v; incidents %d", sc.name, times, len(incs))
			count := map[slo.Severity]map[slo.AlertState]int{slo.Page: {}, slo.Ticket: {}}
			for _, a := range sent {
				count[a.Severity][a.State]++
			}
			if got := count[slo.Page][slo.Firing]; got != sc.pages {
				t.Errorf("pages: %d, want %d", got, sc.pages)
			}
			if got := count[slo.Ticket][slo.Firing]; got != sc.tickets {
				t.Errorf("tickets: %d, want %d", got, sc.tickets)
			}
			for _, sev := range []slo.Severity{slo.Page, slo.Ticket} {
				if count[sev][slo.Resolved] != count[sev][slo.Firing] {
					t.Errorf("%s: %d firing, %d resolved notifications", sev, count[sev][slo.Firing], count[sev][slo.Resolved])
				}
			}
			wantIncidents := 0
			if sc.pages+sc.tickets > 0 {
				wantIncidents = 1
			}
			if len(incs) != wantIncidents || (len(incs) == 1 && incs[0].Open()) {
				t.Errorf("incidents: %+v, want %d resolved", incs, wantIncidents)
			}
			if sc.firstPage > 0 && times["page fires"] != sc.firstPage {
				t.Errorf("first page at %v, want %v", times["page fires"], sc.firstPage)
			}
			for i, key := range []string{"page fires", "page resolves", "ticket fires", "ticket resolves"} {
				got, ok := times[key]
				if want := sc.rules[i]; want < 0 {
					if ok {
						t.Errorf("%s at %v; the rules never do", key, got)
					}
				} else if d := time.Duration(want)*time.Minute - got; !ok || d < 0 || d > time.Minute {
					t.Errorf("%s at %v (seen %v), the rules at %dm: want at most one minute earlier", key, got, ok, want)
				}
			}
		})
	}
}
