package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The self-healing story in a real process: bulk pricing goes down for
// everyone; the page of orders.bulk's objective switches orders.bulk off
// once; refused bulk orders are answered 503 and still count as failed
// bulk orders; once pricing is back and a whole check of trial orders
// succeeded, automation switches it back on. The incident and the audit
// trail say so, by automation.
func TestSelfHealingSwitchesBulkOffAndBackOn(t *testing.T) {
	t.Parallel() // mostly waiting on the story's phases
	base, _, logs := startService(t, "-demo-story", storySelfHealing, "-demo-phase", "15s", "-remedy-check", "12s",
		"-operator-token", testToken)
	logs.find(t, 20*time.Second, "self-healing story: bulk pricing down")
	logs.find(t, 60*time.Second, "remedy: action done", `action="switch off orders.bulk"`)

	// While off, a bulk order is refused before any work; a fifth are
	// trials, which fail on pricing while it is down.
	refused := 0
	for i := 0; i < 10; i++ {
		code, body := do(t, http.MethodPost, base+"/api/orders", `{"item": "book", "quantity": 5}`, "X-Tenant", "tenant-05")
		if code == http.StatusServiceUnavailable && strings.Contains(body, "bulk orders (more than three of an item) are switched off") {
			refused++
		}
	}
	if refused < 5 {
		t.Errorf("%d of 10 bulk orders refused as switched off, want about 8", refused)
	}
	_, features := get(t, base+"/features?format=json")
	if !strings.Contains(features, "switched off") {
		t.Errorf("/features does not show the refusals as failures of orders.bulk: %.2000s", features)
	}

	logs.find(t, 90*time.Second, "self-healing story: bulk pricing back")
	logs.find(t, 60*time.Second, "remedy: undone", `action="switch off orders.bulk"`)

	_, trail := get(t, base+"/audit", "Authorization", "Bearer "+testToken)
	for what, want := range map[string]int{`"remedy.run"`: 1, `"remedy.undo"`: 1, `"feature.switch"`: 2} {
		if got := strings.Count(trail, what); got != want {
			t.Errorf("audit trail: %d %s records, want %d:\n%s", got, what, want, trail)
		}
	}
	if strings.Count(trail, `"actor":"automation"`) < 4 {
		t.Errorf("audit trail: want the runs, the undo and both switches by automation:\n%s", trail)
	}

	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{"opskit_remedy_runs_total{", "opskit_remedy_undos_total{", `outcome="done"`, "opskit_remedy_in_effect{"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	_, body := get(t, base+"/slo?format=json")
	var page struct {
		Objectives []struct {
			Objective string `json:"objective"`
			Incidents []struct {
				Notes []struct {
					By, Text string
				}
			} `json:"incidents"`
		} `json:"objectives"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("/slo JSON: %v\n%.500s", err, body)
	}
	var notes []string
	for _, o := range page.Objectives {
		for _, inc := range o.Incidents {
			for _, n := range inc.Notes {
				if o.Objective == "feature-orders-bulk" && n.By == "automation" {
					notes = append(notes, n.Text)
				}
			}
		}
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "switch off orders.bulk: done") || !strings.Contains(notes[1], "undo switch off orders.bulk: done") {
		t.Errorf("incident notes by automation = %q, want the switch and its undo", notes)
	}
}

// In the other stories remediation is a dry run: the failing-feature
// story's page says what automation would do, and nothing switches.
func TestFailingFeatureStoryRemediationIsADryRun(t *testing.T) {
	t.Parallel()
	base, _, logs := startService(t, "-demo-story", storyFailing, "-operator-token", testToken)
	logs.find(t, 60*time.Second, "remedy: dry run: would switch off orders.bulk")
	_, trail := get(t, base+"/audit", "Authorization", "Bearer "+testToken)
	if !strings.Contains(trail, `"result":"dry run"`) || strings.Contains(trail, `"feature.switch"`) {
		t.Errorf("audit trail: want a dry run and no switch:\n%s", trail)
	}
	code, body := do(t, http.MethodPost, base+"/api/orders", `{"item": "book", "quantity": 5}`, "X-Tenant", "tenant-09")
	if code != http.StatusOK && code != http.StatusAccepted {
		t.Errorf("a bulk order of a tenant the story spares: %d %s; want it taken", code, body)
	}
}

func TestRemedyFlags(t *testing.T) {
	for _, tc := range []struct {
		mode, story string
		check       time.Duration
		wantMode    string
		wantCheck   time.Duration
		wantErr     string
	}{
		{"", storySelfHealing, 0, remedyOn, 30 * time.Second, ""},
		{"", storyOutage, 0, remedyDryRun, 10 * time.Minute, ""},
		{remedyOff, storySelfHealing, time.Minute, remedyOff, time.Minute, ""},
		{"yes", storyOutage, 0, "", 0, `-remedy "yes"`},
		{remedyOn, storyOutage, 10 * time.Millisecond, "", 0, "-remedy-check 10ms"},
	} {
		c := remedyConfig{remedyMode: tc.mode, remedyCheck: tc.check}
		err := c.validate(tc.story)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%+v: err %v, want one naming %s", tc, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || c.remedyMode != tc.wantMode || c.remedyCheck != tc.wantCheck):
			t.Errorf("%+v: got %q %v %v, want %q %v", tc, c.remedyMode, c.remedyCheck, err, tc.wantMode, tc.wantCheck)
		}
	}
}
