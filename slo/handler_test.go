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

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/slo"
)

func TestHandlerHTMLAndJSON(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.99, Runbook: `<script>alert("x")</script>`, Outcome: "orders & payments"})
	tr.RecordN(1000, 500)
	fc.Advance(10 * time.Second)
	m.Evaluate()
	h := m.Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/slo", nil))
	body := rec.Body.String()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("content type %q", ct)
	}
	for _, want := range []string{"<svg", "<polyline", "&lt;script&gt;", "orders &amp; payments", `class="firing"`, "Open incidents", "orders/2026"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("runbook not escaped")
	}

	for _, req := range []*http.Request{httptest.NewRequest("GET", "/slo?format=json", nil), func() *http.Request {
		r := httptest.NewRequest("GET", "/slo", nil)
		r.Header.Set("Accept", "application/json")
		return r
	}()} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var got struct {
			Objectives []struct {
				Objective string
				Budget    struct{ Remaining float64 }
				Windows   []struct {
					Window   string
					BurnRate float64 `json:"burn_rate"`
				}
				Alerts []struct {
					Tier  string
					State string
				}
				Incidents []slo.Incident `json:"open_incidents"`
			}
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", req.URL, err)
		}
		o := got.Objectives[0]
		// 500 bad of 1000 at a 1% budget: burn 50, remaining 1-500/10 = -49.
		if o.Objective != "orders" || o.Windows[0].Window != "5m" || math.Abs(o.Windows[0].BurnRate-50) > 1e-9 ||
			o.Alerts[0].State != "firing" || len(o.Incidents) != 1 || math.Abs(o.Budget.Remaining+49) > 1e-9 {
			t.Errorf("%s: got %+v", req.URL, o)
		}
	}
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
