package slo

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/release"
)

// AlertState is the state of one alert of one objective.
type AlertState string

// Alert states.
const (
	OK       AlertState = "ok"
	Firing   AlertState = "firing"
	Disabled AlertState = "disabled" // the severity has no enabled tier
	Resolved AlertState = "resolved" // only in notifications
)

// Labels and values every in-process notification carries.
const (
	// AlertName is the alertname of every burn-rate alert, in process and
	// in the generated rules.
	AlertName = "SLOBurnRate"
	// SourceInProcess is the "source" label of the Monitor's own
	// notifications; the generated rules set SourceRules, so the two stay
	// apart in Alertmanager unless a route merges them on purpose.
	SourceInProcess = "in-process"
	// SourceRules is the "source" label of the generated alerting rules.
	SourceRules = "rules"
)

// Alert is one notification of an objective's page or ticket alert: it
// started firing, is still firing (Repeat), or resolved. Labels are its
// identity (alertname, objective, severity, source, instance and the
// objective's Labels): a tier change inside an episode keeps them, and the
// matching tier is the "tier" annotation.
type Alert struct {
	Objective string
	Severity  Severity
	Tier      string     // the fastest tier that holds (the last one, once resolved)
	State     AlertState // Firing or Resolved
	Repeat    bool       // a resend of an alert already notified as firing
	StartsAt  time.Time
	EndsAt    time.Time // when it resolved; zero while firing
	At        time.Time // evaluation time
	If        string    // the condition with its numbers, as a clause ("objective orders ... burns ...")
	Do        string    // the objective's Runbook
	SoThat    string    // the objective's Outcome
	Numbers   Numbers
	Incident  string // id of the episode's incident
	// Labels identify the alert; Annotations carry summary, description
	// (If, Do and So that in prose), runbook_url (when Runbook is a URL),
	// tier, incident, the objective's Annotations and the service, version
	// and release of WithRelease.
	Labels      map[string]string
	Annotations map[string]string
}

// Numbers are the figures an alert or incident is judged on: those of one
// tier's two windows.
type Numbers struct {
	LongWindow      time.Duration `json:"long_window"`
	ShortWindow     time.Duration `json:"short_window"`
	BurnRateLong    float64       `json:"burn_rate_long"`
	BurnRateShort   float64       `json:"burn_rate_short"`
	Threshold       float64       `json:"threshold"` // the tier's burn rate
	Events          int64         `json:"events"`    // in the long window
	BadEvents       int64         `json:"bad_events"`
	ShortBadEvents  int64         `json:"short_bad_events"`
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
		return fmt.Errorf("slo: numbers: %w", err)
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

// AlertStatus is an objective's page or ticket alert as of the last
// evaluation.
type AlertStatus struct {
	Severity Severity
	State    AlertState // OK, Firing or Disabled
	Since    time.Time  // when State last changed; zero if never evaluated
	Tier     string     // the fastest tier that holds; empty unless firing
	Numbers  Numbers    // the figures of Tier
	Incident string     // the episode's incident id while firing
}

// TierStatus is one tier's condition as of the last evaluation.
type TierStatus struct {
	Tier
	Threshold float64 // the error ratio both windows must exceed: BurnRate*(1-Target)
	Holds     bool    // both windows above Threshold and the low-traffic guards met
	Disabled  bool
	Numbers   Numbers
}

// tierState is one tier's condition; guarded by Monitor.evalMu.
type tierState struct {
	tier      Tier
	disabled  bool
	threshold float64
	holds     bool
	numbers   Numbers
}

// sevState is the page or ticket alert of one series; guarded by
// Monitor.evalMu.
type sevState struct {
	severity Severity
	disabled bool // no enabled tier of this severity
	firing   bool
	since    time.Time  // when firing last changed
	start    time.Time  // when it last started firing (StartsAt)
	tier     *tierState // the fastest holding tier while firing, the last one after
	sent     time.Time  // last firing notification
	notified bool       // a firing notification went out in this episode
	closed   bool       // and its resolution too: the episode sends no more of this severity
}

// indicator is one tracked series with its alerts.
type indicator struct {
	name      string
	obj       Objective
	target    float64
	threshold time.Duration
	s         *series
	windows   []time.Duration
	// Guarded by Monitor.evalMu:
	tiers     []*tierState
	sev       [2]*sevState // page, ticket
	inc       *Incident    // the open episode
	release   release.Info // the Monitor's WithRelease, set before Evaluate sees in
	impact    string       // Objective.Impact's text at this evaluation
	rel       releases     // events per release (ForRelease)
	exhausted bool
	led       bool                      // with a store: this replica led at the last evaluation
	units     atomic.Pointer[journal]   // with a store: the journal of the objective's Pending
	published atomic.Pointer[published] // copy for lock-free readers
	// fleet is the other replicas' history (WithStore), nil without a
	// store; replaced by every evaluation.
	fleet atomic.Pointer[fleetView]
}

type published struct {
	alerts    []AlertStatus
	tiers     []TierStatus
	exhausted bool
}

func newIndicator(o Objective, name string, target float64, threshold time.Duration, now time.Time) *indicator {
	ws := windowsFor(o)
	in := &indicator{name: name, obj: o, target: target, threshold: threshold,
		s: newSeries(o.Period, minuteSpanFor(ws, o.Period), now.UnixNano()), windows: ws}
	for _, t := range o.Tiers {
		in.tiers = append(in.tiers, &tierState{tier: t, disabled: o.disabled(t.Name), threshold: errorThreshold(t.BurnRate, target)})
	}
	for i, sev := range []Severity{Page, Ticket} {
		st := &sevState{severity: sev, disabled: true}
		for _, t := range in.tiers {
			if t.tier.Severity == sev && !t.disabled {
				st.disabled = false
			}
		}
		in.sev[i] = st
	}
	in.publish()
	return in
}

// resume takes up the episode left open in the log, so the next
// evaluation continues or resolves it (a severity notified before the
// restart is resent as a Repeat, not as a new page). Called before the
// indicator is visible to Evaluate.
func (in *indicator) resume(inc *Incident) {
	in.inc = inc
	in.sev[0].notified, in.sev[0].start = inc.Pages > 0, inc.Started
	in.sev[1].notified, in.sev[1].start = inc.Tickets > 0, inc.Started
	in.publish()
}

// publish copies the alert states for lock-free readers. Requires evalMu
// held (or no concurrent evaluation).
func (in *indicator) publish() {
	p := &published{exhausted: in.exhausted}
	for _, sv := range in.sev {
		as := AlertStatus{Severity: sv.severity, State: OK, Since: sv.since}
		switch {
		case sv.disabled:
			as.State = Disabled
		case sv.firing:
			as.State, as.Tier, as.Numbers = Firing, sv.tier.tier.Name, sv.tier.numbers
			if in.inc != nil {
				as.Incident = in.inc.ID
			}
		}
		p.alerts = append(p.alerts, as)
	}
	for _, t := range in.tiers {
		p.tiers = append(p.tiers, TierStatus{Tier: t.tier, Threshold: t.threshold, Holds: t.holds,
			Disabled: t.disabled, Numbers: t.numbers})
	}
	in.published.Store(p)
}

func (in *indicator) snapshot() *published { return in.published.Load() }

// change is what an evaluation decided to tell the world.
type change struct {
	alerts  []Alert
	records []IncidentRecord
}

// evaluate decides both alerts of in from st. Requires Monitor.evalMu held.
func (in *indicator) evaluate(st Status, resend time.Duration, ids func(string, time.Time) string) change {
	var ch change
	now := st.At
	in.conditions(st)
	var started, stopped []*sevState
	var why []string
	for _, sv := range in.sev {
		fastest := in.fastest(sv.severity)
		switch {
		case fastest != nil && !sv.firing:
			sv.firing, sv.since, sv.tier = true, now, fastest
			if !sv.notified || sv.start.IsZero() {
				sv.start = now // a resumed episode keeps its start
			}
			started = append(started, sv)
			why = append(why, fmt.Sprintf("%s fires (%s)", sv.severity, fastest.tier.Name))
		case fastest == nil && sv.firing:
			sv.firing, sv.since = false, now
			stopped = append(stopped, sv)
			why = append(why, fmt.Sprintf("%s resolved", sv.severity))
		case fastest != nil && fastest != sv.tier:
			why = append(why, fmt.Sprintf("%s tier %s -> %s", sv.severity, sv.tier.tier.Name, fastest.tier.Name))
			sv.tier = fastest
		}
	}
	anyFiring := in.sev[0].firing || in.sev[1].firing
	opened := in.inc == nil && anyFiring
	if opened {
		in.inc = in.newIncident(ids(in.name, now), now)
	}
	if anyFiring {
		if added := in.inc.see(seenBy(st, in.leadTier())); len(added) > 0 && !opened {
			why = append(why, "seen by "+strings.Join(added, ", "))
		}
	}
	for _, sv := range started {
		if !sv.notified {
			sv.notified, sv.sent = true, now
			if sv.severity == Page {
				in.inc.Pages++
			} else {
				in.inc.Tickets++
			}
			ch.alerts = append(ch.alerts, in.alert(sv, st, false))
		}
	}
	for _, sv := range stopped {
		if sv.notified && !sv.closed {
			sv.closed = true
			al := in.alert(sv, st, false)
			al.State, al.EndsAt = Resolved, now
			ch.alerts = append(ch.alerts, in.markResolved(al))
		}
	}
	if opened {
		ch.records = append(ch.records, in.record("opened", now, strings.Join(why, "; ")))
		why = nil
	}
	if in.inc != nil {
		if in.exhausted && !in.inc.BudgetExhausted {
			in.inc.BudgetExhausted = true
			why = append(why, "error budget exhausted")
		}
		if !anyFiring {
			// A severity notified before a restart that no longer fires
			// is resolved once, so Alertmanager does not wait out its hold.
			for _, sv := range in.sev {
				if sv.notified && !sv.closed {
					sv.tier = in.lastTier(sv.severity)
					al := in.alert(sv, st, false)
					al.State, al.EndsAt = Resolved, now
					ch.alerts = append(ch.alerts, in.markResolved(al))
				}
				sv.notified, sv.closed = false, false
			}
			in.inc.resolve(now, in.incidentNumbers())
			ch.records = append(ch.records, in.record("resolved", now, ""))
			in.inc = nil
		} else {
			if in.impact != "" {
				in.inc.Impact = in.impact // written with the episode's next record
			}
			if in.inc.track(now, in.incidentNumbers(), in.currentSeverity(), in.currentTier()) {
				why = append(why, "new peak")
			}
			if len(why) > 0 {
				ch.records = append(ch.records, in.record("updated", now, strings.Join(why, "; ")))
			}
			for _, sv := range in.sev {
				if sv.firing && sv.notified && !sv.closed && now.Sub(sv.sent) >= resend {
					sv.sent = now
					ch.alerts = append(ch.alerts, in.alert(sv, st, true))
				}
			}
		}
	}
	in.publish()
	return ch
}

// conditions decides every tier's condition from st. Requires evalMu held.
func (in *indicator) conditions(st Status) {
	for _, t := range in.tiers {
		t.holds, t.numbers = in.condition(t, st)
		if t.disabled {
			t.holds = false
		}
	}
	in.exhausted = st.BudgetExhausted
}

// fastest returns the holding tier of sev with the shortest long window,
// nil when none holds.
func (in *indicator) fastest(sev Severity) *tierState {
	var fastest *tierState
	for _, t := range in.tiers {
		if t.holds && t.tier.Severity == sev && (fastest == nil || t.tier.Long < fastest.tier.Long) {
			fastest = t
		}
	}
	return fastest
}

// leadTier is the tier of the highest severity firing, nil when none is.
func (in *indicator) leadTier() *tierState {
	for _, sv := range in.sev {
		if sv.firing {
			return sv.tier
		}
	}
	return nil
}

// lastTier returns the fastest enabled tier of severity, for a resolved
// notification of an alert this process never saw firing.
func (in *indicator) lastTier(sev Severity) *tierState {
	for _, t := range in.tiers {
		if t.tier.Severity == sev && !t.disabled {
			return t
		}
	}
	return in.tiers[0]
}

// currentSeverity is the highest severity firing (Page over Ticket).
func (in *indicator) currentSeverity() Severity {
	if in.sev[0].firing {
		return Page
	}
	return Ticket
}

func (in *indicator) currentTier() string {
	for _, sv := range in.sev {
		if sv.firing {
			return sv.tier.tier.Name
		}
	}
	return ""
}

// incidentNumbers are the figures of the tier that leads the episode.
func (in *indicator) incidentNumbers() Numbers {
	for _, sv := range in.sev {
		if sv.firing {
			return sv.tier.numbers
		}
	}
	for _, sv := range in.sev {
		if sv.tier != nil {
			return sv.tier.numbers
		}
	}
	return Numbers{}
}

func (in *indicator) record(change string, now time.Time, why string) IncidentRecord {
	return IncidentRecord{Version: incidentVersion, Change: change, At: now, Why: why, Incident: in.inc.clone()}
}

// condition reports whether tier t holds in st, with its numbers.
func (in *indicator) condition(t *tierState, st Status) (bool, Numbers) {
	long, _ := st.Window(t.tier.Long)
	short, _ := st.Window(t.tier.Short)
	n := Numbers{LongWindow: t.tier.Long, ShortWindow: t.tier.Short, BurnRateLong: long.BurnRate,
		BurnRateShort: short.BurnRate, Threshold: t.tier.BurnRate, Events: long.Total, BadEvents: long.Bad,
		ShortBadEvents: short.Bad, BudgetRemaining: st.Budget.Remaining}
	holds := long.Total >= in.obj.MinEvents && short.Bad >= in.obj.MinBadEvents &&
		above(counts{long.Total, long.Bad}, t.threshold) && above(counts{short.Total, short.Bad}, t.threshold)
	return holds, n
}

// alert renders sv's firing notification.
func (in *indicator) alert(sv *sevState, st Status, repeat bool) Alert {
	t := sv.tier
	n := t.numbers
	cond := fmt.Sprintf("objective %s (target %s over %s) burns its error budget at %.1fx over %s and %.1fx over %s, above tier %s's %gx; %d bad of %d events in %s; %.1f%% of the budget left",
		in.name, pct(in.target), fmtDuration(in.obj.Period), n.BurnRateLong, fmtDuration(n.LongWindow),
		n.BurnRateShort, fmtDuration(n.ShortWindow), t.tier.Name, t.tier.BurnRate, n.BadEvents, n.Events,
		fmtDuration(n.LongWindow), 100*n.BudgetRemaining)
	cond = in.withImpact(cond)
	al := Alert{Objective: in.name, Severity: sv.severity, Tier: t.tier.Name, State: Firing, Repeat: repeat,
		StartsAt: sv.start, At: st.At, If: cond, Do: in.obj.Runbook, SoThat: in.obj.Outcome, Numbers: n}
	if in.inc != nil {
		al.Incident = in.inc.ID
	}
	al.Labels = map[string]string{"alertname": AlertName, "objective": in.name, "severity": string(sv.severity),
		"source": SourceInProcess}
	maps.Copy(al.Labels, in.obj.Labels)
	al.Annotations = maps.Clone(in.obj.Annotations)
	if al.Annotations == nil {
		al.Annotations = map[string]string{}
	}
	al.Annotations["summary"] = fmt.Sprintf("%s: error budget burning at %.1fx (%s %s)", in.name, n.BurnRateLong, sv.severity, t.tier.Name)
	al.Annotations["description"] = describe(cond, in.obj.Runbook, in.obj.Outcome)
	al.Annotations["tier"] = t.tier.Name
	if isURL(in.obj.Runbook) {
		al.Annotations["runbook_url"] = in.obj.Runbook
	}
	if al.Incident != "" {
		al.Annotations["incident"] = al.Incident
	}
	in.annotateImpact(al.Annotations)
	for _, a := range [...][2]string{{"service", in.release.Service}, {"version", in.release.Version}, {"release", in.release.ID}} {
		if _, set := al.Annotations[a[0]]; !set && a[1] != "" {
			al.Annotations[a[0]] = a[1]
		}
	}
	return al
}

// clone copies a with its own label and annotation maps.
func (a Alert) clone() Alert {
	a.Labels, a.Annotations = maps.Clone(a.Labels), maps.Clone(a.Annotations)
	return a
}

// markResolved rewrites a firing notification's text as a resolution.
func (in *indicator) markResolved(al Alert) Alert {
	al.If = fmt.Sprintf("objective %s no longer burns its error budget above any %s tier (last: %s)", in.name, al.Severity, al.Tier)
	al.Annotations["summary"] = fmt.Sprintf("Resolved: %s: error budget no longer burning fast enough to %s", in.name, al.Severity)
	al.Annotations["description"] = "Resolved. " + describe(al.If, "", al.SoThat)
	return al
}

// describe writes IF, DO and SO THAT as prose.
func describe(cond, do, soThat string) string {
	var b strings.Builder
	b.WriteString("If " + cond)
	if do != "" {
		b.WriteString(", do: " + do)
	}
	if soThat != "" {
		b.WriteString(", so that " + soThat)
	}
	b.WriteString(".")
	return b.String()
}

func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func pct(target float64) string { return fmt.Sprintf("%g%%", 100*target) }

// Evaluate computes every objective's status now, moves alerts between
// states, writes incident records, counts the late units of Pending
// trackers and queues notifications. The Monitor's goroutine calls it on
// every tick; call it yourself for an evaluation on demand. It returns the
// statuses.
func (m *Monitor) Evaluate() []Status {
	impacts := m.impacts() // user code: outside evalMu
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	now := m.clock.Now()
	for _, p := range m.pendings() {
		p.expire(now)
	}
	lead := true
	if m.fleet != nil {
		lead = m.fleet.sync(m, now)
	}
	var out []Status
	for _, in := range m.indicators() {
		if j := in.units.Load(); lead && j != nil {
			var others []*unitsState
			if v := in.fleet.Load(); v != nil {
				others = v.units
			}
			j.decide(now, others)
		}
		st := in.computeStatus(now)
		in.impact = impacts[in]
		var ch change
		switch {
		case !lead:
			in.follow(st, m.openIncidents(in.name))
		case m.fleet != nil && !in.led:
			m.takeOver(in, now)
			fallthrough
		default:
			if in.inc != nil && m.fleet != nil {
				// Acks and notes written on other replicas.
				for _, inc := range m.openIncidents(in.name) {
					if inc.ID == in.inc.ID {
						in.inc.mergeOperator(&inc)
					}
				}
			}
			ch = in.evaluate(st, m.cfg.resend, m.incidentID)
		}
		in.fill(&st)
		out = append(out, st)
		for _, r := range ch.records {
			if err := m.writeRecord(r); err != nil {
				m.log.Error("slo: incident log", "err", err, "incident", r.Incident.ID)
			}
		}
		for _, a := range ch.alerts {
			if m.instance != "" && m.fleet == nil {
				a.Labels["instance"] = m.instance
			}
			if m.quiet {
				break
			}
			for _, d := range m.dispatchers {
				d.enqueue(a.clone()) // each notifier may keep or change its maps
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

// fill copies the last evaluation's alert and tier states into st.
func (in *indicator) fill(st *Status) {
	p := in.snapshot()
	st.Alerts, st.Tiers = p.alerts, p.tiers
}

// Status returns every objective's status now, with the alert states of
// the last evaluation. It does not evaluate.
func (m *Monitor) Status() []Status {
	now := m.clock.Now()
	var out []Status
	for _, in := range m.indicators() {
		st := in.computeStatus(now)
		in.fill(&st)
		out = append(out, st)
	}
	return out
}
