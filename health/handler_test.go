package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opskit/opskit/release"
)

// mixedFixture has a passing readiness check, a failing critical one, a
// failing non-critical one and a passing liveness check.
func mixedFixture(t *testing.T, opts ...Option) *fixture {
	f := newFixture(t, opts...)
	f.MustRegister(
		Check{Name: "a", Func: pass},
		Check{Name: "crit", Func: func(context.Context) error { return errors.New("broken") }},
		Check{Name: "warnc", NonCritical: true, Func: func(context.Context) error { return errors.New("down") }},
		Check{Name: "live", Probes: Liveness, Func: pass},
	)
	return f
}

func TestHandlerText(t *testing.T) {
	m := mux(mixedFixture(t).Checker)
	tests := []struct {
		target, remote string
		code           int
		body           string
	}{
		{"/livez", "", 200, "ok"},
		{"/livez?verbose", "", 200, "[+]live ok\nlivez check passed\n"},
		{"/startupz", "", 200, "ok"},
		{"/readyz", "", 503, "[+]a ok\n[-]crit failed: reason withheld\n[!]warnc warn: reason withheld\nreadyz check failed\n"},
		{"/readyz?verbose", "", 503, "[+]a ok\n[-]crit failed: reason withheld\n[!]warnc warn: reason withheld\nreadyz check failed\n"},
		{"/readyz?verbose", loopback, 503, "[+]a ok\n[-]crit failed: broken\n[!]warnc warn: down\nreadyz check failed\n"},
		{"/readyz", loopback, 503, "[+]a ok\n[-]crit failed: reason withheld\n[!]warnc warn: reason withheld\nreadyz check failed\n"},
		{"/readyz?verbose=0", loopback, 503, "[+]a ok\n[-]crit failed: reason withheld\n[!]warnc warn: reason withheld\nreadyz check failed\n"},
		{"/readyz?exclude=crit", "", 200, "ok"},
		{"/readyz?exclude=crit&verbose", loopback, 200, "[+]a ok\n[+]crit excluded: ok\n[!]warnc warn: down\nreadyz check passed with warnings\n"},
		{"/readyz?exclude=crit&exclude=nope&exclude=nope", "", 200, "ok\nwarn: some health checks cannot be excluded: no matches for \"nope\"\n"},
		{"/readyz/a", "", 200, "ok"},
		{"/readyz/warnc", "", 200, "ok"},
		{"/readyz/crit", "", 503, "[-]crit failed: reason withheld\nreadyz/crit check failed\n"},
		{"/readyz/crit?verbose", loopback, 503, "[-]crit failed: broken\nreadyz/crit check failed\n"},
		{"/readyz/nope", "", 404, "health: no check \"nope\" in readyz\n"},
		{"/readyz/a/b", "", 404, "health: no check at \"/readyz/a/b\"\n"},
		{"/livez/a", "", 404, "health: no check \"a\" in livez\n"},
		{"/healthz?exclude=crit&verbose", "", 200, "[+]a ok\n[+]crit excluded: ok\n[+]live ok\n[!]warnc warn: reason withheld\nhealthz check passed with warnings\n"},
		{"/healthz/live", "", 200, "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.target+" from "+tt.remote, func(t *testing.T) {
			got := get(t, m, tt.target, tt.remote, "")
			if got.code != tt.code || got.body != tt.body {
				t.Fatalf("got %d %q, want %d %q", got.code, got.body, tt.code, tt.body)
			}
			if tt.code != 404 {
				if ct := got.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if cc := got.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("Cache-Control %q", cc)
				}
			}
		})
	}
}

func TestHandlerJSON(t *testing.T) {
	m := mux(mixedFixture(t).Checker)
	const at = `"time":"2025-03-01T12:00:00Z"`
	tests := []struct {
		target, remote, accept string
		code                   int
		body                   string
	}{
		{"/readyz", "", "application/health+json", 503,
			`{"status":"fail","checks":{"a":[{"status":"pass",` + at + `}],"crit":[{"status":"fail",` + at + `}],"warnc":[{"status":"warn",` + at + `}]}}`},
		{"/readyz?verbose", loopback, "application/health+json", 503,
			`{"status":"fail","checks":{"a":[{"status":"pass",` + at + `}],"crit":[{"status":"fail",` + at + `,"output":"broken"}],"warnc":[{"status":"warn",` + at + `,"output":"down"}]}}`},
		{"/readyz?exclude=crit&exclude=nope", "", "text/html, application/json;q=0.9", 200,
			`{"status":"warn","checks":{"a":[{"status":"pass",` + at + `}],"warnc":[{"status":"warn",` + at + `}]},"notes":["no check named \"nope\" to exclude"]}`},
		{"/livez/live", "", "application/json", 200, `{"status":"pass","checks":{"live":[{"status":"pass",` + at + `}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			got := get(t, m, tt.target, tt.remote, tt.accept)
			if got.code != tt.code || got.body != tt.body+"\n" {
				t.Fatalf("got %d\n%s\nwant %d\n%s", got.code, got.body, tt.code, tt.body)
			}
			if ct := got.header.Get("Content-Type"); ct != "application/health+json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestHandlerUnknownIsFailInJSON(t *testing.T) {
	f := newFixture(t)
	f.MustRegister(Check{Name: "bg", Interval: 1e9, Func: pass}) // never started: no result
	got := get(t, f.Handler(Readiness), "/readyz?verbose", loopback, "application/health+json")
	want := `{"status":"fail","checks":{"bg":[{"status":"fail","output":"health: no result yet"}]}}` + "\n"
	if got.code != 503 || got.body != want {
		t.Fatalf("got %d %s, want 503 %s", got.code, got.body, want)
	}
}

func TestHandlerMethods(t *testing.T) {
	h := mixedFixture(t).Handler(Liveness)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/livez", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d Allow=%q, want 405 GET, HEAD", rec.Code, rec.Header().Get("Allow"))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/livez", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Fatalf("HEAD: %d body %q, want 200 and no body", rec.Code, rec.Body.String())
	}
}

func TestHandlerUnderAnotherPrefix(t *testing.T) {
	f := mixedFixture(t)
	m := http.NewServeMux()
	m.Handle("/ops/", http.StripPrefix("/ops", f.Handler(Liveness)))
	m.Handle("/probe", f.Handler(Liveness))
	for _, target := range []string{"/ops/livez", "/ops/livez/live", "/probe"} {
		if got := get(t, m, target, "", ""); got.code != 200 || got.body != "ok" {
			t.Errorf("%s: %d %q, want 200 ok", target, got.code, got.body)
		}
	}
}

func TestReadyzAllocs(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		f.MustRegister(Check{Name: name, Interval: 1e9, Func: pass})
	}
	_ = f.Start()
	for range 10 {
		f.next(t)
	}
	h := f.Handler(Readiness)
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	rec := httptest.NewRecorder()
	allocs := testing.AllocsPerRun(100, func() {
		rec.Body.Reset()
		clear(rec.Header())
		h.ServeHTTP(rec, req)
	})
	if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Fatalf("readyz: %d %q", rec.Code, rec.Body.String())
	}
	if allocs > 0 {
		t.Fatalf("readyz of 10 background checks: %v allocations per request, want 0", allocs)
	}
	req.Header.Set("Accept", "application/health+json")
	allocs = testing.AllocsPerRun(100, func() {
		rec.Body.Reset()
		clear(rec.Header())
		h.ServeHTTP(rec, req)
	})
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Body.String(), `{"status":"pass","checks":{"a":[{"status":"pass","time":"`) {
		t.Fatalf("readyz JSON: %d %q", rec.Code, rec.Body.String())
	}
	if allocs > 0 {
		t.Fatalf("readyz JSON of 10 background checks: %v allocations per request, want 0", allocs)
	}
}

// A request at the query caps (every exclude unmatched, verbose) costs a
// bounded, small number of allocations.
func TestMaxQueryAllocs(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		f.MustRegister(Check{Name: name, Interval: 1e9, Func: pass})
	}
	_ = f.Start()
	for range 10 {
		f.next(t)
	}
	var q strings.Builder
	for i := range MaxQueryParams - 1 {
		fmt.Fprintf(&q, "exclude=no-such-check-%02d-%s&", i, strings.Repeat("x", 6))
	}
	q.WriteString("verbose")
	if q.Len() > MaxQueryBytes {
		t.Fatalf("query of %d bytes is past the cap", q.Len())
	}
	h := f.Handler(Readiness)
	req := httptest.NewRequest(http.MethodGet, "/readyz?"+q.String(), nil)
	rec := httptest.NewRecorder()
	allocs := testing.AllocsPerRun(100, func() {
		rec.Body.Reset()
		clear(rec.Header())
		h.ServeHTTP(rec, req)
	})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `no matches for "no-such-check-00-xxxxxx", `) {
		t.Fatalf("readyz: %d %q", rec.Code, rec.Body.String())
	}
	if allocs > 1 {
		t.Fatalf("readyz at the query caps: %v allocations per request, want at most 1", allocs)
	}
}

// Excludes are matched to checks by one walk of two sorted lists: every
// name left out, every other reported, whatever the order asked in.
func TestExcludeMatching(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"a", "c", "e", "g"} {
		f.MustRegister(Check{Name: name, Func: pass})
	}
	f.MustRegister(Check{Name: "live", Probes: Liveness, Func: pass})
	h := f.Handler(Readiness)
	for _, tc := range []struct{ query, want string }{
		{"exclude=g&exclude=c", "[+]a ok\n[+]c excluded: ok\n[+]e ok\n[+]g excluded: ok\nreadyz check passed\n"},
		{"exclude=b&exclude=g&exclude=a&exclude=zz&exclude=g",
			"[+]a excluded: ok\n[+]c ok\n[+]e ok\n[+]g excluded: ok\nwarn: some health checks cannot be excluded: no matches for \"b\", \"zz\"\nreadyz check passed\n"},
		{"exclude=live&exclude=e&exclude=0",
			"[+]a ok\n[+]c ok\n[+]e excluded: ok\n[+]g ok\nwarn: some health checks cannot be excluded: no matches for \"0\", \"live\"\nreadyz check passed\n"},
	} {
		if got := get(t, h, "/readyz?verbose&"+tc.query, "", ""); got.code != 200 || got.body != tc.want {
			t.Errorf("?%s: %d\n%s\nwant\n%s", tc.query, got.code, got.body, tc.want)
		}
	}
}

func TestHandlerJSONRelease(t *testing.T) {
	f := newFixture(t, WithRelease(release.Info{Service: "orders", Version: "v1.4.2", ID: "0123456789ab-dirty"}))
	f.MustRegister(Check{Name: "live", Probes: Liveness, Func: pass})
	m := mux(f.Checker)
	want := `{"status":"pass","version":"v1.4.2","releaseId":"0123456789ab-dirty","serviceId":"orders","checks":{"live":[{"status":"pass","time":"2025-03-01T12:00:00Z"}]}}` + "\n"
	if got := get(t, m, "/livez", "", "application/health+json"); got.code != 200 || got.body != want {
		t.Fatalf("got %d\n%s\nwant 200\n%s", got.code, got.body, want)
	}
	// The text answer stays "ok"; empty fields are left out of the JSON.
	if got := get(t, m, "/livez", "", ""); got.body != "ok" {
		t.Errorf("text: got %q, want ok", got.body)
	}
	// As TestReadyzAllocs: a background check's result costs nothing to show.
	f = newFixture(t, WithRelease(release.Info{Service: "orders", Version: "v1.4.2", ID: "0123456789ab"}))
	f.MustRegister(Check{Name: "bg", Probes: Liveness, Interval: 1e9, Func: pass})
	_ = f.Start()
	f.next(t)
	rec, req := httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/livez", nil)
	req.Header.Set("Accept", "application/health+json")
	h := f.Handler(Liveness)
	if allocs := testing.AllocsPerRun(100, func() {
		rec.Body.Reset()
		clear(rec.Header())
		h.ServeHTTP(rec, req)
	}); allocs > 0 {
		t.Errorf("livez JSON with a release: %v allocations per request, want 0", allocs)
	}
	f = newFixture(t, WithRelease(release.Info{Version: `v2 "<beta>"`}))
	want = `{"status":"pass","version":"v2 \"\u003cbeta\u003e\""}` + "\n"
	if got := get(t, f.Handler(Liveness), "/livez", "", "application/json"); got.body != want {
		t.Errorf("got %s, want %s", got.body, want)
	}
}
