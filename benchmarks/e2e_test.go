package benchmarks

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opskit/opskit/benchmarks/e2e"
)

// serviceTenants is how many tenants the benchmark's requests rotate over.
const serviceTenants = 64

var tenantIDs = func() []string {
	ids := make([]string, serviceTenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("tenant-%d", i)
	}
	return ids
}()

// serviceHandlers returns the order service bare and with the whole kit
// configured by cfg, in front of one in-memory downstream, closed when tb
// ends.
func serviceHandlers(tb testing.TB, cfg e2e.Config) (bare, kit http.Handler) {
	tb.Helper()
	d := e2e.NewMemoryDownstream()
	stack, err := e2e.NewOpskit(d, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := stack.Close(); err != nil {
			tb.Errorf("Stack.Close: %v", err)
		}
		d.Close()
	})
	return e2e.NewBare(d), stack.Handler
}

// serveOrder sends one order through h without a socket and returns an
// error unless it is delivered.
func serveOrder(h http.Handler, body *bytes.Reader, tenant string) error {
	body.Reset(e2e.OrderBody)
	req := httptest.NewRequest(http.MethodPost, e2e.OrderPath, body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(e2e.TenantHeader, tenant)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return fmt.Errorf("order answered %d: %s", rec.Code, rec.Body)
	}
	return nil
}

// BenchmarkServiceRequest is the end-to-end load test (cmd/loadtest)
// without sockets: one order through the whole service, bare and with the
// kit (SLO middleware, feature Use with a tenant, retry Transport with
// budget and breaker, health and /metrics mounted, their goroutines
// running), the downstream reached in memory. The difference between the
// two is the kit's per-request cost; benchtable prints bare's time over
// opskit's. The variant opskit/untimed-attempts is the kit without the
// retry Transport's per-attempt timeout (examples/service sets 400ms),
// which is most of the kit's cost (see e2e's BenchmarkKitLayer). The
// parallel variants send orders from every P at once, where the kit's
// shared counters and the breaker's lock could contend.
func BenchmarkServiceRequest(b *testing.B) {
	bare, kit := serviceHandlers(b, e2e.Config{})
	_, untimed := serviceHandlers(b, e2e.Config{AttemptTimeout: -1})
	for _, impl := range []struct {
		name string
		h    http.Handler
	}{{"opskit", kit}, {"opskit/untimed-attempts", untimed}, {"bare", bare}} {
		b.Run(impl.name, func(b *testing.B) {
			body := bytes.NewReader(nil)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := serveOrder(impl.h, body, tenantIDs[i%serviceTenants]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
	for _, impl := range []struct {
		name string
		h    http.Handler
	}{{"opskit/parallel", kit}, {"bare/parallel", bare}} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				body := bytes.NewReader(nil)
				for i := 0; pb.Next(); i++ {
					if err := serveOrder(impl.h, body, tenantIDs[i%serviceTenants]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// kitAllocBudget is how many more allocations an order may cost with the
// kit than without it: 12 today (13 under -race). Where they come from
// (go test -memprofile on BenchmarkServiceRequest): 9 in the retry
// Transport, all for the per-attempt timeout (its timer context, the
// request copy, the body wrapper that stops the timer; without
// AttemptTimeout the Transport adds none), one in the SLO middleware (its
// status-recording writer) and two in feature's WithTenant (the context
// value and the hashed id).
const kitAllocBudget = 13

func TestServiceRequestAllocBudget(t *testing.T) {
	bare, kit := serviceHandlers(t, e2e.Config{})
	body := bytes.NewReader(nil)
	allocs := func(h http.Handler) float64 {
		return testing.AllocsPerRun(1000, func() {
			if err := serveOrder(h, body, tenantIDs[3]); err != nil {
				t.Fatal(err)
			}
		})
	}
	b, k := allocs(bare), allocs(kit)
	if k-b > kitAllocBudget {
		t.Errorf("an order allocates %v times with the kit and %v without: %v more, budget %d", k, b, k-b, kitAllocBudget)
	}
	t.Logf("allocations per order: bare %v, opskit %v", b, k)
}
