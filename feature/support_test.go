package feature_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/feature"
)

func TestTenantLookup(t *testing.T) {
	r, _ := failingRegistry(t)
	for _, tt := range []struct {
		tenant        string
		affected      bool
		features      int
		firstFeature  string
		summaryPrefix string
	}{
		{"tenant-3", true, 2, "orders.bulk", "affected: orders.bulk failed"},
		{"tenant-30", false, 2, "orders.place", "not affected"},
		{"stranger", false, 0, "", "no use"},
	} {
		rep, err := r.Tenant(tt.tenant)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Affected != tt.affected || len(rep.Features) != tt.features || !strings.HasPrefix(rep.Summary, tt.summaryPrefix) {
			t.Errorf("%s: %+v", tt.tenant, rep)
			continue
		}
		if strings.Contains(rep.Tenant, tt.tenant) || len(rep.Tenant) != 16 {
			t.Errorf("%s: tenant field %q is not a hash", tt.tenant, rep.Tenant)
		}
		if tt.features > 0 && rep.Features[0].Name != tt.firstFeature {
			t.Errorf("%s: first feature %s, want %s", tt.tenant, rep.Features[0].Name, tt.firstFeature)
		}
	}
	rep, _ := r.Tenant("tenant-3")
	today := rep.Features[0].Days[0]
	if today.Used.Value != "yes" || today.Failed.Value != "yes" || today.Failed.String() != "yes" {
		t.Errorf("tenant-3 today: %+v", today)
	}
	if len(rep.Features[0].Reasons) == 0 {
		t.Error("no reasons for the failing feature")
	}
	if _, err := r.Tenant(strings.Repeat("x", 300)); err == nil || !strings.HasPrefix(err.Error(), "feature: ") {
		t.Errorf("a 300-byte tenant id: %v", err)
	}
}

func TestSupportHandler(t *testing.T) {
	r, _ := failingRegistry(t)
	sink := &audittest.Recorder{}
	g := &audit.Guard{Authorize: audit.BearerTokens(audit.Token{Secret: "s3cret", Actor: "support-anna", Actions: []audit.Action{feature.SupportAction}}), Sink: sink}
	h := r.SupportHandler(g)
	do := func(method, target, body, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("GET", "/support?tenant=tenant-3", "", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", rec.Code)
	}
	if rec := do("GET", "/support?tenant=tenant-3", "", "wrong"); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", rec.Code)
	}
	if len(sink.Records()) != 0 {
		t.Errorf("refused requests were audited: %+v", sink.Records())
	}
	rec := do("GET", "/support?format=json&tenant=tenant-3", "", "s3cret")
	var rep feature.TenantReport
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &rep) != nil || !rep.Affected {
		t.Fatalf("affected tenant: %d %s", rec.Code, rec.Body)
	}
	rec = do("POST", "/support", url.Values{"tenant": {"tenant-30"}}.Encode(), "s3cret")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "not affected") {
		t.Fatalf("unaffected tenant: %d %s", rec.Code, rec.Body)
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Content-Type": "text/html; charset=utf-8"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if len(sink.Records()) != 2 {
		t.Fatalf("%d audit records for 2 lookups", len(sink.Records()))
	}
	for _, a := range sink.Records() {
		line, _ := json.Marshal(a)
		if strings.Contains(string(line), "tenant-3") || strings.Contains(string(line), "tenant-30") {
			t.Errorf("audit record holds the raw tenant id: %s", line)
		}
		if a.Action != feature.SupportAction || a.Actor != "support-anna" || !strings.HasPrefix(a.Target, "tenant:") {
			t.Errorf("audit record %+v", a)
		}
	}
	if rec := do("GET", "/support?tenant=%01x", "", "s3cret"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "tenant") {
		t.Errorf("bad tenant: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/support", "", "s3cret"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "<form") {
		t.Errorf("form: %d", rec.Code)
	}
	if rec := do("DELETE", "/support", "", "s3cret"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", rec.Code)
	}
	if len(sink.Records()) != 2 {
		t.Errorf("%d audit records; only lookups are audited", len(sink.Records()))
	}
}
