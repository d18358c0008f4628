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
	q.swept(tag.RowsAffected())
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

// HealthCheck returns a check for health.Checker that fails with a
// *queue.BacklogError (matching queue.ErrBacklog) when a limit of l is
// exceeded (a limit <= 0 is not checked); when the table cannot be
// queried; or after Close. Unlike queue.HealthCheck over Stats, its cost
// is bounded: it counts at most MaxDepth+1 live and MaxDead+1 dead rows and
// reads one row for the age.
func (q *Queue) HealthCheck(l queue.Limits) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := q.begin(); err != nil {
			return err
		}
		defer q.ops.Done()
		now := q.now()
		b := newBatch()
		b.Queue(q.sql.boundedDepth, int64(max(l.MaxDepth, 0))+1)
		b.Queue(q.sql.oldest)
		b.Queue(q.sql.boundedDead, int64(max(l.MaxDead, 0))+1)
		br := q.pool.SendBatch(ctx, b)
		defer br.Close()
		var depth, dead int64
		if err := br.QueryRow().Scan(&depth); err != nil {
			return q.fail("health check", err)
		}
		var oldest time.Time
		if err := br.QueryRow().Scan(&oldest); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return q.fail("health check", err)
		}
		if err := br.QueryRow().Scan(&dead); err != nil {
			return q.fail("health check", err)
		}
		var age time.Duration
		if !oldest.IsZero() {
			age = max(0, now.Sub(oldest))
		}
		if l.MaxDepth > 0 && int(depth) > l.MaxDepth || l.MaxAge > 0 && age > l.MaxAge || l.MaxDead > 0 && int(dead) > l.MaxDead {
			return &queue.BacklogError{Depth: int(depth), MaxDepth: l.MaxDepth, OldestAge: age, MaxAge: l.MaxAge,
				Dead: int(dead), MaxDead: l.MaxDead}
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
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("opskit.queue.table", q.names.plain)))
	reg, err := queue.RegisterStatsMetrics(m, q.Stats, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &metrics{reg: reg}, nil
}

func (m *metrics) close() { m.reg.Unregister() }
