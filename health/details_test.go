package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/opskit/opskit/audit"
)

// The default policy shows reasons to the local host only, and a request
// that came through a proxy is not local unless a trusted proxy says the
// client is.
func TestDefaultDetailsPolicy(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")}
	cases := []struct {
		name    string
		remote  string
		header  map[string]string
		trusted []netip.Prefix
		want    bool
	}{
		{"loopback v4", "127.0.0.1:5", nil, nil, true},
		{"loopback v6", "[::1]:80", nil, nil, true},
		{"mapped loopback", "[::ffff:127.0.0.1]:80", nil, nil, true},
		{"remote", "10.0.0.1:5", nil, nil, false},
		{"empty", "", nil, nil, false},
		{"garbage", "garbage", nil, nil, false},
		{"sidecar forwarding a remote client", "127.0.0.6:5", map[string]string{"X-Forwarded-For": "198.51.100.23"}, nil, false},
		{"sidecar with X-Real-IP", "127.0.0.1:5", map[string]string{"X-Real-IP": "127.0.0.1"}, nil, false},
		{"sidecar with Forwarded", "127.0.0.1:5", map[string]string{"Forwarded": "for=127.0.0.1"}, nil, false},
		{"sidecar with Via only", "127.0.0.1:5", map[string]string{"Via": "1.1 envoy"}, nil, false},
		{"trusted proxy, remote client", "127.0.0.1:5", map[string]string{"X-Forwarded-For": "198.51.100.23"}, trusted, false},
		{"trusted proxy, local client", "127.0.0.1:5", map[string]string{"X-Forwarded-For": "127.0.0.1"}, trusted, true},
		{"trusted chain, local client", "127.0.0.1:5", map[string]string{"X-Forwarded-For": "::1, 10.1.2.3"}, trusted, true},
		{"spoofed left entry", "127.0.0.1:5", map[string]string{"X-Forwarded-For": "127.0.0.1, 198.51.100.23"}, trusted, false},
		{"untrusted peer", "10.9.0.1:5", map[string]string{"X-Forwarded-For": "127.0.0.1"}, trusted, false},
		{"Forwarded, local client", "127.0.0.1:5", map[string]string{"Forwarded": `for="[::1]:4711";proto=http`}, trusted, true},
		{"Forwarded, remote client", "127.0.0.1:5", map[string]string{"Forwarded": "for=127.0.0.1, for=192.0.2.60;proto=https"}, trusted, false},
		{"Forwarded obfuscated", "127.0.0.1:5", map[string]string{"Forwarded": "for=_hidden"}, trusted, false},
		{"X-Real-IP local", "127.0.0.1:5", map[string]string{"X-Real-IP": "127.0.0.1"}, trusted, true},
		{"proto only, nobody named", "127.0.0.1:5", map[string]string{"X-Forwarded-Proto": "https"}, trusted, false},
		{"garbage entry", "127.0.0.1:5", map[string]string{"X-Forwarded-For": "127.0.0.1, nonsense"}, trusted, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/readyz?verbose", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			if got := (detailsPolicy{trusted: tc.trusted}).allow(r); got != tc.want {
				t.Errorf("allow = %v, want %v", got, tc.want)
			}
		})
	}
}

// Through a local reverse proxy, a remote client sees no reason — here a
// database password in a user's check error — while with a trusted proxy
// the local operator does, with the password masked.
func TestDetailsThroughAProxy(t *testing.T) {
	leaky := errors.New("dial postgres://app:hunter2@db:5432/orders: connection refused")
	for _, tc := range []struct {
		name   string
		opts   []Option
		xff    string
		reason string
	}{
		{"untrusted sidecar, remote client", nil, "198.51.100.23", "reason withheld"},
		{"trusted sidecar, remote client", []Option{WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8"))}, "198.51.100.23", "reason withheld"},
		{"trusted sidecar, local client", []Option{WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8"))}, "127.0.0.1",
			"dial postgres://app:xxxxx@db:5432/orders: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts...)
			f.MustRegister(Check{Name: "db", Func: func(context.Context) error { return leaky }})
			r := httptest.NewRequest(http.MethodGet, "/readyz?verbose", nil)
			r.RemoteAddr = "127.0.0.6:41000"
			r.Header.Set("X-Forwarded-For", tc.xff)
			rec := httptest.NewRecorder()
			f.Handler(Readiness).ServeHTTP(rec, r)
			if want := "[-]db failed: " + tc.reason + "\n"; !strings.Contains(rec.Body.String(), want) {
				t.Errorf("body %q, want the line %q", rec.Body.String(), want)
			}
		})
	}
}

func TestDetailsAuthorizer(t *testing.T) {
	tokens := audit.BearerTokens(audit.Token{Secret: "s3cret", Actor: "oncall", Actions: []audit.Action{DetailsAction}})
	f := mixedFixture(t, WithDetailsAuthorizer(tokens))
	h := f.Handler(Readiness)
	req := httptest.NewRequest(http.MethodGet, "/readyz/crit?verbose", nil)
	req.RemoteAddr = loopback // the authorizer replaces the loopback rule
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if want := "[-]crit failed: reason withheld\nreadyz/crit check failed\n"; rec.Body.String() != want {
		t.Fatalf("without token: %q, want %q", rec.Body.String(), want)
	}
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("X-Forwarded-For", "198.51.100.23") // the authorizer decides, wherever the caller is
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if want := "[-]crit failed: broken\nreadyz/crit check failed\n"; rec.Body.String() != want {
		t.Fatalf("with token: %q, want %q", rec.Body.String(), want)
	}
}

func TestNewRejectsInvalidTrustedProxy(t *testing.T) {
	if _, err := New(WithTrustedProxies(netip.Prefix{})); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "WithTrustedProxies") {
		t.Errorf("New with a zero prefix: %v", err)
	}
}

func FuzzDetailsClient(f *testing.F) {
	f.Add("for=127.0.0.1, for=\"[::1]:80\";proto=http", "1.2.3.4, ::1")
	f.Add("", "")
	f.Add(";;,,for=", "[")
	p := detailsPolicy{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	f.Fuzz(func(t *testing.T, fwd, xff string) {
		h := http.Header{}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		h.Set("X-Forwarded-For", xff)
		a, ok := p.client(h)
		if ok && !a.IsValid() {
			t.Fatalf("client(%q, %q) = invalid address with ok", fwd, xff)
		}
	})
}

// Through a real reverse proxy on the same host, no caller sees a reason by
// default — not even a local one — and with the proxy trusted only a local
// client does.
func TestDetailsBehindARealReverseProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []Option
		claimed string // an X-Forwarded-For the client sends itself
		shown   bool
	}{
		{"untrusted proxy, local client", nil, "", false},
		{"trusted proxy, local client", []Option{WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8"))}, "", true},
		{"trusted proxy, remote client", []Option{WithTrustedProxies(netip.MustParsePrefix("127.0.0.0/8"))}, "198.51.100.23", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts...)
			f.MustRegister(Check{Name: "db", Func: func(context.Context) error { return errors.New("secret reason") }})
			backend := httptest.NewServer(f.Handler(Readiness))
			defer backend.Close()
			target, _ := url.Parse(backend.URL)
			proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
			defer proxy.Close()
			req, _ := http.NewRequest(http.MethodGet, proxy.URL+"/readyz?verbose", nil)
			if tc.claimed != "" {
				req.Header.Set("X-Forwarded-For", tc.claimed)
			}
			resp, err := proxy.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if shown := strings.Contains(string(body), "secret reason"); shown != tc.shown {
				t.Fatalf("reason shown = %v, want %v: %q", shown, tc.shown, body)
			}
		})
	}
}
