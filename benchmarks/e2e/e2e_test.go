package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServers returns the bare and opskit handlers in front of one memory
// downstream, closed at the end of the test.
func newServers(t *testing.T, d *Downstream) (bare http.Handler, kit *Stack) {
	t.Helper()
	kit, err := NewOpskit(d, Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := kit.Close(); err != nil {
			t.Errorf("Stack.Close: %v", err)
		}
		if err := d.Close(); err != nil {
			t.Errorf("Downstream.Close: %v", err)
		}
	})
	return NewBare(d), kit
}

func post(h http.Handler, body []byte, tenant string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, OrderPath, bytes.NewReader(body))
	req.Header.Set(TenantHeader, tenant)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestBothServersAnswerTheSame(t *testing.T) {
	bare, kit := newServers(t, NewMemoryDownstream())
	for _, tc := range []struct {
		body   string
		status int
		reply  string
	}{
		{string(OrderBody), http.StatusOK, `{"id":"ord_1","status":"delivered"}`},
		{`{"item":"widget","quantity":0}`, http.StatusBadRequest, `{"status":"rejected","error":"item and quantity 1..1000 are required"}`},
		{`not json`, http.StatusBadRequest, `{"status":"rejected","error":"body is not an order"}`},
	} {
		for name, h := range map[string]http.Handler{"bare": bare, "opskit": kit.Handler} {
			rec := post(h, []byte(tc.body), "t1")
			if got := strings.TrimSpace(rec.Body.String()); rec.Code != tc.status || got != tc.reply {
				t.Errorf("%s, body %s: got %d %s, want %d %s", name, tc.body, rec.Code, got, tc.status, tc.reply)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", name, ct)
			}
		}
	}
}

// TestOpskitRecordsEveryComponent checks that the kit is really on the
// request path: after some orders, each package's series is on /metrics.
func TestOpskitRecordsEveryComponent(t *testing.T) {
	_, kit := newServers(t, NewMemoryDownstream())
	for i := range 5 {
		if rec := post(kit.Handler, OrderBody, "tenant-"+string(rune('a'+i))); rec.Code != http.StatusOK {
			t.Fatalf("order %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	fetch := FetchHandler(kit.Handler)
	for _, path := range []string{"/livez", "/readyz"} {
		if status, body, _ := fetch(t.Context(), path); status != http.StatusOK {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	status, body, _ := fetch(t.Context(), "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		"opskit_slo_", `objective="orders-availability"`, `objective="orders-latency`,
		"opskit_feature_", `feature="orders.place"`,
		"opskit_retry_", "opskit_health_", "go_goroutines",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func TestLoopbackServers(t *testing.T) {
	d, err := NewLoopbackDownstream()
	if err != nil {
		t.Fatal(err)
	}
	bare, kit := newServers(t, d)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for name, h := range map[string]http.Handler{"bare": bare, "opskit": kit.Handler} {
		srv, err := Serve(h)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Post(srv.URL+OrderPath, "application/json", bytes.NewReader(OrderBody))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var r reply
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || r.Status != "delivered" {
			t.Errorf("%s: status %d, reply %+v, err %v", name, resp.StatusCode, r, err)
		}
		client.CloseIdleConnections()
		if err := srv.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	}
}

func TestDownstreamFailureIsABadGateway(t *testing.T) {
	h := &orders{client: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Body: http.NoBody, Request: r}, nil
	})}, url: "http://downstream.invalid/orders"}
	rec := post(h, OrderBody, "")
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "503") {
		t.Fatalf("got %d %s, want 502 naming the downstream's 503", rec.Code, rec.Body)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// countingFetch wraps fetch and closes reached when it is called for the
// nth time, so a test knows a whole round of three fetches has completed.
func countingFetch(fetch Fetch, n int64, reached chan struct{}) Fetch {
	var calls atomic.Int64
	return func(ctx context.Context, path string) (int, []byte, error) {
		if calls.Add(1) == n {
			close(reached)
		}
		return fetch(ctx, path)
	}
}

func TestScraperChecksEveryEndpoint(t *testing.T) {
	_, kit := newServers(t, NewMemoryDownstream())
	reached := make(chan struct{})
	s := StartScraper(countingFetch(FetchHandler(kit.Handler), 4, reached), 1)
	<-reached
	if rounds, err := s.Close(); rounds < 1 || err != nil {
		t.Fatalf("Close: rounds=%d err=%v, want at least one clean round", rounds, err)
	}
}

func TestScraperReportsAFailingProbe(t *testing.T) {
	_, kit := newServers(t, NewMemoryDownstream())
	failing := http.NewServeMux()
	failing.Handle("/", kit.Handler)
	failing.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "[-]downstream failed", http.StatusServiceUnavailable)
	})
	reached := make(chan struct{})
	s := StartScraper(countingFetch(FetchHandler(failing), 4, reached), 1)
	<-reached
	if _, err := s.Close(); err == nil || !strings.Contains(err.Error(), "/readyz: status 503") {
		t.Fatalf("Close: err=%v, want one naming /readyz and its 503", err)
	}
}
