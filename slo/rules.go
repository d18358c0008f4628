package slo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opskit/opskit/release"
)

// Rule evaluation. Every series gets one rule group evaluated every
// ruleInterval. Windows up to rawWindowMax read the raw counters, as
// Sloth does; longer windows (the ticket tiers' day-long windows and the
// period) add up the events of ruleInterval-long tiles recorded by the
// group's first rule, so an evaluation reads one sample per tile instead of
// every scraped sample of every replica, and a window's ratio is still a
// sum of events, never an average of ratios.
const (
	ruleInterval = time.Minute
	rawWindowMax = 6 * time.Hour
	// absentFor is how long the events series may be missing before
	// SLOEventsAbsent fires.
	absentFor = 10 * time.Minute
)

// Names of what the rules record and alert on.
const (
	// AbsentAlertName fires when Prometheus has no EventsSeries for an
	// objective: its burn-rate alerts cannot fire.
	AbsentAlertName = "SLOEventsAbsent"
	// ReleaseAlertName fires for a release whose error ratio on an
	// objective is higher than the other releases' (the rules' verdict is
	// no-go).
	ReleaseAlertName = "SLOReleaseRegression"
	// rulesTile is the recorded increase of EventsSeries over one rule
	// interval, by objective and good, that long windows add up.
	rulesTile = "opskit_slo:events:tile1m"
)

// Rules returns Prometheus recording and alerting rules (a rule file in
// YAML, clean for `promtool check rules`) that compute the same objectives
// across every replica from the EventsSeries counter the Monitor exports.
//
// Per series (an objective, or one latency threshold of it) one group,
// evaluated every minute, records:
//
//   - opskit_slo:events:increase<w>{objective,good}: the events of each
//     window the tiers use and of the period. Windows up to 6 hours read
//     the raw counters; longer ones add up opskit_slo:events:tile1m,
//     the events of each minute, so a 30-day window reads 43,200 recorded
//     samples rather than every scrape of every replica. The minute tiles
//     need two scrapes a minute (a scrape interval of 30 s or less), and
//     cover history only from when the rules were loaded (backfill them
//     with `promtool tsdb create-blocks-from rules` if that matters);
//   - opskit_slo:error_ratio:rate<w>{objective}: bad over total events of
//     window w, never an average of ratios;
//   - opskit_slo:burn_rate:ratio{objective,window}: the error ratio over
//     the budget (1 spends the budget in exactly one period);
//   - what Sloth records: opskit_slo:objective:ratio,
//     opskit_slo:error_budget:ratio, opskit_slo:time_period:days,
//     opskit_slo:current_burn_rate:ratio (the shortest window),
//     opskit_slo:period_burn_rate:ratio,
//     opskit_slo:period_error_budget_remaining:ratio and an info series
//     opskit_slo_info{objective,target,period,...Objective.Labels};
//   - opskit_slo:budget_exhausted{objective}: 1 while the period's error
//     ratio is above the budget with at least MinEvents events, else 0. It
//     is a state, as in process, and no alert reads it.
//
// Then two alerts named AlertName, as the Monitor sends them: one with
// severity "page" and one with severity "ticket", each firing while any
// enabled tier of its severity holds. A tier holds while the error ratios
// of both its windows are strictly above BurnRate*(1-Target) (printed to
// 12 significant digits, the number the Monitor compares with), the long
// window holds at least MinEvents events and the short one at least
// MinBadEvents bad events. The fastest holding tier is the "tier"
// annotation, not a label, so a tier change keeps the alert's identity.
// Labels: objective, severity, source="rules" and Objective.Labels;
// annotations: summary, description (IF, DO and SO THAT in prose),
// runbook_url when Runbook is a URL, tier, and Objective.Annotations.
// AbsentAlertName (severity ticket) fires when the events series has been
// missing for 10 minutes, since then no burn-rate alert can fire.
//
// # Releases
//
// Finally the rules compare releases by the "release" label of
// EventsSeries, over the last hour, each release against all the others
// together (with two releases, candidate against baseline):
//
//   - opskit_slo:release_events:increase1h{objective,release} and
//     opskit_slo:release_bad:increase1h: each release's events and bad
//     events in the hour; opskit_slo:release_error_ratio:rate1h their ratio;
//   - opskit_slo:release_evidence:ln1h: the log-likelihood ratio of
//     release.Compare with the others as the baseline,
//     bad·ln R − bad_all·ln(1 + (R−1)·s), s the release's share of the
//     hour's events, R = 3;
//   - opskit_slo:release_verdict{objective,release}: 1 for no-go (evidence
//     at or above ln 20), −1 for go (at or below ln 0.05), 0 for not enough
//     data, and 0 while the release or the others have fewer than
//     release.DefaultMinEvents events in the hour: release.Policy's
//     defaults;
//   - ReleaseAlertName (severity ticket, label release) while a release's
//     verdict is no-go for 5 minutes.
//
// This is an approximation of Monitor.Verdict: Verdict adds up both
// releases' events since the later one began, so its error rates hold over
// every look; the rules judge a sliding hour afresh at every evaluation,
// so each evaluation errs at most 5 % of the time but a pipeline that
// acts on the first of many evaluations errs more often, and a release
// needs 500 events an hour (and the others too) to be judged at all.
func Rules(objs ...Objective) (string, error) {
	var b bytes.Buffer
	if err := WriteRules(&b, objs...); err != nil {
		return "", err
	}
	return b.String(), nil
}

// WriteRules writes Rules to w.
func WriteRules(w io.Writer, objs ...Objective) error {
	var b strings.Builder
	b.WriteString("# Generated by github.com/opskit/opskit/slo from the objectives' definitions.\ngroups:\n")
	seen := map[string]bool{}
	for _, o := range objs {
		o, err := o.normalized()
		if err != nil {
			return err
		}
		for _, sd := range o.series() {
			if seen[sd.name] {
				return fmt.Errorf("%w: %q", ErrDuplicate, sd.name)
			}
			seen[sd.name] = true
			g := ruleGroup{b: &b, o: o, sd: sd, sel: "objective=" + strconv.Quote(sd.name), budget: fmtFloat(1 - sd.target)}
			g.write()
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Rules returns the rules for every objective added to m.
func (m *Monitor) Rules() (string, error) {
	m.mu.Lock()
	objs := make([]Objective, len(m.trackers))
	for i, t := range m.trackers {
		objs[i] = t.obj
	}
	m.mu.Unlock()
	return Rules(objs...)
}

// ruleGroup writes the group of one series.
type ruleGroup struct {
	b      *strings.Builder
	o      Objective
	sd     seriesDef
	sel    string // the objective matcher, e.g. objective="checkout"
	budget string // 1-target, printed
}

// ruleWindows returns the windows of the enabled tiers and the period,
// shortest first.
func ruleWindows(o Objective) []time.Duration {
	ws := []time.Duration{o.Period}
	for _, t := range o.Tiers {
		if !o.disabled(t.Name) {
			ws = append(ws, t.Long, t.Short)
		}
	}
	slices.Sort(ws)
	return slices.Compact(ws)
}

// tiled reports whether window w adds up the recorded minute tiles.
func tiled(w time.Duration) bool { return w > rawWindowMax && w%ruleInterval == 0 }

func (g ruleGroup) write() {
	fmt.Fprintf(g.b, "  - name: %s\n    interval: %s\n    rules:\n", yamlString("opskit-slo-"+g.sd.name), fmtDuration(ruleInterval))
	windows := ruleWindows(g.o)
	if slices.ContainsFunc(windows, tiled) {
		g.record(rulesTile, fmt.Sprintf(`sum by (objective, good) (increase(%s{%s}[%s]))`,
			EventsSeries, g.sel, fmtDuration(ruleInterval)), nil)
	}
	for _, w := range windows {
		d := fmtDuration(w)
		inc := "opskit_slo:events:increase" + d
		if tiled(w) {
			// The group evaluates every minute, so the tiles sit exactly one
			// minute apart: a range half a minute shorter than w holds w's
			// tiles whether the range includes its start (Prometheus 2) or
			// not (Prometheus 3).
			g.record(inc, fmt.Sprintf(`sum_over_time(%s{%s}[%s])`, rulesTile, g.sel, fmtDuration(w-ruleInterval/2)), nil)
		} else {
			g.record(inc, fmt.Sprintf(`sum by (objective, good) (increase(%s{%s}[%s]))`, EventsSeries, g.sel, d), nil)
		}
		// A window without any bad series still has an error ratio of 0.
		g.record("opskit_slo:error_ratio:rate"+d, fmt.Sprintf(
			`(sum by (objective) (%[1]s{%[2]s,good="false"}) or on (objective) 0 * sum by (objective) (%[1]s{%[2]s})) / sum by (objective) (%[1]s{%[2]s})`,
			inc, g.sel), nil)
		g.record("opskit_slo:burn_rate:ratio", fmt.Sprintf(`opskit_slo:error_ratio:rate%s{%s} / %s`, d, g.sel, g.budget),
			map[string]string{"window": d})
	}
	period := fmtDuration(g.o.Period)
	g.record("opskit_slo:objective:ratio", "vector("+fmtFloat(g.sd.target)+")", nil)
	g.record("opskit_slo:error_budget:ratio", "vector("+g.budget+")", nil)
	g.record("opskit_slo:time_period:days", "vector("+fmtFloat(g.o.Period.Hours()/24)+")", nil)
	g.record("opskit_slo:current_burn_rate:ratio", fmt.Sprintf(`opskit_slo:error_ratio:rate%s{%s} / %s`, fmtDuration(windows[0]), g.sel, g.budget), nil)
	g.record("opskit_slo:period_burn_rate:ratio", fmt.Sprintf(`opskit_slo:error_ratio:rate%s{%s} / %s`, period, g.sel, g.budget), nil)
	g.record("opskit_slo:period_error_budget_remaining:ratio", fmt.Sprintf(`1 - opskit_slo:period_burn_rate:ratio{%s}`, g.sel), nil)
	g.record("opskit_slo:budget_exhausted", fmt.Sprintf(
		`(opskit_slo:error_ratio:rate%[1]s{%[2]s} > bool %[3]s) * on (objective) (sum by (objective) (opskit_slo:events:increase%[1]s{%[2]s}) >= bool %[4]d)`,
		period, g.sel, fmtFloat(errorThreshold(1, g.sd.target)), g.o.MinEvents), nil)
	info := maps.Clone(g.o.Labels)
	if info == nil {
		info = map[string]string{}
	}
	info["objective"], info["target"], info["period"] = g.sd.name, fmtFloat(g.sd.target), period
	if g.sd.max > 0 {
		info["threshold"] = fmtDuration(g.sd.max)
	}
	g.record("opskit_slo_info", "vector(1)", info)

	for _, sev := range []Severity{Page, Ticket} {
		g.burnAlert(sev)
	}
	g.absentAlert()
	g.releaseRules()
}

// releaseWindow is the window the release rules compare over.
const releaseWindow = time.Hour

// releaseRules writes the per-release ratios, the comparison of each
// release with the others and its alert (see Rules).
func (g ruleGroup) releaseRules() {
	d := fmtDuration(releaseWindow)
	events, bad := "opskit_slo:release_events:increase"+d, "opskit_slo:release_bad:increase"+d
	evidence, verdict := "opskit_slo:release_evidence:ln"+d, "opskit_slo:release_verdict"
	const regression = 3.0 // release.Policy's default
	g.record(events, fmt.Sprintf(`sum by (objective, release) (increase(%s{%s}[%s]))`, EventsSeries, g.sel, d), nil)
	g.record(bad, fmt.Sprintf(`sum by (objective, release) (increase(%[1]s{%[2]s,good="false"}[%[3]s])) or on (objective, release) 0 * %[4]s{%[2]s}`,
		EventsSeries, g.sel, d, events), nil)
	g.record("opskit_slo:release_error_ratio:rate"+d, fmt.Sprintf(`%s{%s} / %s{%s}`, bad, g.sel, events, g.sel), nil)
	g.record(evidence, fmt.Sprintf(
		`%[1]s{%[3]s} * %[4]s - ln(1 + %[5]s * %[2]s{%[3]s} / on (objective) group_left sum by (objective) (%[2]s{%[3]s}))`+
			` * on (objective) group_left sum by (objective) (%[1]s{%[3]s})`,
		bad, events, g.sel, exactFloat(math.Log(regression)), fmtFloat(regression-1)), nil)
	g.record(verdict, fmt.Sprintf(
		`((%[1]s{%[3]s} >= bool %[4]s) - (%[1]s{%[3]s} <= bool %[5]s)) * (%[2]s{%[3]s} >= bool %[6]d)`+
			` * ((sum by (objective) (%[2]s{%[3]s}) - on (objective) group_right %[2]s{%[3]s}) >= bool %[6]d)`,
		evidence, events, g.sel, exactFloat(math.Log(20)), exactFloat(math.Log(0.05)), release.DefaultMinEvents), nil)
	ann := g.annotations()
	ann["summary"] = fmt.Sprintf("%s: release {{ $labels.release }} fails more often than the other releases", g.sd.name)
	ann["description"] = describe(fmt.Sprintf(
		"release {{ $labels.release }} of objective %s fails {{ $value | humanizePercentage }} of its events over the last %s, with enough evidence (a likelihood ratio of 20) that it fails %gx as often as the other releases",
		g.sd.name, d, regression), "stop the rollout of that release or roll it back", noTemplate(g.o.Outcome))
	// The value is the release's error ratio, for the annotations.
	expr := fmt.Sprintf("opskit_slo:release_error_ratio:rate%[1]s{%[2]s} and on (objective, release) (%[3]s{%[2]s} == 1)", d, g.sel, verdict)
	fmt.Fprintf(g.b, "      - alert: %s\n        expr: %s\n        for: 5m\n", ReleaseAlertName, yamlString(expr))
	labels := map[string]string{"objective": g.sd.name, "severity": string(Ticket), "source": SourceRules}
	for k, v := range g.o.Labels {
		labels[k] = noTemplate(v)
	}
	writeMap(g.b, "labels", labels, false)
	writeMap(g.b, "annotations", ann, false)
}

// record writes one recording rule. Every rule names its objective in
// its labels too, so promtool's lint sees no duplicates across groups.
func (g ruleGroup) record(name, expr string, labels map[string]string) {
	fmt.Fprintf(g.b, "      - record: %s\n        expr: %s\n", name, yamlString(expr))
	labels = maps.Clone(labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["objective"] = g.sd.name
	writeMap(g.b, "labels", labels, false)
}

// burnAlert writes the alert of severity sev, if any tier of it is enabled.
func (g ruleGroup) burnAlert(sev Severity) {
	var conds, texts []string
	for _, t := range g.o.Tiers {
		if t.Severity != sev || g.o.disabled(t.Name) {
			continue
		}
		long, short := fmtDuration(t.Long), fmtDuration(t.Short)
		limit := fmtFloat(errorThreshold(t.BurnRate, g.sd.target))
		// The value is the long window's burn rate; the tier rides along as
		// a label until the rule's labels drop it.
		cond := fmt.Sprintf(`(opskit_slo:error_ratio:rate%[1]s{%[3]s} > %[4]s) / %[5]s`+
			` and on (objective) (opskit_slo:error_ratio:rate%[2]s{%[3]s} > %[4]s)`+
			` and on (objective) (sum by (objective) (opskit_slo:events:increase%[1]s{%[3]s}) >= %[6]d)`+
			` and on (objective) (opskit_slo:events:increase%[2]s{%[3]s,good="false"} >= %[7]d)`,
			long, short, g.sel, limit, g.budget, g.o.MinEvents, g.o.MinBadEvents)
		conds = append(conds, fmt.Sprintf(`label_replace(%s, "tier", %q, "", "")`, cond, t.Name))
		texts = append(texts, fmt.Sprintf(`{{ if eq $labels.tier %q }}over %s, above tier %s's %gx over both %s and %s{{ end }}`,
			t.Name, long, t.Name, t.BurnRate, long, short))
	}
	if len(conds) == 0 {
		return
	}
	// "or on (objective)" keeps the first (fastest) tier that holds.
	expr := strings.Join(conds, " or on (objective) ")
	cond := fmt.Sprintf("objective %s (target %s over %s) burns its error budget at {{ printf \"%%.1f\" $value }}x %s",
		g.sd.name, pct(g.sd.target), fmtDuration(g.o.Period), strings.Join(texts, ""))
	ann := g.annotations()
	ann["summary"] = fmt.Sprintf(`%s: error budget burning at {{ printf "%%.1f" $value }}x (%s {{ $labels.tier }})`, g.sd.name, sev)
	ann["description"] = describe(cond, noTemplate(g.o.Runbook), noTemplate(g.o.Outcome))
	ann["tier"] = "{{ $labels.tier }}"
	g.alert(AlertName, expr, 0, sev, ann, true)
}

// absentAlert writes the alert for a missing events series.
func (g ruleGroup) absentAlert() {
	ann := g.annotations()
	ann["summary"] = fmt.Sprintf("%s: no %s series for %s; its burn-rate alerts cannot fire", g.sd.name, EventsSeries, fmtDuration(absentFor))
	ann["description"] = describe(fmt.Sprintf("Prometheus has had no %s{%s} series for %s, so objective %s's burn-rate alerts cannot fire",
		EventsSeries, g.sel, fmtDuration(absentFor), g.sd.name),
		"check that the service runs, that Prometheus scrapes it and that its /metrics exports "+EventsSeries,
		"outages of this objective are seen again")
	g.alert(AbsentAlertName, fmt.Sprintf("absent(%s{%s})", EventsSeries, g.sel), absentFor, Ticket, ann, false)
}

// annotations returns the objective's own annotations (escaped for
// Prometheus templates) and runbook_url.
func (g ruleGroup) annotations() map[string]string {
	ann := map[string]string{}
	for k, v := range g.o.Annotations {
		ann[k] = noTemplate(v)
	}
	if isURL(g.o.Runbook) {
		ann["runbook_url"] = noTemplate(g.o.Runbook)
	}
	return ann
}

// alert writes one alerting rule. dropTier adds `tier: ""`, which removes
// the label the expression carries once the annotations have read it.
func (g ruleGroup) alert(name, expr string, hold time.Duration, sev Severity, ann map[string]string, dropTier bool) {
	fmt.Fprintf(g.b, "      - alert: %s\n        expr: %s\n", name, yamlString(expr))
	if hold > 0 {
		fmt.Fprintf(g.b, "        for: %s\n", fmtDuration(hold))
	}
	labels := map[string]string{"objective": g.sd.name, "severity": string(sev), "source": SourceRules}
	for k, v := range g.o.Labels {
		labels[k] = noTemplate(v)
	}
	writeMap(g.b, "labels", labels, dropTier)
	writeMap(g.b, "annotations", ann, false)
}

// writeMap writes a YAML map of strings, keys sorted; dropTier adds
// `tier: ""` to labels.
func writeMap(b *strings.Builder, name string, m map[string]string, dropTier bool) {
	if len(m) == 0 && !dropTier {
		return
	}
	fmt.Fprintf(b, "        %s:\n", name)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, "          %s: %s\n", k, yamlString(m[k]))
	}
	if dropTier {
		b.WriteString("          tier: \"\" # the matching tier is an annotation: a tier change keeps the alert's identity\n")
	}
}

// noTemplate keeps user text from being read as a Go template by
// Prometheus: each "{{" is printed by the template itself.
func noTemplate(s string) string { return strings.ReplaceAll(s, "{{", `{{ "{{" }}`) }

// yamlString quotes s as a YAML double-quoted scalar (JSON's escapes are a
// subset of YAML's).
func yamlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// fmtFloat prints f with 12 significant digits, which hides float noise
// such as 1-0.999 = 0.0010000000000000009.
func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', 12, 64) }

// exactFloat prints f in full, for logarithms the rules compute with.
func exactFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// fmtDuration prints d in Prometheus duration syntax: "30d", "1h", "4m40s".
// It is the one duration format of the rules, the page and the JSON.
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.unit
		}
	}
	return b.String()
}
