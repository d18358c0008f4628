package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/queue"
)

// Stats reports the queue's counts and ages. The counts are exact and cost
// a scan of the non-dead part of the lease index, O(depth): fine for a
// dashboard or a scrape, not for every request (HealthCheck is bounded).
// Bytes is the table's size on disk with its indexes and TOAST data
// (pg_total_relation_size), not the sum of payloads. Enqueued, Acked,
// Nacked and DeadLettered count this handle's own calls since Open;
// Corrupt is always 0 (PostgreSQL checks its own pages).
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	if err := q.begin(); err != nil {
		return queue.Stats{}, err
	}
	defer q.ops.Done()
	s, err := q.stats(ctx)
	if err != nil {
		return queue.Stats{}, err
	}
	s.Enqueued = q.enqueued.Load()
	s.Acked = q.acked.Load()
	s.Nacked = q.nacked.Load()
	s.DeadLettered = q.deadN.Load()
	return s, nil
}

// stats reads the stored counts in one round trip. Requires begin.
func (q *Queue) stats(ctx context.Context) (queue.Stats, error) {
	now := q.now()
	var s queue.Stats
	b := newBatch()
	b.Queue(q.sql.sweep, now, q.cfg.policy.MaxAttempts)
	b.Queue(q.sql.counts, now)
	b.Queue(q.sql.deadCount)
	b.Queue(q.sql.oldest)
	b.Queue(q.sql.size, q.names.table)
	br := q.pool.SendBatch(ctx, b)
	defer br.Close()
	tag, err := br.Exec()
	if err != nil {
		return s, q.fail("stats", err)
	}
	q.deadN.Add(tag.RowsAffected())
	var ready, delayed, inFlight, dead int64
	if err := br.QueryRow().Scan(&ready, &delayed, &inFlight); err != nil {
		return s, q.fail("stats", err)
	}
	if err := br.QueryRow().Scan(&dead); err != nil {
		return s, q.fail("stats", err)
	}
	var oldest time.Time
	if err := br.QueryRow().Scan(&oldest); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return s, q.fail("stats", err)
	}
	if err := br.QueryRow().Scan(&s.Bytes); err != nil {
		return s, q.fail("stats", err)
	}
	if err := br.Close(); err != nil {
		return s, q.fail("stats", err)
	}
	s.Ready, s.Delayed, s.InFlight, s.Dead = int(ready), int(delayed), int(inFlight), int(dead)
	s.Depth = s.Ready + s.Delayed + s.InFlight
	if !oldest.IsZero() {
		s.OldestAge = max(0, now.Sub(oldest))
	}
	s.OldestAgeSeconds = s.OldestAge.Seconds()
	return s, nil
}

// HealthCheck returns a check for health.Checker that fails when more
// than maxDepth messages are stored (not counting dead letters) or the
// oldest is older than maxAge (a limit <= 0 is not checked), with an error
// matching queue.ErrBacklog; when the table cannot be queried; or after
// Close. Unlike queue.HealthCheck over Stats, its cost is bounded: it
// counts at most maxDepth+1 rows and reads one row for the age.
func (q *Queue) HealthCheck(maxDepth int, maxAge time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := q.begin(); err != nil {
			return err
		}
		defer q.ops.Done()
		now := q.now()
		b := newBatch()
		b.Queue(q.sql.boundedDepth, int64(max(maxDepth, 0))+1)
		b.Queue(q.sql.oldest)
		br := q.pool.SendBatch(ctx, b)
		defer br.Close()
		var depth int64
		if err := br.QueryRow().Scan(&depth); err != nil {
			return q.fail("health check", err)
		}
		var oldest time.Time
		if err := br.QueryRow().Scan(&oldest); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return q.fail("health check", err)
		}
		var age time.Duration
		if !oldest.IsZero() {
			age = max(0, now.Sub(oldest))
		}
		if maxDepth > 0 && int(depth) > maxDepth || maxAge > 0 && age > maxAge {
			return &queue.BacklogError{Depth: int(depth), MaxDepth: maxDepth, OldestAge: age, MaxAge: maxAge}
		}
		return nil
	}
}

// metrics are the queue's OTel instruments, under the same names as the
// file queue's so one dashboard serves both, with the attribute
// opskit.queue.table naming the table. Counters read this handle's atomics;
// the gauges query the table at collection time (one round trip).
type metrics struct{ reg metric.Registration }

func newMetrics(q *Queue) (*metrics, error) {
	m := q.cfg.mp.Meter("github.com/opskit/opskit/queue/postgres")
	var err error
	wrap := func(e error) {
		if err == nil && e != nil {
			err = fmt.Errorf("postgres: metrics: %w", e)
		}
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, e := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		wrap(e)
		return g
	}
	counter := func(name, desc string) metric.Int64ObservableCounter {
		c, e := m.Int64ObservableCounter(name, metric.WithUnit("{message}"), metric.WithDescription(desc))
		wrap(e)
		return c
	}
	depth := gauge("opskit.queue.depth", "{message}", "Messages ready, delayed or in flight.")
	dead := gauge("opskit.queue.dead", "{message}", "Dead letters held.")
	stored := gauge("opskit.queue.bytes", "By", "Size of the queue table with its indexes.")
	age, e := m.Float64ObservableGauge("opskit.queue.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest message not yet settled."))
	wrap(e)
	enq := counter("opskit.queue.enqueued", "Messages enqueued by this process since open.")
	ack := counter("opskit.queue.acked", "Messages acknowledged by this process since open.")
	nack := counter("opskit.queue.nacked", "Deliveries failed with Nack by this process since open.")
	dl := counter("opskit.queue.dead_lettered", "Messages this process moved to the dead letters since open.")
	if err != nil {
		return nil, err
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("opskit.queue.table", q.names.plain)))
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		o.ObserveInt64(enq, q.enqueued.Load(), attrs)
		o.ObserveInt64(ack, q.acked.Load(), attrs)
		o.ObserveInt64(nack, q.nacked.Load(), attrs)
		o.ObserveInt64(dl, q.deadN.Load(), attrs)
		if err := q.begin(); err != nil {
			return nil // closing: the registration goes next
		}
		defer q.ops.Done()
		s, err := q.stats(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(depth, int64(s.Depth), attrs)
		o.ObserveInt64(dead, int64(s.Dead), attrs)
		o.ObserveInt64(stored, s.Bytes, attrs)
		o.ObserveFloat64(age, s.OldestAgeSeconds, attrs)
		return nil
	}, depth, dead, stored, age, enq, ack, nack, dl)
	if err != nil {
		return nil, fmt.Errorf("postgres: metrics: %w", err)
	}
	return &metrics{reg: reg}, nil
}

func (m *metrics) close() { m.reg.Unregister() }
