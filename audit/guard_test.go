package audit

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// memSink keeps records in memory.
type memSink struct{ recs []Record }

func (s *memSink) Append(_ context.Context, r Record) error { s.recs = append(s.recs, r); return nil }

func TestGuardAllow(t *testing.T) {
	ops := BearerTokens(Token{Secret: "s3cret", Actor: "operator"},
		Token{Secret: "reader", Actor: "support", Actions: []Action{"support.read"}})
	cases := []struct {
		name      string
		guard     Guard
		method    string
		header    map[string]string
		host      string
		action    Action
		wantCode  int // 0: allowed
		wantActor string
	}{
		{"no authorizer", Guard{}, "POST", map[string]string{"Authorization": "Bearer s3cret"}, "", "queue.purge", 403, ""},
		{"no credentials", Guard{Authorize: ops}, "POST", nil, "", "queue.purge", 401, ""},
		{"wrong token", Guard{Authorize: ops}, "POST", map[string]string{"Authorization": "Bearer nope"}, "", "queue.purge", 401, ""},
		{"operator", Guard{Authorize: ops}, "POST", map[string]string{"Authorization": "Bearer s3cret"}, "", "queue.purge", 0, "operator"},
		{"support reads", Guard{Authorize: ops}, "GET", map[string]string{"Authorization": "bearer reader"}, "", "support.read", 0, "support"},
		{"support may not purge", Guard{Authorize: ops}, "POST", map[string]string{"Authorization": "Bearer reader"}, "", "queue.purge", 403, ""},
		{"cross-site POST", Guard{Authorize: ops}, "POST", map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "cross-site"}, "", "queue.purge", 403, ""},
		{"same-site POST", Guard{Authorize: ops}, "POST", map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "same-site"}, "", "queue.purge", 403, ""},
		{"same-origin POST", Guard{Authorize: ops}, "POST", map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "same-origin"}, "", "queue.purge", 0, "operator"},
		{"foreign Origin", Guard{Authorize: ops}, "POST", map[string]string{"Authorization": "Bearer s3cret", "Origin": "http://evil.example"}, "", "queue.purge", 403, ""},
		{"own Origin", Guard{Authorize: ops}, "POST", map[string]string{"Authorization": "Bearer s3cret", "Origin": "http://example.com"}, "", "queue.purge", 0, "operator"},
		{"cross-site GET is a read", Guard{Authorize: ops}, "GET", map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "cross-site"}, "", "audit.read", 0, "operator"},
		{"host allowed", Guard{Authorize: ops, Hosts: []string{"example.com"}}, "POST", map[string]string{"Authorization": "Bearer s3cret"}, "example.com:8080", "x", 0, "operator"},
		{"host not allowed (rebinding)", Guard{Authorize: ops, Hosts: []string{"127.0.0.1:8080"}}, "GET", map[string]string{"Authorization": "Bearer s3cret"}, "evil.example:8080", "audit.read", 403, ""},
		{"authorizer names nobody", Guard{Authorize: func(*http.Request, Action) (string, error) { return "", nil }}, "POST", nil, "", "x", 403, ""},
		{"no tokens configured", Guard{Authorize: BearerTokens(Token{Actor: "x"})}, "POST", map[string]string{"Authorization": "Bearer "}, "", "x", 403, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://example.com/admin", nil)
			if tc.host != "" {
				r.Host = tc.host
			}
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			actor, ok := tc.guard.Allow(w, r, tc.action)
			if tc.wantCode == 0 {
				if !ok || actor != tc.wantActor || w.Body.Len() != 0 {
					t.Fatalf("Allow = %q, %v (body %q), want %q allowed with nothing written", actor, ok, w.Body, tc.wantActor)
				}
				return
			}
			if ok || w.Code != tc.wantCode {
				t.Fatalf("Allow = %v, code %d, want refused with %d", ok, w.Code, tc.wantCode)
			}
			if !strings.HasPrefix(w.Body.String(), "audit: ") || w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("refusal body %q, headers %v", w.Body, w.Header())
			}
			if tc.wantCode == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %v", w.Header())
			}
		})
	}
}

func TestGuardLog(t *testing.T) {
	sink := &memSink{}
	g := Guard{Sink: sink}
	r := httptest.NewRequest("POST", "/queue/dead/1/requeue", nil)
	if err := g.Log(r, "ann", "queue.requeue", "1", nil, ""); err != nil {
		t.Fatal(err)
	}
	_ = g.Log(r, "ann", "queue.requeue", "2", errors.New("queue: no message 2"), "")
	want := []Record{
		{Actor: "ann", From: "192.0.2.1:1234", Action: "queue.requeue", Target: "1", Result: "ok"},
		{Actor: "ann", From: "192.0.2.1:1234", Action: "queue.requeue", Target: "2", Result: "queue: no message 2"},
	}
	if len(sink.recs) != 2 || sink.recs[0] != want[0] || sink.recs[1] != want[1] {
		t.Errorf("records %+v, want %+v", sink.recs, want)
	}
	if err := (&Guard{}).Log(r, "a", "x", "", nil, ""); err != nil {
		t.Errorf("Log without a sink = %v", err)
	}
}

// view GETs target from the log's /audit handler as the operator.
func view(t *testing.T, l *Log, target, token string) (int, page) {
	t.Helper()
	h := l.Handler(&Guard{Authorize: BearerTokens(Token{Secret: "op", Actor: "operator"})})
	r := httptest.NewRequest("GET", target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var p page
	if w.Code == 200 || w.Header().Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s: %v in %q", target, err, w.Body)
		}
	}
	return w.Code, p
}

func seqs(p page) []uint64 {
	var out []uint64
	for _, e := range p.Records {
		out = append(out, e.Seq)
	}
	return out
}

func TestViewPages(t *testing.T) {
	l, _ := openLog(t)
	if code, p := view(t, l, "/audit", "op"); code != 200 || len(p.Records) != 0 || p.Head.Seq != 0 {
		t.Fatalf("empty log: %d %+v", code, p)
	}
	appendN(t, l, indexEvery+10)
	n := uint64(indexEvery + 10)
	cases := []struct {
		target       string
		first, count uint64
		older, newer string
	}{
		{"/audit?limit=5", n - 4, 5, "before=262&limit=5", ""},
		{"/audit?limit=5&before=262", n - 9, 5, "before=257&limit=5", "after=261&limit=5"},
		{"/audit?after=0&limit=3", 1, 3, "", "after=3&limit=3"},
		{"/audit?after=250&limit=10", 251, 10, "before=251&limit=10", "after=260&limit=10"},
		{"/audit?after=264", 265, 2, "before=265&limit=50", ""},
		{"/audit?before=3", 1, 2, "", "after=2&limit=50"},
		{"/audit?after=266", 0, 0, "before=267&limit=50", ""},
	}
	for _, tc := range cases {
		code, p := view(t, l, tc.target, "op")
		if code != 200 || uint64(len(p.Records)) != tc.count || (tc.count > 0 && p.Records[0].Seq != tc.first) {
			t.Errorf("%s: %d, seqs %v; want %d from %d", tc.target, code, seqs(p), tc.count, tc.first)
		}
		if p.Older != tc.older || p.Newer != tc.newer {
			t.Errorf("%s: links %q %q, want %q %q", tc.target, p.Older, p.Newer, tc.older, tc.newer)
		}
		if p.Head.Seq != n {
			t.Errorf("%s: head %d", tc.target, p.Head.Seq)
		}
	}
}

func TestViewRefuses(t *testing.T) {
	l, _ := openLog(t)
	appendN(t, l, 1)
	for _, tc := range []struct {
		target, token string
		code          int
	}{
		{"/audit", "", 401},
		{"/audit", "bad", 401},
		{"/audit?limit=0", "op", 400},
		{"/audit?limit=501", "op", 400},
		{"/audit?limit=x", "op", 400},
		{"/audit?before=1&after=1", "op", 400},
		{"/audit?limit=1&limit=2", "op", 400},
		{"/audit?page=2", "op", 400},
		{"/audit?" + strings.Repeat("a", 300), "op", 400},
		{"/audit?%zz", "op", 400},
	} {
		if code, _ := view(t, l, tc.target, tc.token); code != tc.code {
			t.Errorf("%s (token %q) = %d, want %d", tc.target, tc.token, code, tc.code)
		}
	}
	r := httptest.NewRequest("POST", "/audit", nil)
	w := httptest.NewRecorder()
	l.Handler(&Guard{}).ServeHTTP(w, r)
	if w.Code != 405 {
		t.Errorf("POST /audit = %d", w.Code)
	}
}

func TestViewReportsTampering(t *testing.T) {
	l, path := openLog(t)
	appendN(t, l, 3)
	tamper(t, path, func(ls [][]byte) [][]byte {
		ls[1] = []byte(strings.Replace(string(ls[1]), `"t2"`, `"t9"`, 1))
		return ls
	})
	code, p := view(t, l, "/audit", "op")
	if code != 500 || !strings.Contains(p.Error, "record 2 (line 2") || len(p.Records) != 1 {
		t.Errorf("tampered log: %d, error %q, %d records", code, p.Error, len(p.Records))
	}
}

func FuzzPageQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5", "before=3&limit=500", "after=18446744073709551615", "limit=1&limit=2", "%zz", "a=b;c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parsePageQuery(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "audit: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if q.limit < 1 || q.limit > maxPage || (q.before != 0 && q.hasAfter) {
			t.Fatalf("accepted %q as %+v", raw, q)
		}
	})
}

func TestGuardLogRelease(t *testing.T) {
	sink := &memSink{}
	g := Guard{Sink: sink, Release: "0123456789ab"}
	r := httptest.NewRequest("POST", "/feature/x/off", nil)
	if err := g.Log(r, "ann", "feature.switch", "x", nil, ""); err != nil {
		t.Fatal(err)
	}
	want := Record{Actor: "ann", From: "192.0.2.1:1234", Action: "feature.switch", Target: "x", Result: "ok", Release: "0123456789ab"}
	if len(sink.recs) != 1 || sink.recs[0] != want {
		t.Errorf("records %+v, want %+v", sink.recs, want)
	}
}
