package loadtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunCountsSuccessesAndOrdersPercentiles(t *testing.T) {
	var bodies atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Tenant") == "t1" && r.Method == http.MethodPost {
			bodies.Add(1)
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	res, err := Run(t.Context(), Config{
		URL: srv.URL, Method: http.MethodPost, Body: []byte(`{}`),
		Header:      http.Header{"X-Tenant": {"t1"}},
		Connections: 2, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Fatalf("requests=%d errors=%d, want some requests and no errors", res.Requests, res.Errors)
	}
	if int64(res.Requests) > bodies.Load() {
		t.Fatalf("counted %d requests but the server saw %d with method, header and body", res.Requests, bodies.Load())
	}
	if !(res.Min <= res.P50 && res.P50 <= res.P90 && res.P90 <= res.P99 && res.P99 <= res.Max) {
		t.Fatalf("percentiles out of order: %+v", res)
	}
	if res.RPS() <= 0 {
		t.Fatalf("RPS = %v", res.RPS())
	}
}

func TestRunCountsNon2xxAsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	res, err := Run(t.Context(), Config{URL: srv.URL, Connections: 1, Duration: 100 * time.Millisecond, Warmup: 10 * time.Millisecond})
	if err == nil || res.Errors == 0 || res.Requests != 0 {
		t.Fatalf("against a failing server: res=%+v err=%v, want errors and an error value", res, err)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	if _, err := Run(t.Context(), Config{}); err == nil || !strings.Contains(err.Error(), "URL") {
		t.Fatalf("empty config: err = %v, want one naming URL", err)
	}
	if _, err := Run(t.Context(), Config{URL: "http://127.0.0.1:1", Connections: -1}); err == nil {
		t.Fatal("negative connections accepted")
	}
}

func TestPercentileNearestRank(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {90, 90}, {99, 99}, {100, 100}, {0, 1}} {
		if got := percentile(v, tc.p); got != tc.want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
}

func TestTableRatios(t *testing.T) {
	md := Markdown([]Row{
		{"bare", Result{Requests: 1000, Elapsed: time.Second, P99: 2 * time.Millisecond}},
		{"opskit", Result{Requests: 950, Elapsed: time.Second, P99: 3 * time.Millisecond}},
	})
	if !strings.Contains(md, "| opskit | 950 |") || !strings.Contains(md, "| 0.950 | 1.500 |") {
		t.Fatalf("table:\n%s", md)
	}
}

func TestMergePoolsRuns(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	a := summarize(ms(5, 1, 3), 1, time.Second)
	b := summarize(ms(2, 4, 100), 2, 2*time.Second)
	got := Merge(a, b)
	if got.Requests != 6 || got.Errors != 3 || got.Elapsed != 3*time.Second {
		t.Fatalf("counts: %+v", got)
	}
	if got.Min != time.Millisecond || got.P50 != 3*time.Millisecond || got.Max != 100*time.Millisecond {
		t.Fatalf("pooled percentiles: min %v p50 %v max %v, want 1ms 3ms 100ms", got.Min, got.P50, got.Max)
	}
	if got.RPS() != 2 {
		t.Fatalf("RPS = %v, want 6 requests over 3s = 2", got.RPS())
	}
	if a.P50 != 3*time.Millisecond || a.Max != 5*time.Millisecond {
		t.Fatalf("merging changed a run: %+v", a)
	}
	if empty := Merge(); empty.Requests != 0 || empty.RPS() != 0 {
		t.Fatalf("Merge() = %+v", empty)
	}
}
