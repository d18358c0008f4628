package feature

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Policy sets a report's period and thresholds. The zero Policy is the
// default: a 7-day period; a 30-day grace period; rarely used under 1 % of
// the period's active tenants (and always under 3 tenants), or under 10 uses
// when no use carries a tenant; the trend and "declining" from the change
// per 30 days fitted over the last 8 complete weeks (declining: −30 % a
// month or worse, from at least 20 uses); failing when today has at least 5
// failures and its failure ratio or failing tenants rose against yesterday.
type Policy struct {
	// Days is the length of the period, ending today (UTC) or before End's
	// day, compared with the period just before it. 1 to MaxPeriodDays; 0
	// means 7.
	Days int
	// End, when set, ends the period: the report covers the Days whole UTC
	// days before End's UTC day (End on Monday: the Days days ending on
	// Sunday), and every figure — uses, tenants, failing (on the period's
	// last day against the day before), the comparison with the previous
	// period, the trend (the weeks ending with the period), the grace period
	// and the headline — is as of that end. End may be at most the end of
	// today (tomorrow 00:00 UTC), and the period and the one before it must
	// lie within the KeepDays days kept. Zero: the period ending today.
	// Kill switches, first and last seen and catalog drift are as of the
	// report whatever End is.
	End time.Time
	// Grace is how long a declared feature may go unused before it is
	// reported as never used; 0 means 30 days.
	Grace time.Duration
	// RareShare: a used feature with fewer distinct tenants in the period
	// than this share of the period's active tenants (tenants that used any
	// feature) is rarely used; 0 means 0.01 (1 %).
	RareShare float64
	// RareTenants is a floor under RareShare: fewer tenants than this is
	// always rarely used; 0 means 3.
	RareTenants int64
	// RareUses applies instead when no use in the period carried a tenant;
	// 0 means 10.
	RareUses int64
	// DeclineDrop is the fall per 30 days (fitted over the last 8 complete
	// weeks) that counts as declining, as a fraction; 0 means 0.3.
	DeclineDrop float64
	// DeclineMin is the fewest uses over those 8 weeks for a fall to count;
	// 0 means 20.
	DeclineMin int64
	// FailMin is the fewest failures today for a feature to be listed as
	// failing; 0 means 5.
	FailMin int64
}

// MaxPeriodDays is the longest period that still has a previous period to
// compare with inside the 90 days kept.
const MaxPeriodDays = KeepDays / 2

func (p Policy) withDefaults() Policy {
	if p.Days == 0 {
		p.Days = 7
	}
	if p.Grace == 0 {
		p.Grace = 30 * 24 * time.Hour
	}
	if p.RareShare == 0 {
		p.RareShare = 0.01
	}
	if p.RareTenants == 0 {
		p.RareTenants = 3
	}
	if p.FailMin == 0 {
		p.FailMin = 5
	}
	if p.RareUses == 0 {
		p.RareUses = 10
	}
	if p.DeclineDrop == 0 {
		p.DeclineDrop = 0.3
	}
	if p.DeclineMin == 0 {
		p.DeclineMin = 20
	}
	return p
}

func (p Policy) validate() error {
	switch {
	case p.Days < 0 || p.Days > MaxPeriodDays:
		return fmt.Errorf("%w: policy days %d, want 1 to %d", ErrInvalid, p.Days, MaxPeriodDays)
	case p.Grace < 0:
		return fmt.Errorf("%w: policy grace %v, want >= 0", ErrInvalid, p.Grace)
	case p.RareTenants < 0:
		return fmt.Errorf("%w: policy rare tenants %d, want >= 0", ErrInvalid, p.RareTenants)
	case p.RareUses < 0:
		return fmt.Errorf("%w: policy rare uses %d, want >= 0", ErrInvalid, p.RareUses)
	case p.DeclineMin < 0:
		return fmt.Errorf("%w: policy decline min %d, want >= 0", ErrInvalid, p.DeclineMin)
	case p.FailMin < 0:
		return fmt.Errorf("%w: policy fail min %d, want >= 0", ErrInvalid, p.FailMin)
	case p.RareShare < 0 || p.RareShare > 1 || math.IsNaN(p.RareShare):
		return fmt.Errorf("%w: policy rare share %v, want 0 to 1", ErrInvalid, p.RareShare)
	case p.DeclineDrop < 0 || p.DeclineDrop > 1 || math.IsNaN(p.DeclineDrop):
		return fmt.Errorf("%w: policy decline drop %v, want 0 to 1", ErrInvalid, p.DeclineDrop)
	}
	return nil
}

// Status classifies a feature in a report.
type Status string

// The statuses, from best to worst.
const (
	StatusUsed   Status = "used"
	StatusRare   Status = "rarely used"
	StatusTooNew Status = "unused, in grace period"
	// StatusUnused: used before, but not in the period.
	StatusUnused    Status = "not used in the period"
	StatusNeverUsed Status = "never used"
)

// Report is usage over a period compared with the previous period, for every
// declared feature of every instance whose snapshot is in the directory.
// Every tenant figure is an estimate and carries its standard error
// (the *Err fields).
type Report struct {
	// Headline is the product owner's figure, first in every format:
	// "N % of features rarely or never used (…)".
	Headline string    `json:"headline"`
	Failing  []Failing `json:"failing"` // failing today, worst first
	// Switched says which features are switched off: "orders.bulk:
	// switched off by automation at 2025-03-12 10:02 UTC: why (…)".
	Switched   []string        `json:"switched"`
	Generated  time.Time       `json:"generated"`
	From       time.Time       `json:"from"` // first day of the period (UTC midnight)
	To         time.Time       `json:"to"`   // end of the period (exclusive)
	Days       int             `json:"days"`
	Instances  []string        `json:"instances"`
	Summary    Summary         `json:"summary"`
	Features   []FeatureReport `json:"features"` // failing first, then most used
	NeverUsed  []string        `json:"never_used"`
	RarelyUsed []string        `json:"rarely_used"` // rarely used or not used in the period
	Declining  []string        `json:"declining"`
	New        []string        `json:"new"`
	Drift      []DriftReport   `json:"drift"`
	Warnings   []string        `json:"warnings,omitempty"`
	Method     string          `json:"method"`
}

// Summary counts the catalog by status.
type Summary struct {
	RareOrNever    int     `json:"rarely_or_never_used"` // rarely used, not used in the period or never used
	RareOrNeverPct float64 `json:"rarely_or_never_used_pct"`
	RareBelow      int64   `json:"rare_below_tenants"` // the rarity threshold in tenants this period
	Declared       int     `json:"declared"`
	Used           int     `json:"used"`
	Rarely         int     `json:"rarely_used"`
	Unused         int     `json:"unused_in_period"`
	Never          int     `json:"never_used"`
	InGrace        int     `json:"in_grace"`
	UsedPct        float64 `json:"used_pct"`
	RarelyPct      float64 `json:"rarely_used_pct"` // rarely used or not used in the period
	NeverPct       float64 `json:"never_used_pct"`
	Tenants        int64   `json:"tenants"` // distinct tenants active in the period (estimate)
	TenantsErr     float64 `json:"tenants_err"`
	TotalUses      int64   `json:"total_uses"`
	TotalFailures  int64   `json:"total_failures"`
	Saturated      bool    `json:"tenants_saturated,omitempty"`
	HasTenants     bool    `json:"has_tenants"`
}

// FeatureReport is one feature's line in a report.
type FeatureReport struct {
	Name         string    `json:"name"`
	Owner        string    `json:"owner"`
	Description  string    `json:"description"`
	Since        time.Time `json:"since"`
	Status       Status    `json:"status"`
	Uses         int64     `json:"uses"`
	PrevUses     int64     `json:"previous_uses"`
	Failures     int64     `json:"failures"`
	PrevFailures int64     `json:"previous_failures"`
	// Change is the relative change in uses from the previous period (0.5 =
	// +50%); nil when the previous period had no uses.
	Change *float64 `json:"change"`
	// Monthly is the change per 30 days fitted (log-linear least squares)
	// over the weekly uses of the last 8 complete weeks; nil with fewer than
	// 3 weeks of history. Trend is labelled from it.
	Monthly           *float64  `json:"monthly_change"`
	Tenants           int64     `json:"tenants"`
	TenantsErr        float64   `json:"tenants_err"`
	PrevTenants       int64     `json:"previous_tenants"`
	PrevTenantsErr    float64   `json:"previous_tenants_err"`
	FailingTenants    int64     `json:"failing_tenants"`
	FailingTenantsErr float64   `json:"failing_tenants_err"`
	AdoptionPct       float64   `json:"adoption_pct"` // share of the period's active tenants
	MeanLatencyMs     float64   `json:"mean_latency_ms,omitempty"`
	FirstSeen         time.Time `json:"first_seen,omitzero"`
	LastSeen          time.Time `json:"last_seen,omitzero"`
	Trend             string    `json:"trend"` // up, down, flat, new, gone or none
	Daily             []int64   `json:"daily"` // uses per day over both periods, oldest first
	Saturated         bool      `json:"tenants_saturated,omitempty"`
	Reasons           []Reason  `json:"reasons,omitempty"` // the most frequent failure reasons (at most 3)
	// Switch is the feature's kill switch, when it has ever been switched
	// (the latest switch of any instance; trial counts summed).
	Switch *SwitchState `json:"switch,omitempty"`
}

// Failing is a feature whose failures rose today against yesterday.
type Failing struct {
	Name        string    `json:"name"`
	Summary     string    `json:"summary"` // "orders.bulk is failing for 37 (±0.5) tenants, 12 % of its users, since 10:02 UTC; top reason: …"
	Since       time.Time `json:"since"`   // the start of the failing episode, or else the first failure today
	Uses        int64     `json:"uses"`    // today
	Failures    int64     `json:"failures"`
	Ratio       float64   `json:"ratio"`          // failures / uses today
	PrevRatio   float64   `json:"previous_ratio"` // yesterday
	Tenants     int64     `json:"tenants"`        // failing tenants today
	TenantsErr  float64   `json:"tenants_err"`
	PrevTenants int64     `json:"previous_tenants"`
	UsersPct    float64   `json:"users_pct"` // failing tenants as a share of today's tenants
	Reasons     []Reason  `json:"reasons"`
}

// DriftReport is an undeclared name that was used.
type DriftReport struct {
	Name      string    `json:"name"`
	Uses      int64     `json:"uses"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// period is the days a report covers: from..last (UTC day numbers), today
// and ref, the first day after the trend's weeks (today when the period
// ends today, else End's day: the weeks ending with the period).
type period struct {
	from, last, today, ref int64
	ended                  bool // End was set: the period is over
}

// periodAt checks p.End against now (p with defaults) and returns the period.
func (p Policy) periodAt(now time.Time) (period, error) {
	today := dayOf(unixMinute(now))
	if p.End.IsZero() || p.End.Equal(dayTime(today+1)) { // the end of today: the period ending today
		return period{from: today - int64(p.Days) + 1, last: today, today: today, ref: today}, nil
	}
	endDay := dayOf(unixMinute(p.End))
	if p.End.After(dayTime(today + 1)) {
		return period{}, fmt.Errorf("%w: policy end %s is after today's end (%s)", ErrInvalid,
			p.End.UTC().Format(time.RFC3339), dayTime(today+1).Format(time.RFC3339))
	}
	if oldest := today - KeepDays + 1; endDay-2*int64(p.Days) < oldest {
		return period{}, fmt.Errorf("%w: policy end %s: the %d days before it and the %d before those begin before the %d days kept (from %s)", ErrInvalid,
			p.End.UTC().Format(time.RFC3339), p.Days, p.Days, KeepDays, day(dayTime(oldest)))
	}
	return period{from: endDay - int64(p.Days), last: endDay - 1, today: today, ref: endDay, ended: true}, nil
}

// Report computes the report for the policy over this instance's live counts
// merged with the other instances' snapshots in the directory.
func (r *Registry) Report(p Policy) (*Report, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	p = p.withDefaults()
	st, instances, warnings := r.fleetState()
	per, err := p.periodAt(st.Saved)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	declared := make([]*featState, 0, len(r.features))
	for _, f := range r.features {
		if fs := st.Features[f.name]; fs != nil { // nil: defined after the capture
			declared = append(declared, fs)
		}
	}
	evicted := r.driftEvicted.Load()
	r.mu.Unlock()
	if evicted > 0 {
		warnings = append(warnings, fmt.Sprintf("the drift table forgot %d undeclared names (raise WithDriftSize)", evicted))
	}
	rep := build(st.Saved, p, per, declared, st.Drift)
	sort.Strings(instances)
	rep.Instances, rep.Warnings = instances, warnings
	return rep, nil
}

func build(now time.Time, p Policy, per period, declared []*featState, drift map[string]*driftState) *Report {
	from, last := per.from, per.last
	prevFrom := from - int64(p.Days)
	// asOf is the moment the statuses are judged at: now, or the period's end.
	asOf, failMin := now, unixMinute(now)
	if per.ended {
		asOf, failMin = dayTime(last+1), unixMinute(dayTime(last+1))-1
	}
	rep := &Report{Generated: now, From: dayTime(from), To: dayTime(last + 1), Days: p.Days, Failing: []Failing{}, Switched: []string{},
		NeverUsed: []string{}, RarelyUsed: []string{}, Declining: []string{}, New: []string{}, Drift: []DriftReport{}}
	var all [tenantWords]uint64
	lines := make([]FeatureReport, 0, len(declared))
	for _, f := range declared {
		var cur, prev, failing [tenantWords]uint64
		fr := FeatureReport{Name: f.Name, Owner: f.Owner, Description: f.Description, Since: f.Since,
			FirstSeen: seenTime(f.First), LastSeen: seenTime(f.Last), Daily: make([]int64, 0, 2*p.Days)}
		var latNs, latN int64
		for d := prevFrom; d <= last; d++ {
			ds := f.Days[d]
			if ds == nil {
				fr.Daily = append(fr.Daily, 0)
				continue
			}
			fr.Daily = append(fr.Daily, ds.Uses)
			target := &prev
			if d >= from {
				target = &cur
				fr.Uses += ds.Uses
				fr.Failures += ds.Fails
				latNs, latN = latNs+ds.LatNs, latN+ds.LatN
				orInto(&failing, &ds.FailBits)
			} else {
				fr.PrevUses += ds.Uses
				fr.PrevFailures += ds.Fails
			}
			orInto(target, &ds.Bits)
		}
		if latN > 0 {
			fr.MeanLatencyMs = math.Round(float64(latNs)/float64(latN)/1e4) / 100
		}
		fr.Tenants, fr.TenantsErr, fr.Saturated = estimateIfAny(&cur)
		fr.PrevTenants, fr.PrevTenantsErr, _ = estimateIfAny(&prev)
		fr.FailingTenants, fr.FailingTenantsErr, _ = estimateIfAny(&failing)
		orInto(&all, &cur)
		fr.Change, _ = change(fr.Uses, fr.PrevUses)
		fr.Monthly, fr.Trend = trend(f, per, fr.Uses, fr.PrevUses)
		if len(f.Reasons) > 0 {
			fr.Reasons = f.Reasons[:min(3, len(f.Reasons))]
		}
		if f.Switch != nil {
			sw := *f.Switch
			fr.Switch = &sw
			if !sw.On {
				rep.Switched = append(rep.Switched, f.Name+": "+sw.String())
			}
		}
		if fl, ok := failingOn(f, failMin, per.ended, p); ok {
			rep.Failing = append(rep.Failing, fl)
		}
		lines = append(lines, fr)
	}
	s := &rep.Summary
	s.Tenants, s.TenantsErr, s.Saturated = estimateIfAny(&all)
	s.HasTenants = s.Tenants > 0
	s.RareBelow = max(p.RareTenants, int64(math.Ceil(p.RareShare*float64(s.Tenants))))
	graceEnd := asOf.Add(-p.Grace)
	for i := range lines {
		fr := &lines[i]
		s.TotalUses += fr.Uses
		s.TotalFailures += fr.Failures
		if s.Tenants > 0 {
			fr.AdoptionPct = pct(int(min(fr.Tenants, s.Tenants)), int(s.Tenants))
		}
		switch {
		case fr.Uses == 0 && fr.Since.After(graceEnd):
			fr.Status = StatusTooNew
			s.InGrace++
		case fr.Uses == 0 && !fr.LastSeen.IsZero() && fr.FirstSeen.Before(rep.To):
			fr.Status = StatusUnused
			s.Unused++
			rep.RarelyUsed = append(rep.RarelyUsed, fr.Name)
		case fr.Uses == 0:
			fr.Status = StatusNeverUsed
			s.Never++
			rep.NeverUsed = append(rep.NeverUsed, fr.Name)
		case (s.HasTenants && fr.Tenants < s.RareBelow) || (!s.HasTenants && fr.Uses < p.RareUses):
			fr.Status = StatusRare
			s.Rarely++
			rep.RarelyUsed = append(rep.RarelyUsed, fr.Name)
		default:
			fr.Status = StatusUsed
			s.Used++
		}
		if declining(fr, p, declared, per) {
			rep.Declining = append(rep.Declining, fr.Name)
		}
		if fr.Uses > 0 && !fr.FirstSeen.Before(rep.From) {
			rep.New = append(rep.New, fr.Name)
		}
	}
	s.Declared = len(lines)
	s.RareOrNever = s.Rarely + s.Unused + s.Never
	s.UsedPct, s.RarelyPct, s.NeverPct = pct(s.Used, s.Declared), pct(s.Rarely+s.Unused, s.Declared), pct(s.Never, s.Declared)
	s.RareOrNeverPct = pct(s.RareOrNever, s.Declared)
	rep.Headline = headline(s, p)
	sort.SliceStable(rep.Failing, func(i, j int) bool {
		a, b := rep.Failing[i], rep.Failing[j]
		if a.Tenants != b.Tenants {
			return a.Tenants > b.Tenants
		}
		if a.Ratio != b.Ratio {
			return a.Ratio > b.Ratio
		}
		return a.Name < b.Name
	})
	rank := map[string]int{}
	for i, fl := range rep.Failing {
		rank[fl.Name] = i + 1
	}
	sort.SliceStable(lines, func(i, j int) bool {
		ri, rj := rank[lines[i].Name], rank[lines[j].Name]
		if (ri > 0) != (rj > 0) {
			return ri > 0
		}
		if ri != rj {
			return ri < rj
		}
		if lines[i].Uses != lines[j].Uses {
			return lines[i].Uses > lines[j].Uses
		}
		return lines[i].Name < lines[j].Name
	})
	rep.Features = lines
	for _, list := range [][]string{rep.NeverUsed, rep.RarelyUsed, rep.Declining, rep.New} {
		sort.Strings(list)
	}
	for _, name := range sortedNames(drift) {
		d := drift[name]
		rep.Drift = append(rep.Drift, DriftReport{Name: d.Name, Uses: d.Uses, FirstSeen: seenTime(d.First), LastSeen: seenTime(d.Last)})
	}
	sort.SliceStable(rep.Drift, func(i, j int) bool { return rep.Drift[i].Uses > rep.Drift[j].Uses })
	rep.Method = methodNote(p, per)
	return rep
}

func orInto(dst, src *[tenantWords]uint64) {
	for i := range dst {
		dst[i] |= src[i]
	}
}

// headline is the product owner's sentence.
func headline(s *Summary, p Policy) string {
	rare := fmt.Sprintf("rarely: fewer than %d tenants, %s of the %s active tenants", s.RareBelow, pctText(p.RareShare*100), tenantsText(s.Tenants, s.TenantsErr))
	if !s.HasTenants {
		rare = fmt.Sprintf("rarely: fewer than %d uses; no use carried a tenant", p.RareUses)
	}
	return fmt.Sprintf("%s of features rarely or never used (%d of %d; %s)", pctText(s.RareOrNeverPct), s.RareOrNever, s.Declared, rare)
}

// pctText formats a percentage without a needless decimal: "45 %", "12.5 %".
func pctText(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + " %"
}

// tenantsText is an estimate with its error: "3712 ±41".
func tenantsText(n int64, err float64) string {
	return fmt.Sprintf("%d ±%s", n, errText(err))
}

func errText(err float64) string {
	if err < 1 {
		return "<1"
	}
	return strconv.FormatFloat(math.Round(err), 'f', 0, 64)
}

// failingOn says whether the feature's failures rose on the day of nowMin
// (today, or the last day of an ended period: past, with nowMin its last
// minute) against the day before: at least p.FailMin failures that day, and
// a failure ratio at least 1.5 times the day before's and 1 point higher,
// or failing tenants at least 1.5 times the day before's and 2 more.
func failingOn(f *featState, nowMin int64, past bool, p Policy) (Failing, bool) {
	today := dayOf(nowMin)
	cur, prev := f.Days[today], f.Days[today-1]
	if cur == nil || cur.Fails < p.FailMin || cur.Fails == 0 {
		return Failing{}, false
	}
	if prev == nil {
		prev = &dayState{}
	}
	fl := Failing{Name: f.Name, Uses: cur.Uses, Failures: cur.Fails, Since: seenTime(cur.FirstFail), Reasons: []Reason{}}
	if f.failingAt(nowMin) && (!past || f.EpLast <= nowMin) { // a later episode says nothing of that day
		fl.Since = seenTime(f.EpStart) // the current episode, also when it began before midnight
	}
	fl.Ratio = ratio(cur.Fails, cur.Uses)
	fl.PrevRatio = ratio(prev.Fails, prev.Uses)
	fl.Tenants, fl.TenantsErr, _ = estimateIfAny(&cur.FailBits)
	fl.PrevTenants, _, _ = estimateIfAny(&prev.FailBits)
	users, _, _ := estimateIfAny(&cur.Bits)
	ratioRose := fl.Ratio >= 1.5*fl.PrevRatio && fl.Ratio >= fl.PrevRatio+0.01
	tenantsRose := fl.Tenants > 0 && float64(fl.Tenants) >= 1.5*float64(fl.PrevTenants) && fl.Tenants >= fl.PrevTenants+2
	if !ratioRose && !tenantsRose {
		return Failing{}, false
	}
	if users > 0 {
		fl.UsersPct = pct(int(min(fl.Tenants, users)), int(users))
	}
	if len(f.Reasons) > 0 {
		fl.Reasons = f.Reasons[:min(3, len(f.Reasons))]
	}
	fl.Summary = failingSentence(fl, minuteTime(nowMin), past)
	return fl, true
}

func failingSentence(fl Failing, now time.Time, past bool) string {
	var b strings.Builder
	if fl.Tenants > 0 {
		fmt.Fprintf(&b, "%s is failing for %s tenants, %s of its users", fl.Name, tenantsText(fl.Tenants, fl.TenantsErr), pctText(fl.UsersPct))
	} else {
		fmt.Fprintf(&b, "%s is failing", fl.Name)
	}
	on, before := "today", "yesterday"
	if past {
		on, before = "on "+day(now), "the day before"
	}
	fmt.Fprintf(&b, " (%d of %d uses %s, %s; %s %s), since %s", fl.Failures, fl.Uses, on, pctText(fl.Ratio*100), before, pctText(fl.PrevRatio*100), sinceText(fl.Since, now))
	if len(fl.Reasons) > 0 {
		fmt.Fprintf(&b, "; top reason: %q (%d times)", fl.Reasons[0].Text, fl.Reasons[0].Count)
	}
	return b.String()
}

func ratio(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// trendWeeks is how many complete weeks the monthly change is fitted over.
const trendWeeks = 8

// weekly returns the uses of the trendWeeks complete weeks ending the day
// before per.ref (yesterday, or the period's last day), oldest first, and
// how many of them lie after the feature's first use and within the days
// kept (the weeks with history).
func weekly(f *featState, per period) (weeks [trendWeeks]float64, history int) {
	firstDay := dayOf(f.First)
	for w := range trendWeeks {
		end := per.ref - 1 - int64(trendWeeks-1-w)*7 // last day of week w
		for d := end - 6; d <= end; d++ {
			if ds := f.Days[d]; ds != nil {
				weeks[w] += float64(ds.Uses)
			}
		}
		if f.First != 0 && end-6 >= firstDay && end-6 > per.today-KeepDays {
			history++
		}
	}
	return weeks, history
}

// declining: the monthly change, or without one the period's change, is
// a fall of at least p.DeclineDrop from at least p.DeclineMin uses.
func declining(fr *FeatureReport, p Policy, declared []*featState, per period) bool {
	if fr.Monthly != nil {
		return *fr.Monthly <= -p.DeclineDrop && weeksUses(declared, fr.Name, per) >= p.DeclineMin
	}
	return fr.PrevUses >= p.DeclineMin && float64(fr.Uses) <= float64(fr.PrevUses)*(1-p.DeclineDrop)
}

func weeksUses(declared []*featState, name string, per period) int64 {
	for _, f := range declared {
		if f.Name == name {
			w, _ := weekly(f, per)
			var n float64
			for _, x := range w {
				n += x
			}
			return int64(n)
		}
	}
	return 0
}

// trend fits log(weekly uses + 1) over the weeks with history and returns
// the change per 30 days and its label: up (+10 % a month or more), down
// (−10 % or worse), flat; new with under 3 weeks of history; gone when the
// period has no use but the previous one had; none when neither had.
func trend(f *featState, per period, uses, prevUses int64) (*float64, string) {
	weeks, history := weekly(f, per)
	switch {
	case uses == 0 && prevUses == 0:
		return nil, "none"
	case uses == 0:
		c := -1.0
		return &c, "gone"
	case history < 3 && prevUses == 0:
		return nil, "new"
	case history < 3: // too little history to fit: the period's change
		c := float64(uses-prevUses) / float64(prevUses)
		return nil, label(c)
	}
	xs := weeks[trendWeeks-history:]
	var sx, sy, sxx, sxy float64
	for i, w := range xs {
		x, y := float64(i), math.Log(w+1)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(xs))
	slope := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	c := math.Exp(slope*30/7) - 1
	return &c, label(c)
}

func label(c float64) string {
	switch {
	case c >= 0.1:
		return "up"
	case c <= -0.1:
		return "down"
	}
	return "flat"
}

// estimateIfAny is estimate with its standard error, or zeros for an
// empty bitmap.
func estimateIfAny(b *[tenantWords]uint64) (n int64, stdErr float64, saturated bool) {
	for _, w := range b {
		if w != 0 {
			n, saturated = estimate(b)
			return n, tenantErr(n), saturated
		}
	}
	return 0, 0, false
}

func change(cur, prev int64) (*float64, string) {
	switch {
	case prev == 0 && cur == 0:
		return nil, "none"
	case prev == 0:
		return nil, "new"
	case cur == 0:
		c := -1.0
		return &c, "gone"
	}
	c := float64(cur-prev) / float64(prev)
	return &c, ""
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return math.Round(1000*float64(n)/float64(of)) / 10
}

func methodNote(p Policy, per period) string {
	over, failDay, before, weeks := fmt.Sprintf("over the last %d days", p.Days), "today (UTC)", "yesterday", "complete weeks"
	if per.ended {
		over = fmt.Sprintf("over the %d days from %s to %s", p.Days, day(dayTime(per.from)), day(dayTime(per.last)))
		failDay, before, weeks = "on the period's last day (UTC)", "the day before", "weeks ending with the period"
	}
	return fmt.Sprintf("Uses and failures are exact counts from every instance, summed per UTC day %s and compared with the %d days before. "+
		"Distinct tenants (and failing tenants) are estimated by linear counting over a %d-bit bitmap of keyed hashes per day (ORed across days and instances); "+
		"every tenant figure is shown with its standard error (±): about 1%% up to 1,000 tenants, 1.3%% at 4,096, 2%% at 12,000; "+
		"past about 15,000 the error grows fast, and from about 20,000 the figure is marked saturated (measured at 25,000: a few per cent high on average, single figures up to +25%% off). "+
		"Rarely used: fewer than %s of the period's active tenants (and always fewer than %d), or fewer than %d uses when no use carries a tenant; "+
		"not used in the period: used before but not in these %d days; never used: declared more than %s ago and never used. "+
		"The headline counts rarely used, not used in the period and never used. "+
		"Trend: the change per 30 days fitted to the weekly uses of the last %d %s (up from +10%%, down from -10%%; with under 3 weeks of history, the change from the previous period); "+
		"declining: %.0f%% a month or worse from at least %d uses. New: first used during the period. "+
		"Failing: at least %d failures %s with the failure ratio or the failing tenants up against %s; since is the start of the failing episode (the first failure after 15 minutes without one, also before midnight). "+
		"Catalog drift: names used but never declared.",
		over, p.Days, tenantBits, pctText(p.RareShare*100), p.RareTenants, p.RareUses, p.Days, graceText(p.Grace),
		trendWeeks, weeks, -p.DeclineDrop*100, p.DeclineMin, p.FailMin, failDay, before)
}

func graceText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
