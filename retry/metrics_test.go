package retry

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// collect returns every data point as "name{k=v,...}" → value.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("Collect: %v", err)
	}
	out := map[string]float64{}
	key := func(name string, set attribute.Set) string {
		s := name + "{"
		for i, kv := range set.ToSlice() {
			if i > 0 {
				s += ","
			}
			s += string(kv.Key) + "=" + kv.Value.String()
		}
		return s + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name+".count", p.Attributes)] = float64(p.Count)
					out[key(m.Name+".sum", p.Attributes)] = p.Sum
				}
			}
		}
	}
	return out
}

func wantMetrics(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func TestRetrierMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	r, fake := newTestRetrier(t, Policy{MaxAttempts: 2, BaseDelay: 2 * time.Second}, WithMeterProvider(mp), WithName("inventory"))
	_ = r.Do(context.Background(), func(context.Context) error { return nil })
	done := runAsync(func() error { return r.Do(context.Background(), fail) })
	fake.WaitForTimers(1)
	fake.Advance(2 * time.Second)
	<-done
	_ = r.Do(context.Background(), func(context.Context) error { return Permanent(errBoom) })
	wantMetrics(t, collect(t, reader), map[string]float64{
		"opskit.retry.attempts{downstream=inventory,outcome=success}":      1,
		"opskit.retry.attempts{downstream=inventory,outcome=failure}":      3,
		"opskit.retry.calls{downstream=inventory,result=ok}":               1,
		"opskit.retry.calls{downstream=inventory,result=exhausted}":        1,
		"opskit.retry.calls{downstream=inventory,result=permanent}":        1,
		"opskit.retry.delay.count{downstream=inventory}":                   1,
		"opskit.retry.delay.sum{downstream=inventory}":                     2,
		"opskit.retry.budget.tokens{downstream=inventory}":                 9,
		"opskit.retry.budget.denied{downstream=inventory}":                 0,
		"opskit.retry.calls{downstream=inventory,result=deadline}":         0,
		"opskit.retry.calls{downstream=inventory,result=canceled}":         0,
		"opskit.retry.calls{downstream=inventory,result=budget_exhausted}": 0,
	})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, reader); len(got) != 2 { // only the histogram's count and sum stay
		t.Errorf("after Close, %d points remain: %v", len(got), got)
	}
}

func TestBreakerAndLimiterMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	bs, err := NewBreakers(BreakerSettings{MinRequests: 2, OpenTimeout: time.Hour}, 0, WithMeterProvider(mp), WithName("pay"))
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	lim, err := NewLimiter(LimiterConfig{Rate: 1, Burst: 3}, WithMeterProvider(mp), WithName("pay"))
	if err != nil {
		t.Fatal(err)
	}
	defer lim.Close()
	d := &downstream{statuses: []int{503}}
	tr, _ := newTestTransport(t, Policy{MaxAttempts: 1}, d, WithBreakers(bs), WithLimiter(lim), WithMeterProvider(mp), WithName("pay"))
	for range 4 {
		req, _ := http.NewRequest(http.MethodGet, "http://pay.test/", nil)
		_, err := tr.RoundTrip(req)
		if err == nil {
			t.Fatal("want errors from a down downstream")
		}
		if errors.Is(err, ErrRateLimited) {
			break
		}
	}
	wantMetrics(t, collect(t, reader), map[string]float64{
		"opskit.retry.breaker.state{breaker=pay.test,downstream=pay}":    2,
		"opskit.retry.breaker.transitions{downstream=pay,to=open}":       1,
		"opskit.retry.breaker.requests{downstream=pay,outcome=failure}":  2,
		"opskit.retry.breaker.requests{downstream=pay,outcome=rejected}": 1,
		"opskit.retry.limiter.rejections{downstream=pay}":                1,
		"opskit.retry.limiter.waits{downstream=pay}":                     0,
		"opskit.retry.calls{downstream=pay,result=exhausted}":            2,
		"opskit.retry.calls{downstream=pay,result=rejected}":             2,
	})
}
