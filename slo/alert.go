package slo

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

// AlertState is the state of one alert of one objective.
type AlertState string

// Alert states. Suppressed means the condition holds but a faster tier of
// the same objective fires, so this one stays quiet.
const (
	OK         AlertState = "ok"
	Firing     AlertState = "firing"
	Suppressed AlertState = "suppressed"
	Disabled   AlertState = "disabled"
	Resolved   AlertState = "resolved" // only in notifications
)

// Alert is one notification: an alert that started firing, is still
// firing (Repeat), or resolved. It reads IF ... DO ... SO THAT ...
type Alert struct {
	Objective string
	Tier      string // tier name, or BudgetExhausted
	Severity  Severity
	State     AlertState // Firing or Resolved
	Repeat    bool       // a resend of an alert already notified as firing
	StartsAt  time.Time
	EndsAt    time.Time // when it resolved; zero while firing
	At        time.Time // evaluation time
	If        string    // the condition with its numbers
	Do        string    // the objective's Runbook
	SoThat    string    // the objective's Outcome
	Numbers   Numbers
	Incident  string // id of the incident the alert opened
}

// Numbers are the figures an alert or incident is judged on.
type Numbers struct {
	LongWindow      time.Duration `json:"long_window"`
	ShortWindow     time.Duration `json:"short_window"`
	BurnRateLong    float64       `json:"burn_rate_long"`
	BurnRateShort   float64       `json:"burn_rate_short"`
	Threshold       float64       `json:"threshold"` // the tier's burn rate
	Events          int64         `json:"events"`    // in the long window
	BadEvents       int64         `json:"bad_events"`
	BudgetRemaining float64       `json:"budget_remaining"`
}

// numbersJSON writes the windows as durations ("1h0m0s") rather than
// nanoseconds, so the incident log reads well to people auditing it.
type numbersJSON struct {
	plainNumbers
	LongWindow  string `json:"long_window"`
	ShortWindow string `json:"short_window"`
}

type plainNumbers Numbers // without the methods, to avoid recursion

// MarshalJSON implements json.Marshaler.
func (n Numbers) MarshalJSON() ([]byte, error) {
	return json.Marshal(numbersJSON{plainNumbers(n), n.LongWindow.String(), n.ShortWindow.String()})
}

// UnmarshalJSON implements json.Unmarshaler, reading what MarshalJSON writes.
func (n *Numbers) UnmarshalJSON(b []byte) error {
	var j numbersJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*n = Numbers(j.plainNumbers)
	var err error
	if n.LongWindow, err = parseWindow("long_window", j.LongWindow); err == nil {
		n.ShortWindow, err = parseWindow("short_window", j.ShortWindow)
	}
	return err
}

func parseWindow(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("slo: %s is %q, want a duration such as 1h0m0s", field, s)
	}
	return d, nil
}

// AlertStatus is one alert as of the last evaluation.
type AlertStatus struct {
	Tier     string
	Severity Severity
	State    AlertState
	Since    time.Time // when State last changed; zero if never evaluated
	Long     time.Duration
	Short    time.Duration
	BurnRate float64 // threshold
	Numbers  Numbers // as of the last evaluation
	Incident string  // open incident id while firing
}

// alertState is the evaluation state of one alert; guarded by Monitor.evalMu.
type alertState struct {
	tier     Tier
	disabled bool
	state    AlertState
	since    time.Time
	sent     time.Time // last notification
	numbers  Numbers
	inc      *Incident // open incident while firing
}

// indicator is one tracked series with its alerts.
type indicator struct {
	name      string
	obj       Objective
	target    float64
	threshold time.Duration
	s         *series
	windows   []time.Duration
	alerts    []*alertState                 // tiers in order, then budget-exhausted; guarded by Monitor.evalMu
	published atomic.Pointer[[]AlertStatus] // copy of alerts for readers
}

func newIndicator(o Objective, name string, target float64, threshold time.Duration) *indicator {
	in := &indicator{name: name, obj: o, target: target, threshold: threshold, s: newSeries(o.Period), windows: windowsFor(o)}
	for _, t := range o.Tiers {
		in.alerts = append(in.alerts, &alertState{tier: t, disabled: o.disabled(t.Name), state: OK})
	}
	in.alerts = append(in.alerts, &alertState{
		tier: Tier{Name: BudgetExhausted, Severity: Ticket, Long: o.Period, Short: o.Period}, disabled: o.disabled(BudgetExhausted), state: OK,
	})
	for _, a := range in.alerts {
		if a.disabled {
			a.state = Disabled
		}
	}
	in.publish()
	return in
}

// resume attaches incidents left open in the log to their alerts, so the
// next evaluation either continues or resolves them. Called before the
// indicator is visible to Evaluate.
func (in *indicator) resume(open []*Incident) {
	for _, inc := range open {
		for _, a := range in.alerts {
			if a.tier.Name == inc.Tier && !a.disabled && a.inc == nil {
				a.state, a.since, a.inc = Firing, inc.Started, inc
			}
		}
	}
	in.publish()
}

// publish copies the alert states for lock-free readers. Requires evalMu
// held (or no concurrent evaluation).
func (in *indicator) publish() {
	out := make([]AlertStatus, len(in.alerts))
	for i, a := range in.alerts {
		out[i] = AlertStatus{Tier: a.tier.Name, Severity: a.tier.Severity, State: a.state, Since: a.since,
			Long: a.tier.Long, Short: a.tier.Short, BurnRate: a.tier.BurnRate, Numbers: a.numbers}
		if a.inc != nil {
			out[i].Incident = a.inc.ID
		}
	}
	in.published.Store(&out)
}

func (in *indicator) alertsSnapshot() []AlertStatus { return *in.published.Load() }

// change is what an evaluation decided to tell the world.
type change struct {
	alerts  []Alert
	records []IncidentRecord
}

// evaluate decides every alert of in from st. Requires Monitor.evalMu held.
func (in *indicator) evaluate(st Status, resend time.Duration) change {
	var ch change
	now := st.At
	faster := false // a faster tier fires
	for _, a := range in.alerts {
		if a.disabled {
			continue
		}
		cond, nums := in.condition(a, st)
		a.numbers = nums
		next := OK
		switch {
		case cond && faster && a.tier.Name != BudgetExhausted:
			next = Suppressed
		case cond:
			next = Firing
		}
		if a.tier.Name != BudgetExhausted && next == Firing {
			faster = true
		}
		prev, prevSince := a.state, a.since
		if next != prev {
			a.state, a.since = next, now
		}
		switch {
		case prev != Firing && next == Firing:
			a.inc = newIncident(in, a, now)
			a.sent = now
			ch.records = append(ch.records, IncidentRecord{Change: "opened", At: now, Incident: *a.inc})
			ch.alerts = append(ch.alerts, in.alert(a, st, false))
		case prev == Firing && next != Firing:
			if a.inc != nil {
				a.inc.resolve(now, nums)
				ch.records = append(ch.records, IncidentRecord{Change: "resolved", At: now, Incident: *a.inc})
			}
			al := in.alert(a, st, false)
			al.State, al.StartsAt, al.EndsAt = Resolved, prevSince, now
			ch.alerts = append(ch.alerts, al)
			a.inc = nil
		case next == Firing:
			if a.inc.update(now, nums) {
				ch.records = append(ch.records, IncidentRecord{Change: "updated", At: now, Incident: *a.inc})
			}
			if now.Sub(a.sent) >= resend {
				a.sent = now
				ch.alerts = append(ch.alerts, in.alert(a, st, true))
			}
		}
	}
	in.publish()
	return ch
}

// condition reports whether alert a's condition holds in st.
func (in *indicator) condition(a *alertState, st Status) (bool, Numbers) {
	if a.tier.Name == BudgetExhausted {
		p := st.Windows[len(st.Windows)-1]
		n := Numbers{LongWindow: p.Window, ShortWindow: p.Window, BurnRateLong: p.BurnRate, BurnRateShort: p.BurnRate,
			Threshold: 1, Events: p.Total, BadEvents: p.Bad, BudgetRemaining: st.Budget.Remaining}
		return p.Total >= in.obj.MinEvents && st.Budget.Remaining <= 0, n
	}
	long, _ := st.Window(a.tier.Long)
	short, _ := st.Window(a.tier.Short)
	n := Numbers{LongWindow: a.tier.Long, ShortWindow: a.tier.Short, BurnRateLong: long.BurnRate,
		BurnRateShort: short.BurnRate, Threshold: a.tier.BurnRate, Events: long.Total, BadEvents: long.Bad,
		BudgetRemaining: st.Budget.Remaining}
	// A relative epsilon so a burn rate equal to the threshold, computed
	// through floating point, counts as reaching it.
	reach := func(b float64) bool { return b >= a.tier.BurnRate*(1-1e-9) }
	return long.Total >= in.obj.MinEvents && reach(long.BurnRate) && reach(short.BurnRate), n
}

// alert renders a's notification.
func (in *indicator) alert(a *alertState, st Status, repeat bool) Alert {
	n := a.numbers
	var cond string
	if a.tier.Name == BudgetExhausted {
		cond = fmt.Sprintf("IF objective %s (target %s over %s) has spent its error budget: %d bad of %d events, %.1f%% of budget left",
			in.name, pct(in.target), fmtDuration(in.obj.Period), n.BadEvents, n.Events, 100*n.BudgetRemaining)
	} else {
		cond = fmt.Sprintf("IF objective %s (target %s over %s) burns its error budget at %.1fx over %s and %.1fx over %s (tier %s fires at %gx); %d bad of %d events in %s; %.1f%% of budget left",
			in.name, pct(in.target), fmtDuration(in.obj.Period), n.BurnRateLong, fmtDuration(n.LongWindow),
			n.BurnRateShort, fmtDuration(n.ShortWindow), a.tier.Name, a.tier.BurnRate, n.BadEvents, n.Events,
			fmtDuration(n.LongWindow), 100*n.BudgetRemaining)
	}
	al := Alert{Objective: in.name, Tier: a.tier.Name, Severity: a.tier.Severity, State: Firing, Repeat: repeat,
		StartsAt: a.since, At: st.At, If: cond, Do: in.obj.Runbook, SoThat: in.obj.Outcome, Numbers: n}
	if a.inc != nil {
		al.Incident = a.inc.ID
	}
	return al
}

func pct(target float64) string { return fmt.Sprintf("%g%%", 100*target) }

// Evaluate computes every objective's status now, moves alerts between
// states, writes incident records and queues notifications. The Monitor's
// goroutine calls it on every tick; call it yourself for an evaluation on
// demand. It returns the statuses.
func (m *Monitor) Evaluate() []Status {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	now := m.clock.Now()
	var out []Status
	for _, in := range m.indicators() {
		st := in.computeStatus(now)
		ch := in.evaluate(st, m.cfg.resend)
		st.Alerts = in.alertsSnapshot()
		out = append(out, st)
		for _, r := range ch.records {
			if err := m.incidents.append(r); err != nil {
				m.log.Error("slo: incident log", "err", err, "incident", r.Incident.ID)
			}
		}
		for _, a := range ch.alerts {
			if m.quiet {
				break
			}
			for _, d := range m.dispatchers {
				d.enqueue(a)
			}
		}
	}
	if m.cfg.snapshotPath != "" && now.Sub(m.lastSave) >= m.cfg.snapshotEach {
		m.lastSave = now
		if err := m.SaveSnapshot(); err != nil {
			m.log.Error("slo: snapshot", "err", err)
		}
	}
	return out
}

// Status returns every objective's status now, with the alert states of
// the last evaluation. It does not evaluate.
func (m *Monitor) Status() []Status {
	now := m.clock.Now()
	var out []Status
	for _, in := range m.indicators() {
		st := in.computeStatus(now)
		st.Alerts = in.alertsSnapshot()
		out = append(out, st)
	}
	return out
}
