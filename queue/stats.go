package queue

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// metrics holds the queue's OTel instruments. Counts are read from the
// queue at collection time; only the fsync histogram is recorded as it
// happens (once per group commit, never per message).
type metrics struct {
	fsync metric.Float64Histogram
	reg   metric.Registration
}

func newMetrics(q *Queue) (*metrics, error) {
	m := q.cfg.mp.Meter("github.com/opskit/opskit/queue")
	fsync, err := m.Float64Histogram("opskit.queue.fsync.duration", metric.WithUnit("s"),
		metric.WithDescription("Time of one group commit's fsyncs."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
	if err != nil {
		return nil, fmt.Errorf("queue: metrics: %w", err)
	}
	reg, err := RegisterStatsMetrics(m, q.Stats)
	if err != nil {
		return nil, err
	}
	return &metrics{fsync: fsync, reg: reg}, nil
}

func (m *metrics) recordSync(d time.Duration) {
	m.fsync.Record(context.Background(), d.Seconds())
}

func (m *metrics) close() { m.reg.Unregister() }

// Stats reports counts and ages. It fails after Close, and once a write or
// fsync has failed (the log refuses work) it returns the stats with that error.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return Stats{}, ErrClosed
	}
	// A log that failed a write or fsync refuses new work; report it here
	// too, so /queue and the health check show it, not only Enqueue. So
	// are messages that cannot be read back.
	s := q.snapshot()
	if err := q.w.broken(); err != nil {
		return s, err
	}
	if s.Stuck > 0 {
		q.mu.Lock()
		last := q.lastReadErr
		q.mu.Unlock()
		return s, fmt.Errorf("queue: %d message(s) stuck: reading them failed %d times in a row (they are kept and retried): %w", s.Stuck, stuckReads, last)
	}
	return s, nil
}

func (q *Queue) snapshot() Stats {
	q.mu.Lock()
	x := q.idx
	s := Stats{
		Ready: x.ready.Len(), Delayed: x.delayed.Len(), InFlight: x.leased.Len(),
		Depth: x.depth(), Dead: x.dead, Bytes: x.bytes, Stuck: q.stuck,
	}
	if e := x.oldest(q.nextID); e != nil {
		s.OldestAge = max(0, time.Duration(q.now()-e.enqueued))
	}
	q.mu.Unlock()
	s.OldestAgeSeconds = s.OldestAge.Seconds()
	s.Enqueued = q.enqueued.Load()
	s.Acked = q.acked.Load()
	s.Nacked = q.nacked.Load()
	s.DeadLettered = q.deadN.Load()
	s.Corrupt = q.corrupt.Load()
	s.ReadErrors = q.readErrs.Load()
	return s
}

// BacklogError is what a health check returns when a limit is exceeded.
// It matches ErrBacklog.
type BacklogError struct {
	Depth     int
	MaxDepth  int
	OldestAge time.Duration
	MaxAge    time.Duration
	Dead      int
	MaxDead   int
}

func (e *BacklogError) Error() string {
	switch {
	case e.MaxDepth > 0 && e.Depth > e.MaxDepth:
		return fmt.Sprintf("queue: backlog of %d messages, limit %d", e.Depth, e.MaxDepth)
	case e.MaxAge > 0 && e.OldestAge > e.MaxAge:
		return fmt.Sprintf("queue: oldest message is %v old, limit %v", e.OldestAge.Round(time.Second), e.MaxAge)
	}
	return fmt.Sprintf("queue: %d dead letters, limit %d", e.Dead, e.MaxDead)
}

func (e *BacklogError) Is(target error) bool { return target == ErrBacklog }

// Limits are what HealthCheck checks; a limit <= 0 is not checked.
type Limits struct {
	MaxDepth int           // messages ready, delayed or in flight
	MaxAge   time.Duration // age of the oldest of them
	// MaxDead is the dead letters held. Give it a check of its own,
	// registered as non-critical, so that dead letters warn while the
	// backlog limits fail.
	MaxDead int
}

// HealthCheck returns a check for health.Checker (any func(ctx) error
// consumer): it fails with a *BacklogError when a limit of l is exceeded,
// when the backend cannot report its stats (a broken log, a database that
// is down), or after Close. It works on any Backend.
func HealthCheck(b Backend, l Limits) func(context.Context) error {
	return func(ctx context.Context) error {
		s, err := b.Stats(ctx)
		if err != nil {
			return err
		}
		if l.MaxDepth > 0 && s.Depth > l.MaxDepth || l.MaxAge > 0 && s.OldestAge > l.MaxAge ||
			l.MaxDead > 0 && s.Dead > l.MaxDead {
			return &BacklogError{Depth: s.Depth, MaxDepth: l.MaxDepth, OldestAge: s.OldestAge, MaxAge: l.MaxAge,
				Dead: s.Dead, MaxDead: l.MaxDead}
		}
		return nil
	}
}
