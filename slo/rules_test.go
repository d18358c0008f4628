package slo_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
// when CI (OPSKIT_REQUIRE_COMPONENTS=1) promised the component is there.
func componentMissing(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("OPSKIT_REQUIRE_COMPONENTS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var ruleObjectives = []slo.Objective{
	{Name: "checkout", Target: 0.999, Runbook: "https://runbooks.example/checkout {{ not a template }}", Outcome: `customers "can" pay`},
	{Name: "api-latency", Target: 0.99, Period: 7 * 24 * time.Hour, Latency: []slo.Threshold{{Max: 300 * time.Millisecond}, {Max: time.Second, Target: 0.999}},
		DisableTiers: []string{"ticket-16h48m"}}, // ticket-3d scaled to 7 days
}

func TestRulesShape(t *testing.T) {
	rules, err := slo.Rules(ruleObjectives...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`record: opskit_slo:error_ratio:rate1h`,
		`increase(opskit_slo_events_total{objective=\"checkout\",good=\"false\"}[1h])`,
		`objective=\"api-latency:300ms\"`,
		`tier: "page-1h"`, `severity: "ticket"`,
		`unless on (objective)`,
		`rate14m`, // the 7-day period scales 1h to 14m
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("rules lack %s", want)
		}
	}
	if strings.Count(rules, "tier: \"ticket-3d\"") != 1 { // only checkout's
		t.Errorf("ticket-3d should be disabled for api-latency")
	}
	if _, err := slo.Rules(slo.Objective{Name: "x"}); err == nil {
		t.Error("invalid objective accepted")
	}
}

func TestRulesPassPromtool(t *testing.T) {
	promtool(t)
	dir := t.TempDir()
	rules, err := slo.Rules(ruleObjectives...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "slo.rules.yml"), []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, "check", "rules", "slo.rules.yml")
	// Two replicas, 10 events a second in all; from 01:00 one replica
	// fails everything (50% errors). The page needs both the 1h and 5m
	// ratios at 14.4*0.001: the 1h ratio needs 0.0144*36000 = 518 bad
	// events, 104s at 5 a second, so with rules evaluated every minute it
	// fires at 01:02 (600 bad: 1.667%) and not at 01:01 (300 bad). The
	// series are only an hour old, so the 6h window holds one hour: at
	// 01:01 page-6h fires (300 of 36600 = 0.82% >= 6*0.001), and at 01:02
	// the faster page-1h suppresses it.
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
          - exp_labels: {objective: checkout, tier: page-6h, severity: page}
            exp_annotations:
              summary: "IF objective checkout (target 99.9% over 30d) burns its error budget at 6x or more over both 6h and 30m (tier page-6h); error ratio over 6h: 0.8197%"
              runbook: "https://runbooks.example/checkout { { not a template }}"
              outcome: 'customers "can" pay'
      - eval_time: 62m
        alertname: SLOBurnRate
        exp_alerts:
          - exp_labels: {objective: checkout, tier: page-1h, severity: page}
            exp_annotations:
              summary: "IF objective checkout (target 99.9% over 30d) burns its error budget at 14.4x or more over both 1h and 5m (tier page-1h); error ratio over 1h: 1.667%"
              runbook: "https://runbooks.example/checkout { { not a template }}"
              outcome: 'customers "can" pay'
    promql_expr_test:
      - expr: opskit_slo:error_ratio:rate5m{objective="checkout"}
        eval_time: 65m
        exp_samples:
          - labels: 'opskit_slo:error_ratio:rate5m{objective="checkout"}'
            value: 0.5
`
	if err := os.WriteFile(filepath.Join(dir, "slo.test.yml"), []byte(test), 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, "test", "rules", "slo.test.yml")
}
