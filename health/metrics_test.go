package health

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	f := newFixture(t, WithMeterProvider(mp))
	fail := make(chan bool, 1)
	var runs int
	f.MustRegister(Check{Name: "db", Interval: time.Second, Func: func(context.Context) error {
		runs++
		if <-fail {
			return errors.New("down")
		}
		return nil
	}})
	_ = f.Start()
	fail <- false
	f.next(t)
	fail <- true
	f.clock.Advance(time.Second)
	f.next(t)

	collect := func() metricdata.ResourceMetrics {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		return rm
	}
	rm := collect()
	before := runs
	collect() // a scrape never runs a check
	if runs != before {
		t.Fatalf("collection ran the check: %d runs, then %d", before, runs)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = true
			switch data := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Unit != "s" || len(data.DataPoints) != 1 || data.DataPoints[0].Count != 2 {
					t.Errorf("%s: unit %q points %+v, want s and 2 runs", m.Name, m.Unit, data.DataPoints)
				}
			case metricdata.Gauge[int64]:
				if m.Name != "opskit.health.check.status" {
					continue
				}
				for _, dp := range data.DataPoints {
					status, _ := dp.Attributes.Value(attribute.Key("status"))
					want := int64(0)
					if status.AsString() == "fail" {
						want = 1
					}
					if dp.Value != want {
						t.Errorf("status gauge %v = %d, want %d", dp.Attributes.ToSlice(), dp.Value, want)
					}
				}
			case metricdata.Sum[int64]:
				var total int64
				for _, dp := range data.DataPoints {
					total += dp.Value
				}
				if total != 2 { // unknown→pass, pass→fail
					t.Errorf("%s total %d, want 2", m.Name, total)
				}
			}
		}
	}
	for _, name := range []string{"opskit.health.check.duration", "opskit.health.check.status", "opskit.health.check.status_changes", "opskit.health.draining"} {
		if !found[name] {
			t.Errorf("metric %s missing", name)
		}
	}
}
