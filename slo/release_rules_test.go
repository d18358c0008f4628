package slo_test

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// The release rules in promtool: over two replicas, a candidate failing 3x
// as often as the baseline gets verdict 1 (no-go) and the alert, the
// baseline -1 (go); an equal candidate gets go; one with too few events in
// the hour 0. The evidence equals release.Compare's on the same counts.
func TestReleaseRulesPromtool(t *testing.T) {
	promtool(t)
	dir := t.TempDir()
	rules, err := slo.Rules(slo.Objective{Name: "checkout", Target: 0.99, Outcome: "customers can pay"},
		slo.Objective{Name: "search", Target: 0.99}, slo.Objective{Name: "tiny", Target: 0.99})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "slo.rules.yml", rules)
	if out := runPromtool(t, dir, "check", "rules", "slo.rules.yml"); !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
	// Per minute and replica (a and b): checkout's baseline v1 450 events,
	// 1 % bad (4.5: 9 on a, 0 on b); candidate v2 50 events, 3 % (1.5: 3
	// on a, 0 on b). search's v2 fails 1 % like v1. tiny's v2 has 3 events
	// a minute: 180 in the hour, under 500.
	var series strings.Builder
	add := func(obj, rel, inst string, good, bad int) {
		fmt.Fprintf(&series, "      - series: 'opskit_slo_events_total{objective=%q,release=%q,instance=%q,good=\"true\"}'\n        values: '0+%dx120'\n", obj, rel, inst, good)
		fmt.Fprintf(&series, "      - series: 'opskit_slo_events_total{objective=%q,release=%q,instance=%q,good=\"false\"}'\n        values: '0+%dx120'\n", obj, rel, inst, bad)
	}
	add("checkout", "v1", "a", 441, 9)
	add("checkout", "v1", "b", 450, 0)
	add("checkout", "v2", "a", 47, 3)
	add("checkout", "v2", "b", 50, 0)
	add("search", "v1", "a", 891, 9)
	add("search", "v2", "a", 99, 1)
	add("tiny", "v1", "a", 891, 9)
	add("tiny", "v2", "a", 2, 1)
	// In the hour before 90m: v1 54000 events, 540 bad; v2 6000, 180 bad.
	base, cand := release.Counts{Good: 53460, Bad: 540}, release.Counts{Good: 5820, Bad: 180}
	noGo, err := release.Compare(base, cand, release.Policy{})
	if err != nil || noGo.Decision != release.NoGo {
		t.Fatalf("Compare: %+v %v", noGo, err)
	}
	goV, err := release.Compare(cand, base, release.Policy{}) // v1 judged against v2
	if err != nil || goV.Decision != release.Go {
		t.Fatalf("Compare: %+v %v", goV, err)
	}
	// The rules compute bad·ln 3 − bad_all·ln(1 + 2·s); the same
	// arithmetic here gives promtool's exact value, which is Compare's up
	// to rounding.
	evidence := func(bad, events, badAll, all float64) float64 {
		return bad*math.Log(3) - math.Log(1+2*events/all)*badAll
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	ev1, ev2 := evidence(540, 54000, 720, 60000), evidence(180, 6000, 720, 60000)
	if math.Abs(ev1-goV.LogLikelihoodRatio) > 1e-9 || math.Abs(ev2-noGo.LogLikelihoodRatio) > 1e-9 {
		t.Errorf("the rules' evidence %v %v, Compare's %v %v", ev1, ev2, goV.LogLikelihoodRatio, noGo.LogLikelihoodRatio)
	}
	test := `rule_files: [slo.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
` + series.String() + `    alert_rule_test:
      - eval_time: 90m
        alertname: SLOReleaseRegression
        exp_alerts:
          - exp_labels: {objective: checkout, release: v2, severity: ticket, source: rules}
            exp_annotations:
              summary: "checkout: release v2 fails more often than the other releases"
              description: "If release v2 of objective checkout fails 3% of its events over the last 1h, with enough evidence (a likelihood ratio of 20) that it fails 3x as often as the other releases, do: stop the rollout of that release or roll it back, so that customers can pay."
    promql_expr_test:
      - expr: opskit_slo:release_error_ratio:rate1h{objective="checkout"}
        eval_time: 90m
        exp_samples:
          - labels: 'opskit_slo:release_error_ratio:rate1h{objective="checkout",release="v1"}'
            value: 0.01
          - labels: 'opskit_slo:release_error_ratio:rate1h{objective="checkout",release="v2"}'
            value: 0.03
      - expr: opskit_slo:release_evidence:ln1h{objective="checkout"}
        eval_time: 90m
        exp_samples:
          - labels: 'opskit_slo:release_evidence:ln1h{objective="checkout",release="v1"}'
            value: ` + f(ev1) + `
          - labels: 'opskit_slo:release_evidence:ln1h{objective="checkout",release="v2"}'
            value: ` + f(ev2) + `
      - expr: opskit_slo:release_verdict
        eval_time: 90m
        exp_samples:
          - labels: 'opskit_slo:release_verdict{objective="checkout",release="v1"}'
            value: -1
          - labels: 'opskit_slo:release_verdict{objective="checkout",release="v2"}'
            value: 1
          - labels: 'opskit_slo:release_verdict{objective="search",release="v1"}'
            value: -1
          - labels: 'opskit_slo:release_verdict{objective="search",release="v2"}'
            value: -1
          - labels: 'opskit_slo:release_verdict{objective="tiny",release="v1"}'
            value: 0
          - labels: 'opskit_slo:release_verdict{objective="tiny",release="v2"}'
            value: 0
      # Four minutes in, v2 has 400 events: not enough data yet.
      - expr: opskit_slo:release_verdict{objective="checkout",release="v2"}
        eval_time: 4m
        exp_samples:
          - labels: 'opskit_slo:release_verdict{objective="checkout",release="v2"}'
            value: 0
`
	writeFile(t, dir, "slo.test.yml", test)
	runPromtool(t, dir, "test", "rules", "slo.test.yml")
}
