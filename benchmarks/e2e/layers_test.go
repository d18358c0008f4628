package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opskit/opskit/slo"
)

// A layer is one thing the kit adds to an order's path, measured alone so
// that BenchmarkServiceRequest's overhead can be split between packages:
// step runs the layer once with the kit (opskit) or without it (bare).
type layer struct {
	name string
	step func(tb testing.TB, s *layerStack, kit bool)
}

// layerStack is a Stack with the trivial handler wrapped by its SLO
// middleware, and a second stack whose retry Transport has no per-attempt
// timeout.
type layerStack struct {
	*Stack
	sloHandler http.Handler
	untimed    *Stack
}

var layers = []layer{
	{"slo", sloLayer},
	{"feature", featureLayer},
	{"retry", retryLayer},
	{"retry-untimed", retryUntimedLayer},
}

var (
	tinyReply = []byte(`{"status":"delivered"}`)
	tinyOrder = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(tinyReply)
	})
	layerRequest = func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, OrderPath, nil)
		r.Header.Set(TenantHeader, "tenant-7")
		return r
	}()
)

// sloLayer: slo.Middleware with an availability and a latency objective
// around a handler that answers at once.
func sloLayer(tb testing.TB, s *layerStack, kit bool) {
	h := http.Handler(tinyOrder)
	if kit {
		h = s.sloHandler
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, layerRequest)
	if rec.Code != http.StatusOK {
		tb.Fatalf("status %d", rec.Code)
	}
}

// featureLayer: the tenant from the header into the context, and Use.
// Bare reads the header and does nothing with it.
func featureLayer(tb testing.TB, s *layerStack, kit bool) {
	if kit {
		s.countOrder(layerRequest)
		return
	}
	if layerRequest.Header.Get(TenantHeader) == "" {
		tb.Fatal("no tenant")
	}
}

// retryLayer: one POST with an idempotency key to the in-memory downstream,
// through the retry Transport (budget, breaker, per-attempt timeout) or
// straight, under the request path's deadline as in the handler.
func retryLayer(tb testing.TB, s *layerStack, kit bool) {
	client := bareLayerClient
	if kit {
		client = s.client
	}
	postDownstream(tb, client)
}

// retryUntimedLayer is retryLayer with a Transport without
// Policy.AttemptTimeout: budget and breaker only.
func retryUntimedLayer(tb testing.TB, s *layerStack, kit bool) {
	client := bareLayerClient
	if kit {
		client = s.untimed.client
	}
	postDownstream(tb, client)
}

func postDownstream(tb testing.TB, client *http.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), requestPathBudget)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://downstream.invalid/orders", bytes.NewReader(OrderBody))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Idempotency-Key", "ord_1")
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("status %d", resp.StatusCode)
	}
}

var bareLayerClient = &http.Client{Transport: memoryTransport{}}

func newLayerStack(tb testing.TB) *layerStack {
	tb.Helper()
	stack := func(cfg Config) *Stack {
		s, err := NewOpskit(NewMemoryDownstream(), cfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			if err := s.Close(); err != nil {
				tb.Errorf("Close: %v", err)
			}
		})
		return s
	}
	s := stack(Config{})
	return &layerStack{Stack: s, sloHandler: slo.Middleware(tinyOrder, s.avail, s.latency),
		untimed: stack(Config{AttemptTimeout: -1})}
}

// BenchmarkKitLayer splits the kit's per-order cost by package:
// BenchmarkKitLayer/opskit/<layer> against BenchmarkKitLayer/bare/<layer>.
func BenchmarkKitLayer(b *testing.B) {
	s := newLayerStack(b)
	for _, impl := range []struct {
		name string
		kit  bool
	}{{"opskit", true}, {"bare", false}} {
		b.Run(impl.name, func(b *testing.B) {
			for _, l := range layers {
				b.Run(l.name, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						l.step(b, s, impl.kit)
					}
				})
			}
		})
	}
}

// layerAllocBudget is how many allocations each layer may add to an order,
// as measured today (see TestServiceRequestAllocBudget in the parent
// package for the whole).
var layerAllocBudget = map[string]float64{"slo": 1, "feature": 2, "retry": 9, "retry-untimed": 0}

func TestKitLayerAllocBudget(t *testing.T) {
	s := newLayerStack(t)
	for _, l := range layers {
		bare := testing.AllocsPerRun(500, func() { l.step(t, s, false) })
		kit := testing.AllocsPerRun(500, func() { l.step(t, s, true) })
		if kit-bare > layerAllocBudget[l.name] {
			t.Errorf("%s: %v allocations with the kit, %v without: %v more, budget %v", l.name, kit, bare, kit-bare, layerAllocBudget[l.name])
		}
		t.Logf("%s: +%v allocations", l.name, kit-bare)
	}
}

// The layers must really be on the path: the objectives and the feature
// count what the kit's steps did, and the bare steps leave no trace.
func TestKitLayersRecord(t *testing.T) {
	s := newLayerStack(t)
	for _, l := range layers {
		l.step(t, s, false)
		l.step(t, s, true)
	}
	for _, st := range s.features.Stats() {
		if st.Name == "orders.place" && (st.Total != 1 || st.TenantsToday != 1) {
			t.Errorf("orders.place: %d uses by %d tenants, want 1 by 1", st.Total, st.TenantsToday)
		}
	}
	for _, st := range s.monitor.Status() {
		if w := st.Windows[len(st.Windows)-1]; w.Total != 1 || w.Bad != 0 {
			t.Errorf("%s over its period: %d events, %d bad; want 1 good", st.Objective, w.Total, w.Bad)
		}
	}
}
