package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceServesTheWeeklyReport runs the service as a process: /report
// wants the operator token, serves the week so far in the three formats
// (the release, the objectives and the queue in it), names a bad parameter,
// and each report served is in the audit trail; the writer keeps its state
// under -data.
func TestServiceServesTheWeeklyReport(t *testing.T) {
	dataDir := t.TempDir()
	base, _, _ := startService(t, "-demo-traffic=false", "-operator-token", testToken, "-data", dataDir, "-version", "v9.8.7")
	bearer := "Bearer " + testToken
	if code, _ := get(t, base+"/report"); code != 401 {
		t.Errorf("/report without the token = %d, want 401", code)
	}
	code, body := get(t, base+"/report?week=current&format=json", "Authorization", bearer)
	var r struct {
		Week       string                   `json:"week"`
		Complete   bool                     `json:"complete"`
		Release    struct{ Version string } `json:"release"`
		Compliance struct {
			Status     string                  `json:"status"`
			Objectives []struct{ Name string } `json:"objectives"`
		} `json:"compliance"`
		Queue struct {
			Status  string `json:"status"`
			Counted bool   `json:"counted"`
		} `json:"queue"`
		Maintenance struct{ Status string }           `json:"maintenance"`
		Features    struct{ Status, Headline string } `json:"features"`
	}
	if err := json.Unmarshal([]byte(body), &r); code != 200 || err != nil {
		t.Fatalf("/report?format=json = %d %v %.300s", code, err, body)
	}
	if r.Complete || r.Release.Version != "v9.8.7" || r.Compliance.Status != "ok" || len(r.Compliance.Objectives) == 0 ||
		r.Queue.Status != "ok" || !r.Queue.Counted || r.Maintenance.Status != "ok" || r.Features.Status != "ok" || r.Features.Headline == "" {
		t.Errorf("week so far: %+v", r)
	}
	for format, want := range map[string]string{"html": "<h2 style=", "md": "## Service levels"} {
		title := "Weekly ops report " + r.Week
		if format == "md" {
			title = "Weekly ops report " + strings.ReplaceAll(r.Week, "-", `\-`) // Markdown escapes it
		}
		code, body := get(t, base+"/report?format="+format, "Authorization", bearer)
		if code != 200 || !strings.Contains(body, want) || !strings.Contains(body, title) {
			t.Errorf("/report?format=%s = %d %.200s", format, code, body)
		}
	}
	if code, body := get(t, base+"/report?week=garbage", "Authorization", bearer); code != 400 || !strings.Contains(body, "parameter week") {
		t.Errorf("week=garbage = %d %s, want 400 naming the parameter", code, body)
	}
	code, body = get(t, base+"/audit", "Authorization", bearer)
	if code != 200 || strings.Count(body, `"action":"report.read"`) != 3 {
		t.Errorf("/audit = %d, %d report.read records, want 3: %.500s", code, strings.Count(body, `"action":"report.read"`), body)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "reports", "state.json")); err != nil {
		t.Errorf("the report writer's state: %v", err)
	}
}

func TestReportFlags(t *testing.T) {
	for _, args := range [][]string{{"-report-webhook", "ftp://x"}, {"-report-webhook", "not a url"}} {
		if _, err := parseFlags(args, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), "-report-webhook") {
			t.Errorf("%q: %v, want an error naming -report-webhook", args, err)
		}
	}
}
