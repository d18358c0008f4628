package slo

import (
	"math"
	"slices"
	"time"
)

// Status is an objective's state at one moment.
type Status struct {
	Objective string        // the series name
	Target    float64       // fraction of good events promised
	Period    time.Duration // rolling compliance window
	Threshold time.Duration // latency threshold; zero for availability
	Runbook   string
	Outcome   string
	At        time.Time
	// Windows has one entry per window the alerts and page use, shortest
	// first, ending with the period.
	Windows []WindowStatus
	Budget  Budget
	// TimeToExhaustion is how long the remaining budget lasts at the burn
	// rate of the last hour: zero when spent, -1 when nothing burns.
	TimeToExhaustion time.Duration
	// Observed is how much of the period the history covers: less than
	// Period on a service younger than its period, whose budget and burn
	// rates are those of the period so far.
	Observed time.Duration
	// BudgetExhausted is true when the period's error ratio is above the
	// budget (1-Target) and the period holds at least MinEvents events. It
	// is a state, not an alert: it notifies nobody.
	BudgetExhausted bool
	// Alerts holds the page alert then the ticket alert, as of the last
	// evaluation.
	Alerts []AlertStatus
	// Tiers holds every tier's condition, as of the last evaluation.
	Tiers []TierStatus
	// Replicas is every replica's share of the events of a fleet (WithStore),
	// by instance; Windows and Budget above are their sum. Nil without a
	// store.
	Replicas []Share
}

// WindowStatus is the exact event count of one window.
type WindowStatus struct {
	Window     time.Duration
	Total, Bad int64
	ErrorRatio float64 // Bad/Total; zero without events
	BurnRate   float64 // ErrorRatio / (1-Target): 1 spends the budget exactly in one period
}

// Budget is the error budget over the period.
type Budget struct {
	Total   int64   `json:"total"`   // events in the period
	Bad     int64   `json:"bad"`     // bad events in the period
	Allowed float64 `json:"allowed"` // bad events the target allows: Total*(1-Target)
	// Remaining is the unspent fraction, 1 untouched, 0 spent, negative
	// when overspent; 1 without events.
	Remaining       float64 `json:"remaining"`
	RemainingEvents float64 `json:"remaining_events"` // Allowed - Bad
}

// Window returns the status of the window of length w, if present.
func (s Status) Window(w time.Duration) (WindowStatus, bool) {
	for _, ws := range s.Windows {
		if ws.Window == w {
			return ws, true
		}
	}
	return WindowStatus{}, false
}

// windowsFor lists the windows an indicator reports: the usual display
// windows, every tier's two windows and the period.
func windowsFor(o Objective) []time.Duration {
	ws := []time.Duration{5 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}
	for _, t := range o.Tiers {
		ws = append(ws, t.Long, t.Short)
	}
	ws = append(ws, o.Period)
	slices.Sort(ws)
	ws = slices.Compact(ws)
	return slices.DeleteFunc(ws, func(w time.Duration) bool { return w > o.Period })
}

// burnRate converts counts to a burn rate for target.
func burnRate(c counts, target float64) (ratio, burn float64) {
	if c.Total <= 0 {
		return 0, 0
	}
	ratio = float64(c.Bad) / float64(c.Total)
	return ratio, ratio / (1 - target)
}

// computeStatus sums every window at now; alerts are filled by the caller.
func (in *indicator) computeStatus(now time.Time) Status {
	st := Status{
		Objective: in.name, Target: in.target, Period: in.obj.Period, Threshold: in.threshold,
		Runbook: in.obj.Runbook, Outcome: in.obj.Outcome, At: now,
		Windows: make([]WindowStatus, len(in.windows)),
	}
	ns := now.UnixNano()
	s := in.s
	sums := make([]counts, len(in.windows))
	s.mu.Lock()
	s.foldAllLocked(ns)
	s.sumsLocked(ns, in.windows, sums)
	s.mu.Unlock()
	st.Replicas = in.addFleet(ns, sums)
	for i, w := range in.windows {
		c := sums[i]
		ratio, burn := burnRate(c, in.target)
		st.Windows[i] = WindowStatus{Window: w, Total: c.Total, Bad: c.Bad, ErrorRatio: ratio, BurnRate: burn}
	}
	period := st.Windows[len(st.Windows)-1]
	st.Budget = budgetOf(period, in.target)
	st.BudgetExhausted = period.Total >= in.obj.MinEvents && above(counts{period.Total, period.Bad}, errorThreshold(1, in.target))
	hour, _ := st.Window(time.Hour)
	st.TimeToExhaustion = timeToExhaustion(st.Budget.Remaining, hour.BurnRate, in.obj.Period)
	st.Observed = in.observedFleet(ns)
	return st
}

// above reports whether c's error ratio is strictly above threshold, the
// comparison the generated rules make.
func above(c counts, threshold float64) bool {
	return c.Total > 0 && float64(c.Bad)/float64(c.Total) > threshold
}

// budgetOf turns the period's counts into the error budget.
func budgetOf(period WindowStatus, target float64) Budget {
	b := Budget{Total: period.Total, Bad: period.Bad, Allowed: float64(period.Total) * (1 - target), Remaining: 1}
	b.RemainingEvents = b.Allowed - float64(b.Bad)
	if period.Total > 0 {
		b.Remaining = 1 - float64(period.Bad)/b.Allowed
	}
	return b
}

// timeToExhaustion projects how long remaining lasts at burn: a burn rate
// of 1 spends a whole budget in one period.
func timeToExhaustion(remaining, burn float64, period time.Duration) time.Duration {
	switch {
	case remaining <= 0:
		return 0
	case burn <= 0:
		return -1
	}
	d := remaining / burn * float64(period)
	if d > math.MaxInt64/2 {
		return -1
	}
	return time.Duration(d).Round(time.Second)
}

// burnDown returns the remaining budget fraction at the end of each hour of
// the period, oldest first, spending the bad events of the current period
// against the budget its events allow. The last point equals
// Budget.Remaining up to the hour rounding.
func (in *indicator) burnDown(now time.Time) []float64 {
	n := int(in.obj.Period / hourWidth)
	s := in.s
	s.mu.Lock()
	s.foldAllLocked(now.UnixNano())
	hours := s.hourlyLocked(now.UnixNano(), n)
	s.mu.Unlock()
	in.addFleetHours(now.UnixNano(), hours)
	var total counts
	for _, h := range hours {
		total.add(h)
	}
	allowed := float64(total.Total) * (1 - in.target)
	out := make([]float64, n)
	var bad int64
	for i, h := range hours {
		bad += h.Bad
		out[i] = 1
		if allowed > 0 {
			out[i] = 1 - float64(bad)/allowed
		}
	}
	return out
}
