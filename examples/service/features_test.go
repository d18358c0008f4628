package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestFailingFeatureStory runs the service with -demo-story failing-feature
// as a real process: bulk orders fail for tenant-01 and succeed for
// tenant-07. /features names orders.bulk first with its failing tenants,
// ratio, start time and top reason; orders.queued is no feature; the
// support view answers "affected" for tenant-01 and "not affected" for
// tenant-07, only with the operator token.
func TestFailingFeatureStory(t *testing.T) {
	base, _, _ := startService(t, "-demo-traffic=false", "-demo-story", "failing-feature", "-operator-token", testToken)
	order := func(tenant string, quantity int, want int) {
		t.Helper()
		body := `{"item":"book","quantity":` + string(rune('0'+quantity)) + `}`
		if code, out := do(t, "POST", base+"/api/orders", body, "X-Tenant", tenant); code != want {
			t.Fatalf("order of %d for %s = %d %s, want %d", quantity, tenant, code, out, want)
		}
	}
	for range 6 {
		order("tenant-01", 5, 503) // the failing feature
		order("tenant-07", 5, 200)
		order("tenant-01", 1, 200) // orders.place works for everyone
	}
	code, body := get(t, base+"/features?format=json")
	if code != 200 {
		t.Fatalf("/features: %d %s", code, body)
	}
	var rep struct {
		Headline string
		Failing  []struct {
			Name     string
			Summary  string
			Tenants  int64
			Ratio    float64
			Failures int64
		}
		Features []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Failing) == 0 || rep.Failing[0].Name != "orders.bulk" || rep.Features[0].Name != "orders.bulk" {
		t.Fatalf("failing %+v, first feature %+v: want orders.bulk first", rep.Failing, rep.Features[0])
	}
	fl := rep.Failing[0]
	for _, want := range []string{"orders.bulk is failing for 1 ±", "50 % of its users", "(6 of 12 uses today, 50 %", "since ", `top reason: "bulk pricing unavailable for this tenant's price list" (6 times)`} {
		if !strings.Contains(fl.Summary, want) {
			t.Errorf("failing summary %q lacks %q", fl.Summary, want)
		}
	}
	if !strings.Contains(rep.Headline, "% of features rarely or never used") {
		t.Errorf("headline %q", rep.Headline)
	}
	for _, f := range rep.Features {
		if f.Name == "orders.queued" {
			t.Error("orders.queued, an outcome, is declared as a feature")
		}
	}
	if _, html := get(t, base+"/features"); strings.Index(html, "orders.bulk is failing") > strings.Index(html, "orders.place") {
		t.Error("the HTML report does not open with the failing feature")
	}

	lookup := func(tenant string, token string) (int, string) {
		return do(t, "POST", base+"/support?format=json", url.Values{"tenant": {tenant}}.Encode(),
			"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer "+token)
	}
	if code, _ := lookup("tenant-01", "not-the-token-0123456789"); code != 401 {
		t.Errorf("support view with a wrong token: %d, want 401", code)
	}
	for tenant, affected := range map[string]bool{"tenant-01": true, "tenant-07": false} {
		code, body := lookup(tenant, testToken)
		var ans struct {
			Affected bool
			Summary  string
		}
		if code != 200 || json.Unmarshal([]byte(body), &ans) != nil || ans.Affected != affected {
			t.Errorf("is %s affected? %d %s, want affected=%v", tenant, code, body, affected)
		}
	}
	_, trail := get(t, base+"/audit", "Authorization", "Bearer "+testToken)
	if strings.Count(trail, `"support.read"`) != 2 || strings.Contains(trail, "tenant-01") || strings.Contains(trail, "tenant-07") {
		t.Errorf("audit trail: want 2 support.read records without raw tenant ids:\n%s", trail)
	}

	// The kill switch, by hand: only the operator token may switch, the
	// switch is audited, refused bulk orders answer 503 and count as failed
	// uses of orders.bulk, and /features says who switched it off and why.
	toggle := func(on bool, token string) (int, string) {
		form := url.Values{"name": {"orders.bulk"}, "on": {fmt.Sprint(on)}, "why": {"pricing vendor outage"}}
		return do(t, "POST", base+"/features/switch", form.Encode(),
			"Content-Type", "application/x-www-form-urlencoded", "Authorization", "Bearer "+token)
	}
	if code, _ := toggle(false, "not-the-token-0123456789"); code != 401 {
		t.Errorf("switch with a wrong token: %d, want 401", code)
	}
	if code, body := toggle(false, testToken); code != 200 {
		t.Fatalf("switch off: %d %s", code, body)
	}
	before := bulkFailures(t, base)
	order("tenant-07", 5, 503) // worked a moment ago; now refused before any work
	order("tenant-07", 1, 200)
	if after := bulkFailures(t, base); after != before+1 {
		t.Errorf("orders.bulk failures %d -> %d: a refused bulk order must count as failed", before, after)
	}
	if _, page := get(t, base+"/features"); !strings.Contains(page, "switched off by operator") || !strings.Contains(page, "pricing vendor outage") {
		t.Error("/features does not say orders.bulk was switched off by the operator, and why")
	}
	if code, body := toggle(true, testToken); code != 200 {
		t.Fatalf("switch on: %d %s", code, body)
	}
	order("tenant-07", 5, 200)
	_, trail = get(t, base+"/audit", "Authorization", "Bearer "+testToken)
	if n := strings.Count(trail, `"feature.switch"`); n != 2 {
		t.Errorf("audit trail: %d feature.switch records, want 2 (off, on):\n%s", n, trail)
	}
}

// bulkFailures reads the failed uses of orders.bulk from /features.
func bulkFailures(t *testing.T, base string) int64 {
	t.Helper()
	_, body := get(t, base+"/features?format=json")
	var rep struct {
		Features []struct {
			Name     string
			Failures int64
		}
	}
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Features {
		if f.Name == "orders.bulk" {
			return f.Failures
		}
	}
	t.Fatal("orders.bulk is not on /features")
	return 0
}
