package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/queue"
)

// Stats reports the queue's counts and ages at a bounded cost, whatever
// the table's size: each of Ready, Delayed, InFlight and Dead is exact up
// to StatsExact; above it, the count is PostgreSQL's planner estimate for
// the same condition (from the table's statistics, which autovacuum's
// ANALYZE keeps fresh), never below StatsExact+1. One call reads at most
// 4 × (StatsExact+1) index entries (plus, for Delayed, the in-flight
// entries past now), the oldest live row, up to 100 expired leases it
// dead-letters, and pg_total_relation_size; it plans one EXPLAIN per
// count over the bound. Bytes is the table's size on disk with its indexes
// and TOAST data, not the sum of payloads. Enqueued, Acked, Nacked and
// DeadLettered count this handle's own calls since OpenQueue; Corrupt is
// always 0 (PostgreSQL checks its own pages).
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

// StatsExact is the count up to which Stats' counts are exact.
const StatsExact = 10000

// count is one of Stats' counts: its bounded query, its condition for the
// estimate, and whether both take now as $1.
type count struct {
	sql, where string
	now        bool
	n          int64
}

// stats reads the stored counts in one round trip (plus one per count
// over StatsExact). Requires begin.
func (q *Queue) stats(ctx context.Context) (queue.Stats, error) {
	now := q.now()
	var s queue.Stats
	counts := []*count{
		{sql: q.sql.countReady, where: readyWhere, now: true},
		{sql: q.sql.countDelayed, where: delayedWhere, now: true},
		{sql: q.sql.countInFlight, where: inFlightWhere, now: true},
		{sql: q.sql.countDead, where: deadWhere},
	}
	b := newBatch()
	b.Queue(q.sql.sweep, now, q.cfg.policy.MaxAttempts)
	for _, c := range counts {
		if c.now {
			b.Queue(c.sql, now, StatsExact+1)
		} else {
			b.Queue(c.sql, StatsExact+1)
		}
	}
	b.Queue(q.sql.oldest)
	b.Queue(q.sql.size, q.names.table)
	br := q.pool.SendBatch(ctx, b)
	defer br.Close()
	tag, err := br.Exec()
	if err != nil {
		return s, q.fail("stats", err)
	}
	q.swept(tag.RowsAffected())
	for _, c := range counts {
		if err := br.QueryRow().Scan(&c.n); err != nil {
			return s, q.fail("stats", err)
		}
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
	for _, c := range counts {
		if c.n <= StatsExact {
			continue
		}
		est, err := q.estimate(ctx, c, now)
		if err != nil {
			return s, q.fail("stats", err)
		}
		c.n = max(est, StatsExact+1)
	}
	s.Ready, s.Delayed, s.InFlight, s.Dead = int(counts[0].n), int(counts[1].n), int(counts[2].n), int(counts[3].n)
	s.Depth = s.Ready + s.Delayed + s.InFlight
	if !oldest.IsZero() {
		s.OldestAge = max(0, now.Sub(oldest))
	}
	s.OldestAgeSeconds = s.OldestAge.Seconds()
	return s, nil
}

// estimate returns the planner's row estimate for c's condition.
func (q *Queue) estimate(ctx context.Context, c *count, now time.Time) (int64, error) {
	var args []any
	if c.now {
		args = []any{now}
	}
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	var raw []byte
	if err := q.pool.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT 1 FROM "+q.names.table+" WHERE "+c.where, args...).Scan(&raw); err != nil {
		return 0, err
	}
	if err := json.Unmarshal(raw, &plan); err != nil || len(plan) != 1 {
		return 0, fmt.Errorf("reading the planner's estimate for %q: %v", c.where, err)
	}
	return int64(plan[0].Plan.Rows), nil
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
	m := q.cfg.mp.Meter("github.com/opskit/opskit/postgres")
	attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("opskit.queue.table", q.names.plain)))
	reg, err := queue.RegisterStatsMetrics(m, q.Stats, attrs)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &metrics{reg: reg}, nil
}

func (m *metrics) close() { m.reg.Unregister() }
