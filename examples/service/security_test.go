package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/audit"
)

const testToken = "test-operator-token-0123456789"

// The hardened service: a foreign Host, a bad tenant, a cross-site request
// and a caller without the token are refused and change nothing; an order
// accepted for later says so without internals; each permitted action
// leaves one audit record that /audit shows to the operator only.
func TestServiceRefusesWhatItShould(t *testing.T) {
	dataDir := t.TempDir()
	base, _, _ := startService(t, "-demo-traffic=false", "-operator-token", testToken, "-data", dataDir)
	bearer := "Bearer " + testToken

	// DNS rebinding: a page at evil.example resolving to the service.
	if code, body := get(t, base+"/queue/dead", "Host", "evil.example:8080"); code != 403 || !strings.Contains(body, "evil.example") {
		t.Errorf("foreign Host = %d %s, want 403 naming it", code, body)
	}
	if code, _ := get(t, base+"/queue", "Host", "localhost"); code != 200 {
		t.Errorf("Host localhost = %d, want 200", code)
	}

	// Tenant ids are bounded before they reach the queue or the features.
	for _, tenant := range []string{strings.Repeat("a", 65), "acme<script>", "a b"} {
		code, body := do(t, "POST", base+"/api/orders", `{"item":"book","quantity":1}`, "X-Tenant", tenant)
		if code != 400 || !strings.Contains(body, "X-Tenant") {
			t.Errorf("X-Tenant %.20q = %d %s, want 400 naming the header", tenant, code, body)
		}
	}
	if code, body := do(t, "POST", base+"/api/orders", `{"item":"`+strings.Repeat("x", 70<<10)+`","quantity":1}`); code != 413 {
		t.Errorf("a 70 KiB order = %d %.200s, want 413", code, body)
	}

	// Demo routes: token-free, but cross-site requests are refused.
	for _, h := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Origin", "http://evil.example"}} {
		if code, _ := do(t, "POST", base+"/demo/downstream?mode=down", "", h...); code != 403 {
			t.Errorf("cross-site mode change with %s = %d, want 403", h[0], code)
		}
	}
	if m := demoStatus(t, base).Mode; m != "up" {
		t.Fatalf("mode after refused requests = %q, want up", m)
	}
	if code, _ := do(t, "POST", base+"/demo/downstream?mode=down", "", "Sec-Fetch-Site", "same-origin"); code != 200 {
		t.Fatalf("same-origin mode change = %d, want 200", code)
	}

	// Accepted for later: the answer says so, and nothing internal.
	code, body := do(t, "POST", base+"/api/orders", `{"item":"book","quantity":1}`, "X-Tenant", "acme")
	var accepted map[string]string
	if err := json.Unmarshal([]byte(body), &accepted); err != nil {
		t.Fatalf("order while down: %v in %q", err, body)
	}
	delete(accepted, "id") // random: it may contain any digits, "503" included
	rest := fmt.Sprint(accepted)
	if code != 202 || !strings.Contains(rest, "will be delivered") ||
		strings.Contains(rest, "http") || strings.Contains(rest, "127.0.0.1") || strings.Contains(rest, "503") {
		t.Errorf("order while down = %d %s, want 202 saying it will be delivered, no URL or error chain", code, body)
	}

	// Admin routes: the token, same-origin, or nothing.
	requeue := base + "/queue/dead/00000000000000ff/requeue"
	for _, tc := range []struct {
		header []string
		want   int
	}{
		{nil, 401},
		{[]string{"Authorization", "Bearer wrong-token-0123456789"}, 401},
		{[]string{"Authorization", bearer, "Sec-Fetch-Site", "cross-site"}, 403},
		{[]string{"Authorization", bearer, "Origin", "http://evil.example"}, 403},
	} {
		if code, body := do(t, "POST", requeue, "", tc.header...); code != tc.want {
			t.Errorf("requeue with %q = %d %s, want %d", tc.header, code, body, tc.want)
		}
	}
	if code, _ := get(t, base+"/audit"); code != 401 {
		t.Errorf("/audit without the token = %d, want 401", code)
	}
	if code, body := do(t, "POST", requeue, "", "Authorization", bearer); code != 404 {
		t.Errorf("requeue of an unknown id with the token = %d %s, want 404", code, body)
	}
	if code, body := do(t, "POST", base+"/queue/dead/00000000000000ff/purge", "", "Authorization", bearer); code != 404 {
		t.Errorf("purge of an unknown id with the token = %d %s, want 404", code, body)
	}

	// Three actions were taken (mode change, requeue, purge), each audited
	// once; the refused ones left nothing.
	code, body = get(t, base+"/audit", "Authorization", bearer)
	var page struct{ Records []audit.Entry }
	if code != 200 || json.Unmarshal([]byte(body), &page) != nil {
		t.Fatalf("/audit = %d %s", code, body)
	}
	var got []string
	for _, r := range page.Records {
		result := r.Result
		if result != "ok" {
			result = "failed" // the queue's own words for a missing id
		}
		got = append(got, string(r.Action)+" "+r.Target+" by "+r.Actor+": "+result)
	}
	want := []string{"demo.downstream-mode downstream by demo visitor: ok",
		"queue.requeue 00000000000000ff by operator: failed",
		"queue.purge 00000000000000ff by operator: failed"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit trail = %q, want %q", got, want)
	}
	// The file verifies with the service's key: the chain is intact.
	key, err := audit.LoadKey(filepath.Join(dataDir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dataDir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for rd := audit.NewReader(f, key); ; n++ {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("audit.jsonl record %d: %v", n+1, err)
		}
		if rec.Release == "" {
			t.Errorf("audit.jsonl record %d names no release: %+v", n+1, rec)
		}
	}
	if n != len(want) {
		t.Errorf("audit.jsonl holds %d verified records, want %d", n, len(want))
	}
}

// Without -demo there are no demo routes; without a token every admin
// route answers 403, whatever the caller sends.
func TestServiceWithoutDemoOrToken(t *testing.T) {
	base, _, _ := startService(t, "-demo=false")
	if code, _ := get(t, base+"/demo/downstream"); code != 404 {
		t.Errorf("GET /demo/downstream without -demo = %d, want 404", code)
	}
	if code, _ := do(t, "POST", base+"/demo/downstream?mode=down", ""); code != 404 && code != 405 {
		t.Errorf("POST /demo/downstream without -demo = %d, want 404", code)
	}
	for _, h := range [][]string{nil, {"Authorization", "Bearer " + testToken}, {"Authorization", "Bearer "}} {
		if code, _ := do(t, "POST", base+"/queue/dead/00000000000000ff/requeue", "", h...); code != 403 {
			t.Errorf("requeue with no token configured, header %q = %d, want 403", h, code)
		}
		if code, _ := get(t, base+"/audit", h...); code != 403 {
			t.Errorf("/audit with no token configured, header %q = %d, want 403", h, code)
		}
		if code, _ := get(t, base+"/queue/dead", h...); code != 403 {
			t.Errorf("/queue/dead with no token configured, header %q = %d, want 403", h, code)
		}
	}
	if code, body := do(t, "POST", base+"/api/orders", `{"item":"book","quantity":1}`); code != 200 {
		t.Errorf("order without -demo = %d %s, want 200 (the simulated downstream is up)", code, body)
	}
}

func TestHostGuard(t *testing.T) {
	for _, tc := range []struct {
		listen string
		extra  []string
		host   string
		want   bool
	}{
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", true},
		{"127.0.0.1:8080", nil, "localhost:8080", true},
		{"127.0.0.1:8080", nil, "LOCALHOST", true},
		{"127.0.0.1:8080", nil, "[::1]:8080", true},
		{"127.0.0.1:8080", nil, "evil.example:8080", false},
		{"127.0.0.1:8080", nil, "10.0.0.7:8080", false},
		{"127.0.0.1:8080", []string{"orders.internal:8080"}, "orders.internal", true},
		{"0.0.0.0:8080", nil, "10.0.0.7:8080", true},
		{"[::]:8080", nil, "[fd00::7]:8080", true},
		{":8080", nil, "evil.example", false},
		{"orders.internal:8080", nil, "orders.internal:8080", true},
	} {
		g := newHostGuard(tc.listen, tc.extra)
		if got := g.allows(tc.host); got != tc.want {
			t.Errorf("listen %s extra %q: allows(%q) = %v, want %v", tc.listen, tc.extra, tc.host, got, tc.want)
		}
	}
}

func TestTenantOf(t *testing.T) {
	for _, tc := range []struct{ header, want, err string }{
		{"", "", ""},
		{"tenant-07", "tenant-07", ""},
		{"a.b_c-D9", "a.b_c-D9", ""},
		{strings.Repeat("t", 64), strings.Repeat("t", 64), ""},
		{strings.Repeat("t", 65), "", "65 bytes"},
		{"acme corp", "", `' '`},
		{"ümlaut", "", "X-Tenant"},
	} {
		r := httptest.NewRequest("POST", "/api/orders", nil)
		r.Header.Set("X-Tenant", tc.header)
		got, err := tenantOf(r)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("tenantOf(%q) = %q, %v, want %q", tc.header, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "X-Tenant")):
			t.Errorf("tenantOf(%q) error = %v, want one naming X-Tenant and containing %q", tc.header, err, tc.err)
		}
	}
}

func TestOperatorTokenFlagAndEnv(t *testing.T) {
	t.Setenv("OPSKIT_OPERATOR_TOKEN", testToken)
	c, err := parseFlags(nil, nil)
	if err != nil || c.operatorToken != testToken {
		t.Errorf("token from env = %q, %v, want %q", c.operatorToken, err, testToken)
	}
	c, err = parseFlags([]string{"-operator-token", "flag-token-0123456789"}, nil)
	if err != nil || c.operatorToken != "flag-token-0123456789" {
		t.Errorf("-operator-token over env = %q, %v", c.operatorToken, err)
	}
	if _, err := parseFlags([]string{"-operator-token", "short"}, nil); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("a 5-character token: %v, want an error saying how long it must be", err)
	}
}

// Every phase of a request is bounded, and so is every body.
func TestServerBoundsEveryPhase(t *testing.T) {
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		}
	}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout": srv.ReadTimeout, "WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("%s = %v, want a bound of at most 2m", name, d)
		}
	}
	rec := httptest.NewRecorder()
	srv.Handler.ServeHTTP(rec, httptest.NewRequest("POST", "/anything", strings.NewReader(strings.Repeat("x", maxBody+1))))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body of maxBody+1 bytes on any route = %d, want 413", rec.Code)
	}
}
