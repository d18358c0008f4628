package slo_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/slo"
)

// pageMonitor returns a Monitor with two objectives: "orders", paging now
// (an open incident, acknowledged, with a note), and "search", whose
// one-minute page tier fired and resolved (a recently resolved incident).
func pageMonitor(t *testing.T) (*slo.Monitor, *clock.Fake) {
	t.Helper()
	m, fc := newMonitor(t)
	search := m.MustAdd(slo.Objective{Name: "search", Target: 0.99,
		Tiers: []slo.Tier{{Name: "page-1m", Severity: slo.Page, Long: time.Minute, Short: 20 * time.Second, BurnRate: 2}}})
	orders := m.MustAdd(slo.Objective{Name: "orders", Target: 0.99, Runbook: `<script>alert("x")</script>`, Outcome: "orders & payments"})
	for range 6 * 60 { // six hours of good traffic
		orders.RecordN(600, 0)
		search.RecordN(600, 0)
		fc.Advance(time.Minute)
	}
	search.RecordN(100, 50)
	fc.Advance(10 * time.Second)
	m.Evaluate()
	for range 12 {
		search.RecordN(100, 0)
		fc.Advance(10 * time.Second)
		m.Evaluate()
	}
	orders.RecordN(10000, 10000)
	fc.Advance(10 * time.Second)
	m.Evaluate()
	incs := m.Incidents()
	if len(incs) != 2 || !incs[0].Open() || incs[1].Open() {
		t.Fatalf("want an open orders incident and a resolved search one, got %+v", incs)
	}
	if err := m.Ack(incs[0].ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := m.Note(incs[0].ID, "alice", "rolled back <b>v2</b>"); err != nil {
		t.Fatal(err)
	}
	return m, fc
}

func get(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandlerHTML(t *testing.T) {
	m, _ := pageMonitor(t)
	rec := get(t, m.Handler(), "/slo")
	body := rec.Body.String()
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, body)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'",
		"Cache-Control":           "no-store",
	} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	for _, want := range []string{
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		"Generated at 2026-03-01 06:02:20 UTC",
		"<svg", "budget left (%)", "time (UTC), 2026-03-01 00:00 to 2026-03-01 06:02", ">0 %<", ">100 %<",
		`class="incident"`, "&lt;script&gt;", "orders &amp; payments",
		`<tr class="firing"><td class="l">page</td><td>firing</td><td class="l">page-1h</td>`,
		"Incidents (open and recently resolved)",
		"alice, 2026-03-01 06:02:20 UTC", "rolled back &lt;b&gt;v2&lt;/b&gt;",
		"search/2026",                  // the resolved incident is listed
		"has history for 6h2m20s only", // a young service says so
		`<a href="?range=24h">24h</a>`, "<b>period</b>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "<b>v2", "720h0m0s", "30d0h"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestHandlerJSON(t *testing.T) {
	m, fc := pageMonitor(t)
	h := m.Handler()
	for _, rec := range []*httptest.ResponseRecorder{get(t, h, "/slo?format=json"), get(t, h, "/slo", "Accept", "application/json")} {
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers %v", rec.Header())
		}
		var got struct {
			GeneratedAt time.Time `json:"generated_at"`
			Objectives  []struct {
				Objective string
				Observed  string
				Budget    struct{ Remaining float64 }
				Windows   []struct {
					Window   string
					BurnRate float64 `json:"burn_rate"`
				}
				Alerts []struct {
					Severity, State, Tier string
				}
				BurnDown struct {
					Range  string
					From   time.Time
					Points []struct {
						At        time.Time
						Remaining float64
					}
				} `json:"burn_down"`
				Incidents []slo.Incident
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if !got.GeneratedAt.Equal(fc.Now()) || len(got.Objectives) != 2 {
			t.Fatalf("got %+v", got)
		}
		o := got.Objectives[1]
		// 10000 bad events after 1200 good ones in the last 5 minutes, at a
		// 1% budget: burn 89.3 over 5m.
		if o.Objective != "orders" || o.Observed != "6h2m20s" || o.Windows[0].Window != "5m" || math.Abs(o.Windows[0].BurnRate-10000.0/11200/0.01) > 1e-9 ||
			o.Alerts[0].State != "firing" || o.Alerts[0].Tier != "page-1h" || len(o.Incidents) != 1 || o.Incidents[0].Ack == nil {
			t.Errorf("got %+v", o)
		}
		// The burn-down starts at the first event, with the budget whole,
		// not 30 days earlier, and ends now with the budget left.
		bd := o.BurnDown
		if bd.Range != "30d" || len(bd.Points) != 8 || !bd.Points[0].At.Equal(start) || bd.Points[0].Remaining != 1 ||
			!bd.Points[7].At.Equal(fc.Now()) || math.Abs(bd.Points[7].Remaining-o.Budget.Remaining) > 1e-9 {
			t.Errorf("burn-down %+v, budget %v", bd, o.Budget.Remaining)
		}
	}
	var day struct {
		Range      string
		Objectives []struct {
			BurnDown struct {
				Range string
				From  time.Time
			} `json:"burn_down"`
		}
	}
	if err := json.Unmarshal(get(t, h, "/slo?format=json&range=24h").Body.Bytes(), &day); err != nil {
		t.Fatal(err)
	}
	// Six hours of history: the 24h chart spans those six hours.
	if day.Range != "24h" || day.Objectives[0].BurnDown.Range != "24h" || !day.Objectives[0].BurnDown.From.Equal(start) {
		t.Errorf("range=24h: %+v", day)
	}
}

func TestHandlerRefusesBadRequests(t *testing.T) {
	m, _ := newMonitor(t)
	h := m.Handler()
	for target, want := range map[string]string{
		"/slo?format=xml":             `slo: bad parameter format="xml": want html or json`,
		"/slo?range=1y":               `slo: bad parameter range="1y": want 24h, 7d or period`,
		"/slo?format=csv&range=month": `format="csv"`,
	} {
		rec := get(t, h, target)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %q", target, rec.Code, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/slo", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d %v", rec.Code, rec.Header())
	}
	if rec := get(t, h, "/slo"); rec.Code != 200 || !strings.Contains(rec.Body.String(), "No objectives.") {
		t.Errorf("empty monitor: %d %s", rec.Code, rec.Body.String())
	}
}

// FuzzHandlerQuery: any query answers 200 or 400, never panics.
func FuzzHandlerQuery(f *testing.F) {
	for _, s := range []string{"", "format=json", "format=xml", "range=24h&format=html", "range=%zz", "format=json&format=html"} {
		f.Add(s)
	}
	fc := clock.NewFake(start)
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog), slo.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	m.MustAdd(slo.Objective{Name: "orders", Target: 0.99}).RecordN(10, 1)
	h := m.Handler()
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", "/slo", nil)
		req.URL.RawQuery = q
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Errorf("%q: status %d", q, rec.Code)
		}
	})
}

func TestMiddleware(t *testing.T) {
	m, fc := newMonitor(t)
	avail := m.MustAdd(slo.Objective{Name: "http", Target: 0.99})
	lat := m.MustAdd(slo.Objective{Name: "http-latency", Target: 0.99, Latency: []slo.Threshold{{Max: 100 * time.Millisecond}}})
	h := slo.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			fc.Advance(200 * time.Millisecond)
		case "/fail":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/missing":
			http.NotFound(w, r)
		case "/panic":
			panic(http.ErrAbortHandler)
		}
	}), avail, lat)
	for _, p := range []string{"/", "/slow", "/fail", "/missing"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/panic", nil))
	}()
	sts := m.Status()
	a, _ := sts[0].Window(time.Hour)
	l, _ := sts[1].Window(time.Hour)
	if a.Total != 5 || a.Bad != 2 { // 503 and the panic
		t.Errorf("availability: got %d/%d, want 5/2", a.Total, a.Bad)
	}
	if l.Total != 5 || l.Bad != 1 { // /slow
		t.Errorf("latency: got %d/%d, want 5/1", l.Total, l.Bad)
	}
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	m, _ := newMonitor(t, slo.WithMeterProvider(mp))
	tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.99})
	tr.RecordN(100, 4)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			found[md.Name] = true
			switch md.Name {
			case slo.EventsMetric:
				sum := md.Data.(metricdata.Sum[int64])
				if !sum.IsMonotonic {
					t.Error("events counter not monotonic")
				}
				for _, dp := range sum.DataPoints {
					good, _ := dp.Attributes.Value("good")
					want := int64(96)
					if !good.AsBool() {
						want = 4
					}
					if dp.Value != want {
						t.Errorf("events good=%v: got %d, want %d", good.AsBool(), dp.Value, want)
					}
				}
			case slo.BudgetMetric:
				g := md.Data.(metricdata.Gauge[float64])
				// 4 bad where 100*(1-0.99) = 1 is allowed: 1-4 = -3.
				if v := g.DataPoints[0].Value; math.Abs(v+3) > 1e-9 {
					t.Errorf("budget remaining: got %v, want -3", v)
				}
			}
		}
	}
	for _, name := range []string{slo.EventsMetric, slo.BudgetMetric, slo.BurnRateMetric, slo.AlertsMetric} {
		if !found[name] {
			t.Errorf("metric %s missing", name)
		}
	}
}
