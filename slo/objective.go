package slo

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrInvalidObjective matches every *ValidationError.
	ErrInvalidObjective = errors.New("slo: invalid objective")
	// ErrDuplicate is returned by Monitor.Add for a name already added.
	ErrDuplicate = errors.New("slo: duplicate objective")
	// ErrClosed is returned by Monitor.Add after Shutdown.
	ErrClosed = errors.New("slo: monitor shut down")
)

// ValidationError names the field of an Objective that is wrong, and why.
type ValidationError struct {
	Objective string // the objective's name, possibly empty
	Field     string // e.g. "Target" or "Tiers[1].BurnRate"
	Value     any    // the offending value
	Reason    string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("slo: objective %q: %s = %v: %s", e.Objective, e.Field, e.Value, e.Reason)
}

// Unwrap lets errors.Is(err, ErrInvalidObjective) match.
func (e *ValidationError) Unwrap() error { return ErrInvalidObjective }

// Objective defines a service level objective. The zero value of every
// field other than Name and Target is a documented default.
type Objective struct {
	// Name identifies the objective in metrics, alerts, rules and the log:
	// letters, digits, '_', '-', '.', up to 64 characters.
	Name string
	// Target is the fraction of good events promised, 0 < Target < 1 (0.999).
	Target float64
	// Period is the rolling compliance window. Zero means 30 days. It must
	// be a whole number of hours between 1 hour and 366 days.
	Period time.Duration
	// Latency, when non-empty, makes this a latency objective: an event is
	// good when its duration is at most the threshold. With several
	// thresholds each one is tracked as its own series named
	// "<Name>:<threshold>" (e.g. "api:300ms"). Empty means availability:
	// the caller says whether each event was good.
	Latency []Threshold
	// Runbook is what the responder should DO: a URL (sent as the
	// runbook_url annotation) or a sentence.
	Runbook string
	// Outcome is the customer outcome the objective protects (SO THAT ...).
	Outcome string
	// Tiers are the burn-rate alerts. Nil means DefaultTiers(Period), the
	// SRE workbook's four tiers scaled to the period.
	Tiers []Tier
	// DisableTiers names tiers (from Tiers or the defaults) not to alert on,
	// e.g. "ticket-3d".
	DisableTiers []string
	// MinEvents is how many events the long window must hold before a tier
	// may fire (and the period before the budget counts as exhausted), so a
	// handful of requests at night cannot page. Zero means 10; negative is
	// invalid.
	MinEvents int64
	// MinBadEvents is how many bad events the short window must hold before
	// a tier may fire, so one failure among a few requests cannot page.
	// Zero means 3; negative is invalid.
	MinBadEvents int64
	// Labels are added to every notification of this objective and to its
	// generated alerting rules (e.g. team, service). Names are Prometheus
	// label names; alertname, objective, severity, source and instance are
	// reserved.
	Labels map[string]string
	// Annotations are added to every notification of this objective and to
	// its generated alerting rules (e.g. dashboard). summary, description,
	// runbook_url, tier and incident are reserved; service, version and
	// release, which notifications get from WithRelease, are taken from
	// here when set.
	Annotations map[string]string
	// Impact, when set, says who the failures hurt, in a sentence: "orders.bulk
	// is failing for 37 tenants (12 % of its users) since 10:02 UTC; top
	// reason: timeout" ((*feature.Feature).Impact writes such text). The
	// Monitor calls it once per evaluation, outside its locks, so it must
	// return quickly; its text (one line, cut to 300 bytes) is the "impact"
	// annotation of every firing notification (unless Annotations sets
	// "impact"), ends the IF sentence, and is the open incident's Impact. A
	// hook that panics is logged and gives no text.
	Impact func() string
}

// Reserved label and annotation names: the ones the Monitor and the
// generated rules set themselves.
var (
	reservedLabels      = []string{"alertname", "objective", "severity", "source", "instance"}
	reservedAnnotations = []string{"summary", "description", "runbook_url", "tier", "incident"}
	labelPattern        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Threshold is one latency threshold of a latency objective.
type Threshold struct {
	Max    time.Duration // an event is good when it took at most Max (> 0)
	Target float64       // zero means the Objective's Target
}

// Severity says who an alert is for.
type Severity string

// Severities of the default tiers.
const (
	Page   Severity = "page"
	Ticket Severity = "ticket"
)

// Tier is one condition of a multi-window burn-rate alert: it holds while
// the error budget burns faster than BurnRate times the sustainable rate
// over both the Long and the Short window. The tiers of one severity make
// one alert: it fires while any of them holds.
type Tier struct {
	Name     string        // e.g. "page-1h"; letters, digits, '-', '_'
	Severity Severity      // Page or Ticket
	Long     time.Duration // the window that measures the burn
	Short    time.Duration // the window that makes the alert reset fast
	BurnRate float64       // multiple of the sustainable error rate (> 0)
}

// workbookPeriod is the period the workbook's tier table is written for.
const workbookPeriod = 30 * 24 * time.Hour

// DefaultTiers returns the SRE workbook's tiers (page 1h/5m at 14.4 and
// 6h/30m at 6, ticket 1d/2h at 3 and 3d/6h at 1) for a 30-day period. For
// other periods the windows scale with the period, rounded to 10 seconds,
// and the burn rates stay, so each tier still fires after the same fraction
// of the budget (2%, 5%, 10%, 10%) is spent. Each tier is named after its
// severity and scaled long window: "page-1h" for 30 days, "page-10s" for a
// one-hour period.
func DefaultTiers(period time.Duration) []Tier {
	if period <= 0 {
		period = workbookPeriod
	}
	scale := func(d time.Duration) time.Duration {
		s := time.Duration(float64(d) * float64(period) / float64(workbookPeriod))
		s = s.Round(fineWidth)
		if s < fineWidth {
			s = fineWidth
		}
		return s
	}
	table := []Tier{
		{Name: "page-1h", Severity: Page, Long: time.Hour, Short: 5 * time.Minute, BurnRate: 14.4},
		{Name: "page-6h", Severity: Page, Long: 6 * time.Hour, Short: 30 * time.Minute, BurnRate: 6},
		{Name: "ticket-1d", Severity: Ticket, Long: 24 * time.Hour, Short: 2 * time.Hour, BurnRate: 3},
		{Name: "ticket-3d", Severity: Ticket, Long: 72 * time.Hour, Short: 6 * time.Hour, BurnRate: 1},
	}
	for i := range table {
		table[i].Long, table[i].Short = scale(table[i].Long), scale(table[i].Short)
		table[i].Name = string(table[i].Severity) + "-" + fmtDuration(table[i].Long)
	}
	return table
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}$`)

// normalized returns a copy with defaults filled in, or a *ValidationError.
func (o Objective) normalized() (Objective, error) {
	bad := func(field string, v any, reason string) (Objective, error) {
		return o, &ValidationError{Objective: o.Name, Field: field, Value: v, Reason: reason}
	}
	if !namePattern.MatchString(o.Name) {
		return bad("Name", fmt.Sprintf("%q", o.Name), "must be 1-64 letters, digits, '_', '-' or '.'")
	}
	if !(o.Target > 0 && o.Target < 1) {
		return bad("Target", o.Target, "must be between 0 and 1, exclusive (0.999 means 99.9%)")
	}
	if o.Period == 0 {
		o.Period = workbookPeriod
	}
	if o.Period < time.Hour || o.Period > 366*24*time.Hour || o.Period%time.Hour != 0 {
		return bad("Period", o.Period, "must be a whole number of hours from 1h to 366 days")
	}
	if o.MinEvents < 0 {
		return bad("MinEvents", o.MinEvents, "must not be negative (zero means 10)")
	}
	if o.MinEvents == 0 {
		o.MinEvents = 10
	}
	if o.MinBadEvents < 0 {
		return bad("MinBadEvents", o.MinBadEvents, "must not be negative (zero means 3)")
	}
	if o.MinBadEvents == 0 {
		o.MinBadEvents = 3
	}
	if field, v, reason := checkNames("Labels", o.Labels, reservedLabels, true); field != "" {
		return bad(field, v, reason)
	}
	if field, v, reason := checkNames("Annotations", o.Annotations, reservedAnnotations, false); field != "" {
		return bad(field, v, reason)
	}
	o.Labels, o.Annotations = maps.Clone(o.Labels), maps.Clone(o.Annotations)
	o.Latency = append([]Threshold(nil), o.Latency...)
	seen := map[time.Duration]bool{}
	for i := range o.Latency {
		th := &o.Latency[i]
		if th.Max <= 0 {
			return bad(fmt.Sprintf("Latency[%d].Max", i), th.Max, "must be positive")
		}
		if seen[th.Max] {
			return bad(fmt.Sprintf("Latency[%d].Max", i), th.Max, "duplicate threshold")
		}
		seen[th.Max] = true
		if th.Target == 0 {
			th.Target = o.Target
		}
		if !(th.Target > 0 && th.Target < 1) {
			return bad(fmt.Sprintf("Latency[%d].Target", i), th.Target, "must be between 0 and 1, exclusive")
		}
	}
	if o.Tiers == nil {
		o.Tiers = DefaultTiers(o.Period)
	} else {
		o.Tiers = append([]Tier(nil), o.Tiers...)
	}
	names := map[string]bool{}
	for i, t := range o.Tiers {
		f := fmt.Sprintf("Tiers[%d]", i)
		switch {
		case !namePattern.MatchString(t.Name) || strings.Contains(t.Name, "."):
			return bad(f+".Name", fmt.Sprintf("%q", t.Name), "must be 1-64 letters, digits, '_' or '-'")
		case names[t.Name]:
			return bad(f+".Name", t.Name, "duplicate tier name")
		case t.Severity != Page && t.Severity != Ticket:
			return bad(f+".Severity", fmt.Sprintf("%q", t.Severity), "must be page or ticket")
		case t.Long < fineWidth || t.Long > o.Period || t.Long%fineWidth != 0:
			return bad(f+".Long", t.Long, "must be a multiple of 10s within the period")
		case t.Short < fineWidth || t.Short > t.Long || t.Short%fineWidth != 0:
			return bad(f+".Short", t.Short, "must be a multiple of 10s, at most the long window")
		case !(t.BurnRate > 0) || math.IsInf(t.BurnRate, 0):
			return bad(f+".BurnRate", t.BurnRate, "must be positive")
		}
		names[t.Name] = true
		// A burn rate above 1/(1-target) needs an error ratio above 100%.
		for _, sd := range o.series() {
			if o.disabled(t.Name) {
				break
			}
			target := sd.target
			if limit := 1 / (1 - target); t.BurnRate > limit*(1+1e-9) {
				return bad(f+".BurnRate", t.BurnRate, fmt.Sprintf(
					"can never fire: the highest possible burn rate for target %v is %.4g; lower it or disable tier %q",
					target, limit, t.Name))
			}
		}
	}
	for i, n := range o.DisableTiers {
		if !names[n] {
			return bad(fmt.Sprintf("DisableTiers[%d]", i), fmt.Sprintf("%q", n), "no such tier")
		}
	}
	o.DisableTiers = append([]string(nil), o.DisableTiers...)
	return o, nil
}

// checkNames validates the keys (and, for labels, the values) of a label
// or annotation map; it returns the field, value and reason of the first
// problem, or an empty field.
func checkNames(field string, m map[string]string, reserved []string, values bool) (string, any, string) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f := fmt.Sprintf("%s[%q]", field, k)
		switch {
		case !labelPattern.MatchString(k):
			return f, fmt.Sprintf("%q", k), "name must be letters, digits and '_', not starting with a digit"
		case slices.Contains(reserved, k):
			return f, fmt.Sprintf("%q", k), "name is reserved: " + strings.Join(reserved, ", ")
		case values && m[k] == "":
			return f, `""`, "label value must not be empty"
		}
	}
	return "", nil, ""
}

// errorThreshold is the error ratio a tier of burn rate rate compares
// against for target: rate*(1-target) rounded to 12 significant digits,
// the number the generated rules print. A window holds when its error
// ratio is strictly greater, in process and in the rules alike.
func errorThreshold(rate, target float64) float64 {
	f, _ := strconv.ParseFloat(fmtFloat(rate*(1-target)), 64)
	return f
}

// seriesDef is one series an objective tracks: the objective itself, or
// one latency threshold of it.
type seriesDef struct {
	name   string
	target float64
	max    time.Duration // latency threshold; zero for availability
}

// series lists what o tracks. A single latency threshold keeps the
// objective's name; several are named "<name>:<threshold>".
func (o Objective) series() []seriesDef {
	if len(o.Latency) == 0 {
		return []seriesDef{{name: o.Name, target: o.Target}}
	}
	out := make([]seriesDef, len(o.Latency))
	for i, th := range o.Latency {
		out[i] = seriesDef{name: o.Name, target: th.Target, max: th.Max}
		if out[i].target == 0 {
			out[i].target = o.Target
		}
		if len(o.Latency) > 1 {
			out[i].name = fmt.Sprintf("%s:%s", o.Name, th.Max)
		}
	}
	return out
}

// disabled reports whether the named tier is turned off.
func (o Objective) disabled(name string) bool {
	for _, n := range o.DisableTiers {
		if n == name {
			return true
		}
	}
	return false
}

// Validate reports whether o is usable, as a *ValidationError.
func (o Objective) Validate() error {
	_, err := o.normalized()
	return err
}
