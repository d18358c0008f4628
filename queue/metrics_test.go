package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The file queue's metrics come from Stats at collection time, plus the
// fsync histogram recorded once per group commit.
func TestMetricsAtCollection(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	q := open(t, queue.WithClock(clk), queue.WithMeterProvider(mp))
	for range 3 {
		if _, err := q.Enqueue(bg, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	m, err := q.TryReceive(bg, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(bg, m); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(bg, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var fsyncs uint64
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Gauge[int64]:
				got[mt.Name] = float64(d.DataPoints[0].Value)
			case metricdata.Gauge[float64]:
				got[mt.Name] = d.DataPoints[0].Value
			case metricdata.Sum[int64]:
				got[mt.Name] = float64(d.DataPoints[0].Value)
			case metricdata.Histogram[float64]:
				fsyncs = d.DataPoints[0].Count
			}
		}
	}
	want := map[string]float64{
		"opskit.queue.depth": 2, "opskit.queue.dead": 0, "opskit.queue.oldest_age": 30,
		"opskit.queue.enqueued": 3, "opskit.queue.acked": 1, "opskit.queue.nacked": 0,
		"opskit.queue.dead_lettered": 0, "opskit.queue.corrupt_records": 0,
	}
	for name, w := range want {
		if g, ok := got[name]; !ok || g != w {
			t.Errorf("%s = %v (reported: %v), want %v", name, g, ok, w)
		}
	}
	if got["opskit.queue.bytes"] <= 0 {
		t.Errorf("opskit.queue.bytes = %v, want > 0", got["opskit.queue.bytes"])
	}
	if fsyncs == 0 {
		t.Error("opskit.queue.fsync.duration recorded no fsync")
	}

	// After Close the callback observes nothing and reports no error.
	q.Close()
	if err := reader.Collect(bg, &rm); err != nil {
		t.Fatalf("collect after Close: %v", err)
	}
}
