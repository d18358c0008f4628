package queue

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"
)

// RegisterStatsMetrics registers the queue instruments every backend
// exports, under the same names so one dashboard serves them all, and
// reads them from stats at collection time (never on the hot path):
//
//	opskit.queue.depth            messages ready, delayed or in flight
//	opskit.queue.dead             dead letters held
//	opskit.queue.bytes            bytes stored (a backend says what it counts)
//	opskit.queue.oldest_age       age of the oldest unsettled message, s
//	opskit.queue.enqueued         counters since open: Stats.Enqueued,
//	opskit.queue.acked              Acked, Nacked, DeadLettered
//	opskit.queue.nacked
//	opskit.queue.dead_lettered
//	opskit.queue.corrupt_records  damaged records found
//
// opts (attributes, such as the table of a database backend) are added to
// every observation. When stats fails without stats (a database that does
// not answer) the error goes to the SDK; after Close nothing is observed.
// Unregister the registration on Close.
func RegisterStatsMetrics(m metric.Meter, stats func(context.Context) (Stats, error), opts ...metric.ObserveOption) (metric.Registration, error) {
	var err error
	keep := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, e := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		keep(e)
		return g
	}
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, e := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		keep(e)
		return c
	}
	depth := gauge("opskit.queue.depth", "{message}", "Messages ready, delayed or in flight.")
	dead := gauge("opskit.queue.dead", "{message}", "Dead letters held.")
	stored := gauge("opskit.queue.bytes", "By", "Bytes the queue stores (file queue: record bytes; PostgreSQL: the table with its indexes).")
	age, e := m.Float64ObservableGauge("opskit.queue.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest message not yet settled."))
	keep(e)
	enq := counter("opskit.queue.enqueued", "{message}", "Messages enqueued through this handle since open.")
	ack := counter("opskit.queue.acked", "{message}", "Messages acknowledged through this handle since open.")
	nack := counter("opskit.queue.nacked", "{message}", "Deliveries failed with Nack through this handle since open.")
	dl := counter("opskit.queue.dead_lettered", "{message}", "Messages moved to the dead letters through this handle since open.")
	bad := counter("opskit.queue.corrupt_records", "{record}", "Damaged records found, at open or on read.")
	if err != nil {
		return nil, fmt.Errorf("queue: metrics: %w", err)
	}
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s, err := stats(ctx)
		if errors.Is(err, ErrClosed) {
			return nil // closing: the registration goes next
		}
		if err != nil && s == (Stats{}) {
			return err
		}
		// A log that refuses writes still has stats worth showing; its
		// failure is Stats' and the health check's to report.
		o.ObserveInt64(depth, int64(s.Depth), opts...)
		o.ObserveInt64(dead, int64(s.Dead), opts...)
		o.ObserveInt64(stored, s.Bytes, opts...)
		o.ObserveFloat64(age, s.OldestAgeSeconds, opts...)
		o.ObserveInt64(enq, s.Enqueued, opts...)
		o.ObserveInt64(ack, s.Acked, opts...)
		o.ObserveInt64(nack, s.Nacked, opts...)
		o.ObserveInt64(dl, s.DeadLettered, opts...)
		o.ObserveInt64(bad, s.Corrupt, opts...)
		return nil
	}, depth, dead, stored, age, enq, ack, nack, dl, bad)
	if err != nil {
		return nil, fmt.Errorf("queue: metrics: %w", err)
	}
	return reg, nil
}
