package queue_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
)

// With the default redelivery policy a message whose every delivery fails
// is still there after an hour of failures; it becomes a dead letter only
// after its 33rd delivery. Run for several jitter draws.
func TestDefaultPolicyOutlastsAnHourOfOutage(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for run := range 5 {
		clk := clock.NewFake(start)
		q := open(t, queue.WithClock(clk))
		if _, err := q.Enqueue(bg, []byte(fmt.Sprint("order-", run))); err != nil {
			t.Fatal(err)
		}
		deliveries := 0
		for {
			m, err := q.TryReceive(bg, time.Minute)
			if errors.Is(err, queue.ErrEmpty) {
				s, _ := q.Stats(bg)
				if s.Dead == 1 {
					break
				}
				clk.Advance(time.Second) // to the next redelivery
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			deliveries++
			if err := q.Nack(bg, m, errors.New("downstream 503")); err != nil {
				t.Fatal(err)
			}
		}
		dead, err := q.DeadLetters(bg, queue.DeadFilter{})
		if err != nil || len(dead) != 1 {
			t.Fatalf("DeadLetters = %v, %v", dead, err)
		}
		if outage := dead[0].DeadAt.Sub(start); outage < time.Hour || deliveries != 33 {
			t.Fatalf("dead-lettered after %v and %d deliveries, want >= 1h and 33", outage, deliveries)
		}
	}
}

// A "not now" costs no fsync: a durable queue releases a hundred
// deliveries without one group commit.
func TestReleaseCostsNoFsync(t *testing.T) {
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	q := open(t, queue.WithClock(clk), queue.WithMeterProvider(mp))
	if _, err := q.Enqueue(bg, []byte("order")); err != nil {
		t.Fatal(err)
	}
	before := fsyncCount(t, reader)
	for range 100 {
		m, err := q.TryReceive(bg, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if m.Attempt != 1 {
			t.Fatalf("attempt %d after releases, want 1", m.Attempt)
		}
		if err := q.Release(bg, m, 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := fsyncCount(t, reader) - before; n != 0 {
		t.Fatalf("100 releases cost %d fsyncs, want 0", n)
	}
	m, _ := q.TryReceive(bg, time.Minute)
	if err := q.Ack(bg, m); err != nil { // one commit carries them all
		t.Fatal(err)
	}
	if n := fsyncCount(t, reader) - before; n != 1 {
		t.Fatalf("the Ack after them cost %d fsyncs, want 1", n)
	}
}

func fsyncCount(t *testing.T, reader *metric.ManualReader) uint64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(bg, &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if h, ok := mt.Data.(metricdata.Histogram[float64]); ok && mt.Name == "opskit.queue.fsync.duration" {
				return h.DataPoints[0].Count
			}
		}
	}
	return 0
}

// Listing a page of dead letters walks the dead-letter index, not every
// stored message: with 100,000 live messages and 10 dead letters a page
// costs about what it costs on an empty queue (compare the two).
func BenchmarkDeadLettersPage(b *testing.B) {
	for _, live := range []int{0, 100_000} {
		b.Run(fmt.Sprint("live=", live), func(b *testing.B) {
			q, err := queue.Open(b.TempDir(), queue.WithSyncInterval(time.Hour), queue.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			for range 10 {
				q.Enqueue(bg, []byte("dead"))
				m, _ := q.TryReceive(bg, time.Minute)
				q.Reject(bg, m, errors.New("bad input"))
			}
			payload := make([]byte, 64)
			for range live {
				q.Enqueue(bg, payload)
			}
			b.ReportAllocs()
			for b.Loop() {
				d, err := q.DeadLetters(bg, queue.DeadFilter{Limit: 10})
				if err != nil || len(d) != 10 {
					b.Fatalf("DeadLetters = %d, %v", len(d), err)
				}
			}
		})
	}
}

// Purging every dead letter of a large set in one call costs time linear
// in the set (the index drops its lowest entries without copying).
func BenchmarkPurgeDeadAll(b *testing.B) {
	const n = 20_000
	q, err := queue.Open(b.TempDir(), queue.WithSyncInterval(time.Hour), queue.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range n {
			q.Enqueue(bg, []byte("x"))
			m, _ := q.TryReceive(bg, time.Minute)
			q.Reject(bg, m, errors.New("bad input"))
		}
		b.StartTimer()
		if k, err := q.PurgeDead(bg, queue.DeadFilter{}); err != nil || k != n {
			b.Fatalf("PurgeDead = %d, %v", k, err)
		}
	}
}
