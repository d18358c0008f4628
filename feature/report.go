package feature

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Policy sets a report's period and thresholds. The zero Policy is the
// default: a 7-day period, a 30-day grace period, rarely used under 3
// tenants (or under 10 uses when no use carries a tenant), declining when
// uses fell by 30% or more from at least 20.
type Policy struct {
	// Days is the length of the period, ending today (UTC), compared with the
	// period just before it. 1 to MaxPeriodDays; 0 means 7.
	Days int
	// Grace is how long a declared feature may go unused before it is
	// reported as never used; 0 means 30 days.
	Grace time.Duration
	// RareTenants: a used feature with fewer distinct tenants in the period
	// is rarely used; 0 means 3.
	RareTenants int64
	// RareUses applies instead when no use in the period carried a tenant;
	// 0 means 10.
	RareUses int64
	// DeclineDrop is the fall in uses from the previous period that counts as
	// declining, as a fraction; 0 means 0.3.
	DeclineDrop float64
	// DeclineMin is the fewest uses in the previous period for a fall to
	// count; 0 means 20.
	DeclineMin int64
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
	if p.RareTenants == 0 {
		p.RareTenants = 3
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
	case p.RareTenants < 0 || p.RareUses < 0 || p.DeclineMin < 0:
		return fmt.Errorf("%w: policy thresholds must not be negative", ErrInvalid)
	case p.DeclineDrop < 0 || p.DeclineDrop > 1 || math.IsNaN(p.DeclineDrop):
		return fmt.Errorf("%w: policy decline drop %v, want 0 to 1", ErrInvalid, p.DeclineDrop)
	}
	return nil
}

// Status classifies a feature in a report.
type Status string

// The statuses, from best to worst.
const (
	StatusUsed      Status = "used"
	StatusRare      Status = "rarely used"
	StatusTooNew    Status = "unused, in grace period"
	StatusNeverUsed Status = "never used"
)

// Report is usage over a period compared with the previous period, for every
// declared feature of every instance whose snapshot is in the directory.
type Report struct {
	Generated  time.Time       `json:"generated"`
	From       time.Time       `json:"from"` // first day of the period (UTC midnight)
	To         time.Time       `json:"to"`   // end of the period (exclusive)
	Days       int             `json:"days"`
	Instances  []string        `json:"instances"`
	Summary    Summary         `json:"summary"`
	Features   []FeatureReport `json:"features"` // most used first
	NeverUsed  []string        `json:"never_used"`
	RarelyUsed []string        `json:"rarely_used"`
	Declining  []string        `json:"declining"`
	New        []string        `json:"new"`
	Drift      []DriftReport   `json:"drift"`
	Warnings   []string        `json:"warnings,omitempty"`
	Method     string          `json:"method"`
}

// Summary counts the catalog by status.
type Summary struct {
	Declared   int     `json:"declared"`
	Used       int     `json:"used"`
	Rarely     int     `json:"rarely_used"`
	Never      int     `json:"never_used"`
	InGrace    int     `json:"in_grace"`
	UsedPct    float64 `json:"used_pct"`
	RarelyPct  float64 `json:"rarely_used_pct"`
	NeverPct   float64 `json:"never_used_pct"`
	Tenants    int64   `json:"tenants"` // distinct tenants active in the period (estimate)
	TotalUses  int64   `json:"total_uses"`
	Saturated  bool    `json:"tenants_saturated,omitempty"`
	HasTenants bool    `json:"has_tenants"`
}

// FeatureReport is one feature's line in a report.
type FeatureReport struct {
	Name        string    `json:"name"`
	Owner       string    `json:"owner"`
	Description string    `json:"description"`
	Since       time.Time `json:"since"`
	Status      Status    `json:"status"`
	Uses        int64     `json:"uses"`
	PrevUses    int64     `json:"previous_uses"`
	// Change is the relative change from the previous period (0.5 = +50%);
	// nil when the previous period had no uses.
	Change      *float64  `json:"change"`
	Tenants     int64     `json:"tenants"`
	PrevTenants int64     `json:"previous_tenants"`
	AdoptionPct float64   `json:"adoption_pct"` // share of the period's active tenants
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	Trend       string    `json:"trend"` // up, down, flat, new, gone or none
	Daily       []int64   `json:"daily"` // uses per day over both periods, oldest first
	Saturated   bool      `json:"tenants_saturated,omitempty"`
}

// DriftReport is an undeclared name that was used.
type DriftReport struct {
	Name      string    `json:"name"`
	Uses      int64     `json:"uses"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Report computes the report for the policy over this instance's live counts
// merged with the other instances' snapshots in the directory.
func (r *Registry) Report(p Policy) (*Report, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	st, instances, warnings := r.fleetState()
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
	rep := build(st.Saved, p.withDefaults(), declared, st.Drift)
	sort.Strings(instances)
	rep.Instances, rep.Warnings = instances, warnings
	return rep, nil
}

func build(now time.Time, p Policy, declared []*featState, drift map[string]*driftState) *Report {
	today := dayOf(unixMinute(now))
	from := today - int64(p.Days) + 1
	prevFrom := from - int64(p.Days)
	rep := &Report{Generated: now, From: dayTime(from), To: dayTime(today + 1), Days: p.Days,
		NeverUsed: []string{}, RarelyUsed: []string{}, Declining: []string{}, New: []string{}, Drift: []DriftReport{}}
	var all [tenantWords]uint64
	lines := make([]FeatureReport, 0, len(declared))
	cur := make([][tenantWords]uint64, len(declared))
	for i, f := range declared {
		var prev [tenantWords]uint64
		fr := FeatureReport{Name: f.Name, Owner: f.Owner, Description: f.Description, Since: f.Since,
			FirstSeen: seenTime(f.First), LastSeen: seenTime(f.Last), Daily: make([]int64, 0, 2*p.Days)}
		for d := prevFrom; d <= today; d++ {
			ds := f.Days[d]
			var n int64
			if ds != nil {
				n = ds.Uses
			}
			fr.Daily = append(fr.Daily, n)
			if ds == nil {
				continue
			}
			target := &prev
			if d >= from {
				target, fr.Uses = &cur[i], fr.Uses+n
			} else {
				fr.PrevUses += n
			}
			for w := range ds.Bits {
				target[w] |= ds.Bits[w]
			}
		}
		fr.Tenants, fr.Saturated = estimateIfAny(&cur[i])
		fr.PrevTenants, _ = estimateIfAny(&prev)
		for w := range all {
			all[w] |= cur[i][w]
		}
		fr.Change, fr.Trend = change(fr.Uses, fr.PrevUses)
		lines = append(lines, fr)
	}
	s := &rep.Summary
	s.Tenants, s.Saturated = estimateIfAny(&all)
	s.HasTenants = s.Tenants > 0
	graceEnd := now.Add(-p.Grace)
	for i := range lines {
		fr := &lines[i]
		s.TotalUses += fr.Uses
		if s.Tenants > 0 {
			fr.AdoptionPct = pct(int(min(fr.Tenants, s.Tenants)), int(s.Tenants))
		}
		switch {
		case fr.Uses == 0 && fr.Since.After(graceEnd):
			fr.Status = StatusTooNew
			s.InGrace++
		case fr.Uses == 0:
			fr.Status = StatusNeverUsed
			s.Never++
			rep.NeverUsed = append(rep.NeverUsed, fr.Name)
		case (s.HasTenants && fr.Tenants < p.RareTenants) || (!s.HasTenants && fr.Uses < p.RareUses):
			fr.Status = StatusRare
			s.Rarely++
			rep.RarelyUsed = append(rep.RarelyUsed, fr.Name)
		default:
			fr.Status = StatusUsed
			s.Used++
		}
		if fr.PrevUses >= p.DeclineMin && float64(fr.Uses) <= float64(fr.PrevUses)*(1-p.DeclineDrop) {
			rep.Declining = append(rep.Declining, fr.Name)
		}
		if fr.Uses > 0 && !fr.FirstSeen.Before(rep.From) {
			rep.New = append(rep.New, fr.Name)
		}
	}
	s.Declared = len(lines)
	s.UsedPct, s.RarelyPct, s.NeverPct = pct(s.Used, s.Declared), pct(s.Rarely, s.Declared), pct(s.Never, s.Declared)
	sort.SliceStable(lines, func(i, j int) bool {
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
	rep.Method = methodNote(p)
	return rep
}

func estimateIfAny(b *[tenantWords]uint64) (int64, bool) {
	for _, w := range b {
		if w != 0 {
			return estimate(b)
		}
	}
	return 0, false
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
	switch {
	case c >= 0.1:
		return &c, "up"
	case c <= -0.1:
		return &c, "down"
	}
	return &c, "flat"
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return math.Round(1000*float64(n)/float64(of)) / 10
}

func methodNote(p Policy) string {
	return fmt.Sprintf("Uses are exact counts from every instance, summed per UTC day over the last %d days and compared with the %d days before. "+
		"Distinct tenants are estimated by linear counting over a %d-bit bitmap of keyed hashes per day (ORed across days and instances): "+
		"about 1%% error up to 1,000 tenants, 1.3%% at 4,096, 2%% at 12,000; past about 20,000 the figure is a lower bound. "+
		"Never used: declared more than %s ago and no use in the period. Rarely used: fewer than %d tenants (or fewer than %d uses when no use carries a tenant). "+
		"Declining: uses fell by %.0f%% or more from at least %d. New: first used during the period. "+
		"Catalog drift: names used but never declared.",
		p.Days, p.Days, tenantBits, graceText(p.Grace), p.RareTenants, p.RareUses, p.DeclineDrop*100, p.DeclineMin)
}

func graceText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
