package slo_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/internal/component"
	"github.com/opskit/opskit/slo"
)

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		componentMissing(t, "promtool not installed (Debian package prometheus): skipping the rule checks")
	}
	return p
}

// componentMissing skips a test that needs a system component, or fails it
// when CI (OPSKIT_REQUIRE_COMPONENTS=1) promised the component is there;
// msg starts with the component's name and " not installed". make test
// prints the skips (internal/component).
func componentMissing(t *testing.T, msg string) {
	t.Helper()
	name, _, _ := strings.Cut(msg, " not installed")
	component.Missing(t, name, msg)
}

// runPromtool runs promtool in dir and returns its output; a failure, or
// a lint finding (which promtool 2.x reports with exit status 0), fails t.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "FAILED") || strings.Contains(string(out), "lint") {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

var ruleObjectives = []slo.Objective{
	{Name: "checkout", Target: 0.999, Runbook: "https://runbooks.example/checkout", Outcome: `customers "can" pay {{ not a template }}`,
		Labels: map[string]string{"team": "orders"}, Annotations: map[string]string{"dashboard": "https://grafana.example/d/{{x}}"}},
	{Name: "api-latency", Target: 0.99, Period: 7 * 24 * time.Hour, Latency: []slo.Threshold{{Max: 300 * time.Millisecond}, {Max: time.Second, Target: 0.999}},
		Runbook: "restart the cache", DisableTiers: []string{"ticket-16h48m"}}, // ticket-3d scaled to 7 days
}

func TestRulesShape(t *testing.T) {
	rules, err := slo.Rules(ruleObjectives...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`interval: 1m`,
		`record: opskit_slo:error_ratio:rate1h`,
		`increase(opskit_slo_events_total{objective=\"checkout\"}[5m])`,
		// long windows add up minute tiles: a 30-day window reads 43,200 of them
		`record: opskit_slo:events:tile1m`,
		`sum_over_time(opskit_slo:events:tile1m{objective=\"checkout\"}[29d23h59m30s])`,
		`objective=\"api-latency:300ms\"`,
		`> 0.0144) / 0.001`, // strictly above 14.4 x 0.001, printed as the Monitor compares
		`tier: "" #`,        // the tier is an annotation, never a label
		`tier: "{{ $labels.tier }}"`,
		`runbook_url: "https://runbooks.example/checkout"`,
		`team: "orders"`,
		`dashboard: "https://grafana.example/d/{{ \"{{\" }}x}}"`,
		`source: "rules"`,
		`alert: SLOEventsAbsent`, `absent(opskit_slo_events_total{objective=\"checkout\"})`,
		`record: opskit_slo:period_error_budget_remaining:ratio`, `record: opskit_slo_info`,
		`record: opskit_slo:budget_exhausted`,
		`rate14m`, // the 7-day period scales 1h to 14m
		`do: restart the cache.`,
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %s", want)
		}
	}
	// One page and one ticket alert per series, minus api-latency's
	// disabled ticket-16h48m (its ticket-5h36m tier still makes a ticket).
	if n := strings.Count(rules, "alert: SLOBurnRate"); n != 6 {
		t.Errorf("%d burn-rate alerts, want 2 per series (6)", n)
	}
	if strings.Contains(rules, `"ticket-16h48m"`) {
		t.Error("disabled tier ticket-16h48m is in the rules")
	}
	if strings.Contains(rules, "runbook_url: \"restart") {
		t.Error("a runbook that is not a URL went to runbook_url")
	}
	if _, err := slo.Rules(slo.Objective{Name: "x"}); err == nil {
		t.Error("invalid objective accepted")
	}
	if _, err := slo.Rules(slo.Objective{Name: "x", Target: 0.9}, slo.Objective{Name: "x", Target: 0.99}); err == nil {
		t.Error("duplicate objective accepted")
	}
	// With every ticket tier disabled there is no ticket alert.
	r, err := slo.Rules(slo.Objective{Name: "p", Target: 0.99, DisableTiers: []string{"ticket-1d", "ticket-3d"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(r, "alert: SLOBurnRate"); n != 1 {
		t.Errorf("%d burn-rate alerts with no enabled ticket tier, want the page alert only:\n%s", n, r)
	}
}

// TestRulesPassPromtool checks the rules with promtool (no lint finding)
// and runs a two-replica test: sums across instances, labels and the
// annotations a responder reads.
func TestRulesPassPromtool(t *testing.T) {
	promtool(t)
	dir := t.TempDir()
	// Besides the shared objectives: a one-hour period (10-second
	// windows) and a six-day one, whose 1m window sits beside the minute
	// tiles of its long windows.
	rules, err := slo.Rules(append([]slo.Objective{{Name: "hourly", Target: 0.99, Period: time.Hour},
		{Name: "six-days", Target: 0.995, Period: 6 * 24 * time.Hour}}, ruleObjectives...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rules, "record: opskit_slo:events:increase1m\n") {
		t.Error("the six-day period has no 1m window")
	}
	writeFile(t, dir, "all.rules.yml", rules)
	if out := runPromtool(t, dir, "check", "rules", "all.rules.yml"); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	// The test feeds checkout's series only (the others would be absent).
	rules, err = slo.Rules(ruleObjectives[0])
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "slo.rules.yml", rules)
	// Two replicas, 10 events a second in all; from 01:00 replica a fails
	// everything (50% errors). The series are an hour old, so the 6h and
	// 1d windows hold that hour: at 01:01 (300 bad of 36600, 0.82%)
	// page-6h holds (above 0.6%) and the ticket's 1d/2h tier (above 0.3%).
	// page-1h needs more than 518.4 bad of 36000 in the hour, so it holds
	// from 01:02 (600 bad, burning 16.7x): the page alert keeps its
	// identity and its tier annotation becomes page-1h.
	// Replica b alone never burns. The last samples are at 01:11; five
	// minutes later the series count as gone, and SLOEventsAbsent fires
	// 10 minutes after that.
	test := `rule_files: [slo.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'opskit_slo_events_total{objective="checkout",good="true",instance="a"}'
        values: '0+300x60 18000+0x10'
      - series: 'opskit_slo_events_total{objective="checkout",good="false",instance="a"}'
        values: '0+0x60 300+300x9'
      - series: 'opskit_slo_events_total{objective="checkout",good="true",instance="b"}'
        values: '0+300x70'
      - series: 'opskit_slo_events_total{objective="checkout",good="false",instance="b"}'
        values: '0+0x70'
    alert_rule_test:
      - eval_time: 61m
        alertname: SLOBurnRate
        exp_alerts:
          - exp_labels: {objective: checkout, severity: page, source: rules, team: orders}
            exp_annotations:
              summary: "checkout: error budget burning at 8.2x (page page-6h)"
              description: 'If objective checkout (target 99.9% over 30d) burns its error budget at 8.2x over 6h, above tier page-6h''s 6x over both 6h and 30m, do: https://runbooks.example/checkout, so that customers "can" pay {{ not a template }}.'
              runbook_url: "https://runbooks.example/checkout"
              tier: page-6h
              dashboard: "https://grafana.example/d/{{x}}"
          - exp_labels: {objective: checkout, severity: ticket, source: rules, team: orders}
            exp_annotations:
              summary: "checkout: error budget burning at 8.2x (ticket ticket-1d)"
              description: 'If objective checkout (target 99.9% over 30d) burns its error budget at 8.2x over 1d, above tier ticket-1d''s 3x over both 1d and 2h, do: https://runbooks.example/checkout, so that customers "can" pay {{ not a template }}.'
              runbook_url: "https://runbooks.example/checkout"
              tier: ticket-1d
              dashboard: "https://grafana.example/d/{{x}}"
      - eval_time: 62m
        alertname: SLOBurnRate
        exp_alerts:
          - exp_labels: {objective: checkout, severity: page, source: rules, team: orders}
            exp_annotations:
              summary: "checkout: error budget burning at 16.7x (page page-1h)"
              description: 'If objective checkout (target 99.9% over 30d) burns its error budget at 16.7x over 1h, above tier page-1h''s 14.4x over both 1h and 5m, do: https://runbooks.example/checkout, so that customers "can" pay {{ not a template }}.'
              runbook_url: "https://runbooks.example/checkout"
              tier: page-1h
              dashboard: "https://grafana.example/d/{{x}}"
          - exp_labels: {objective: checkout, severity: ticket, source: rules, team: orders}
            exp_annotations:
              summary: "checkout: error budget burning at 16.1x (ticket ticket-1d)"
              description: 'If objective checkout (target 99.9% over 30d) burns its error budget at 16.1x over 1d, above tier ticket-1d''s 3x over both 1d and 2h, do: https://runbooks.example/checkout, so that customers "can" pay {{ not a template }}.'
              runbook_url: "https://runbooks.example/checkout"
              tier: ticket-1d
              dashboard: "https://grafana.example/d/{{x}}"
      - eval_time: 86m
        alertname: SLOEventsAbsent
      - eval_time: 87m
        alertname: SLOEventsAbsent
        exp_alerts:
          - exp_labels: {objective: checkout, severity: ticket, source: rules, team: orders}
            exp_annotations:
              summary: "checkout: no opskit_slo_events_total series for 10m; its burn-rate alerts cannot fire"
              description: 'If Prometheus has had no opskit_slo_events_total{objective="checkout"} series for 10m, so objective checkout''s burn-rate alerts cannot fire, do: check that the service runs, that Prometheus scrapes it and that its /metrics exports opskit_slo_events_total, so that outages of this objective are seen again.'
              runbook_url: "https://runbooks.example/checkout"
              dashboard: "https://grafana.example/d/{{x}}"
    promql_expr_test:
      - expr: opskit_slo:error_ratio:rate5m{objective="checkout"}
        eval_time: 65m
        exp_samples:
          - labels: 'opskit_slo:error_ratio:rate5m{objective="checkout"}'
            value: 0.5
      # The period so far, summed from minute tiles: 36600 good and 600
      # bad events at 01:02, 1.613% against a 0.1% budget.
      - expr: opskit_slo:events:increase30d{objective="checkout"}
        eval_time: 62m
        exp_samples:
          - labels: 'opskit_slo:events:increase30d{objective="checkout",good="true"}'
            value: 36600
          - labels: 'opskit_slo:events:increase30d{objective="checkout",good="false"}'
            value: 600
      - expr: opskit_slo:period_error_budget_remaining:ratio{objective="checkout"}
        eval_time: 62m
        exp_samples:
          - labels: 'opskit_slo:period_error_budget_remaining:ratio{objective="checkout"}'
            value: -15.129032258064516
      - expr: opskit_slo:budget_exhausted{objective="checkout"}
        eval_time: 62m
        exp_samples:
          - labels: 'opskit_slo:budget_exhausted{objective="checkout"}'
            value: 1
      - expr: opskit_slo:budget_exhausted{objective="checkout"}
        eval_time: 60m
        exp_samples:
          - labels: 'opskit_slo:budget_exhausted{objective="checkout"}'
            value: 0
      - expr: opskit_slo:burn_rate:ratio{objective="checkout",window="1h"}
        eval_time: 62m
        exp_samples:
          - labels: 'opskit_slo:burn_rate:ratio{objective="checkout",window="1h"}'
            value: 16.666666666666668
      - expr: opskit_slo_info
        eval_time: 62m
        exp_samples:
          - labels: 'opskit_slo_info{objective="checkout",period="30d",target="0.999",team="orders"}'
            value: 1
`
	writeFile(t, dir, "slo.test.yml", test)
	runPromtool(t, dir, "test", "rules", "slo.test.yml")
}

// ruleScenario is one of the scenarios of scenario_test.go as per-minute
// counter samples for promtool: a 99.9% objective over 30 days at 10
// events a second (600 a minute), after three days and an hour of healthy
// history when warm (every tier's windows full; alerts depend on nothing
// older). Events of minute m of the scenario land in the sample at m+1.
// The fire and resolve times are minutes after the scenario began, worked
// out by hand from the workbook's arithmetic (ratio strictly above
// rate*0.001 in both windows, at least 10 events in the long window and 3
// bad events in the short one): the table in /work/notes/slo.md.
type ruleScenario struct {
	name    string
	warm    bool
	minutes int // length of the traffic pattern; then healthy until the end
	events  func(m int) (total, bad int64)
	page    [2]int // fire, resolve (minutes); zero: never fires
	ticket  [2]int
}

const warmMinutes = 3*24*60 + 60

func perMinute(total int64, bad int64, minutes int) func(int) (int64, int64) {
	return func(m int) (int64, int64) {
		if m < minutes {
			return total, bad
		}
		return total, 0
	}
}

var ruleScenarios = []ruleScenario{
	// Page at once (1h and 5m both above 1.44%); the ticket's 1d window
	// passes 0.3% after 5 minutes (3000 of 864000 bad = 0.347%; at 4,
	// 2400 = 0.278%). page-1h's 5m window clears at 15, but page-6h's 30m
	// window holds the 6000 bad events until 40; ticket-3d's 6h window
	// until 370.
	{name: "S1 10-minute outage", warm: true, minutes: 10, events: perMinute(600, 600, 10),
		page: [2]int{1, 40}, ticket: [2]int{5, 370}},
	// 2% (burn 20): page-1h after 44 minutes (528 bad of 36000 > 1.44%),
	// ticket-1d after 217 (2604 of 864000 > 0.3%).
	{name: "S2 2% for 6h", warm: true, minutes: 360, events: perMinute(600, 12, 360),
		page: [2]int{44, 381}, ticket: [2]int{217, 702}},
	// 1% (burn 10): page-6h after 217 minutes (1302 of 216000 > 0.6%);
	// ticket-1d needs 0.3% over a day: 2592 bad, more than 6 hours hold.
	{name: "S3 1% for 6h", warm: true, minutes: 360, events: perMinute(600, 6, 360),
		page: [2]int{217, 372}},
	// 1800 bad: page-1h at once, resolved when the 1h window holds no more
	// than 518.4 bad events; the day window never passes 0.3% (2592).
	{name: "S4 3-minute spike", warm: true, minutes: 3, events: perMinute(600, 600, 3),
		page: [2]int{1, 33}},
	// A new service, one event a minute, failures at minutes 60, 180 and
	// 300: never 3 bad events in a page tier's short window, so no page
	// (Sloth's rules page three times here); ticket-3d holds once its 6h
	// window holds all three failures (minute 301) until the first leaves
	// it (421).
	{name: "S5 1 a minute, 3 failures", minutes: 380, events: func(m int) (int64, int64) {
		if m == 60 || m == 180 || m == 300 {
			return 1, 1
		}
		return 1, 0
	}, ticket: [2]int{301, 421}},
	// 10% for an hour: page-1h after 9 minutes (540 of 36000), ticket-1d
	// after 44 (2640 of 864000); recovery resolves the page at 89 and the
	// ticket at 417.
	{name: "S6 10% for 1h, then recovery", warm: true, minutes: 60, events: perMinute(600, 60, 60),
		page: [2]int{9, 89}, ticket: [2]int{44, 417}},
}

// counterValues writes per-minute increments as promtool's expanding
// notation, run-length encoded: "0 600+600x9 ...".
func counterValues(incs []int64) string {
	var b strings.Builder
	b.WriteString("0")
	v := int64(0)
	for i := 0; i < len(incs); {
		j := i
		for j < len(incs) && incs[j] == incs[i] {
			j++
		}
		v += incs[i]
		fmt.Fprintf(&b, " %d+%dx%d", v, incs[i], j-i-1)
		v += incs[i] * int64(j-i-1)
		i = j
	}
	return b.String()
}

// scenarioTest writes a promtool test for sc over rules files: the alert
// states a minute before and at every fire and resolve time, and the
// number of times each alert started firing over the whole run.
func scenarioTest(sc ruleScenario, ruleFiles string, alertname string, sevLabels func(sev string) string) string {
	start := 0
	if sc.warm {
		start = warmMinutes
	}
	end := start + sc.minutes + max(sc.page[1], sc.ticket[1]) + 10
	var good, bad []int64
	for m := 0; m < end; m++ {
		tot, b := int64(600), int64(0)
		if m >= start {
			tot, b = sc.events(m - start)
		}
		good, bad = append(good, tot-b), append(bad, b)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rule_files: [%s]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n", ruleFiles)
	fmt.Fprintf(&b, "      - series: 'opskit_slo_events_total{objective=\"orders\",good=\"true\"}'\n        values: '%s'\n", counterValues(good))
	fmt.Fprintf(&b, "      - series: 'opskit_slo_events_total{objective=\"orders\",good=\"false\"}'\n        values: '%s'\n", counterValues(bad))
	b.WriteString("    promql_expr_test:\n")
	times := map[int]bool{}
	for _, iv := range [][2]int{sc.page, sc.ticket} {
		if iv[0] > 0 {
			for _, m := range []int{iv[0] - 1, iv[0], iv[1] - 1, iv[1]} {
				times[m] = true
			}
		}
	}
	firing := func(iv [2]int, m int) bool { return iv[0] > 0 && iv[0] <= m && m < iv[1] }
	for m := range end - start {
		if !times[m] {
			continue
		}
		fmt.Fprintf(&b, "      - expr: 'ALERTS{alertname=%q,alertstate=\"firing\"}'\n        eval_time: %dm\n        exp_samples:\n", alertname, start+m)
		for _, s := range []struct {
			sev string
			iv  [2]int
		}{{"page", sc.page}, {"ticket", sc.ticket}} {
			if firing(s.iv, m) {
				fmt.Fprintf(&b, "          - labels: 'ALERTS{alertname=%q,alertstate=\"firing\",%s}'\n            value: 1\n", alertname, sevLabels(s.sev))
			}
		}
	}
	// Episodes: minutes at which an alert fires and did not a minute before.
	for _, s := range []struct {
		sev string
		iv  [2]int
	}{{"page", sc.page}, {"ticket", sc.ticket}} {
		sel := fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing",%s}`, alertname, sevLabels(s.sev))
		fmt.Fprintf(&b, "      - expr: 'count_over_time((%s unless %s offset 1m)[%dm:1m])'\n        eval_time: %dm\n        exp_samples:\n", sel, sel, end-1, end-1)
		if s.iv[0] > 0 {
			fmt.Fprintf(&b, "          - labels: '{alertname=%q,alertstate=\"firing\",%s}'\n            value: 1\n", alertname, sevLabels(s.sev))
		}
	}
	return b.String()
}

// TestRulesScenarios runs the scenarios of scenario_test.go against the
// generated rules in promtool: each alert fires and resolves at the
// minute worked out from the workbook's arithmetic, at most once per
// episode. The tier annotation is checked by TestRulesPassPromtool.
func TestRulesScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("promtool evaluates days of rules")
	}
	promtool(t)
	dir := t.TempDir()
	rules, err := slo.Rules(slo.Objective{Name: "orders", Target: 0.999})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "slo.rules.yml", rules)
	for i, sc := range ruleScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel() // promtool evaluates about 5000 minutes, ~20 s of CPU each
			name := fmt.Sprintf("s%d.test.yml", i)
			writeFile(t, dir, name, scenarioTest(sc, "slo.rules.yml", slo.AlertName, func(sev string) string {
				return fmt.Sprintf(`objective="orders",severity=%q,source="rules"`, sev)
			}))
			runPromtool(t, dir, "test", "rules", name)
		})
	}
}

func TestCounterValues(t *testing.T) {
	if got, want := counterValues([]int64{600, 600, 600, 12, 0}), "0 600+600x2 1812+12x0 1812+0x0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
