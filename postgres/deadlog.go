package postgres

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/opskit/opskit/queue"
)

// Dead-lettering is logged rate-limited: a burst of deadLogBurst lines,
// then one per deadLogEvery, each saying how many went unlogged before it.
const (
	deadLogBurst = 5
	deadLogEvery = time.Minute
)

// deadLog is the limiter of those lines. The database calls are done
// before a line is written; no lock is held while logging.
type deadLog struct {
	mu      sync.Mutex // guards lim and skipped
	lim     *rate.Limiter
	skipped int64
}

// allow reports whether to log n more dead letters now, and how many went
// unlogged before them.
func (d *deadLog) allow(now time.Time, n int64) (bool, int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lim == nil {
		d.lim = rate.NewLimiter(rate.Every(deadLogEvery), deadLogBurst)
	}
	if !d.lim.AllowN(now, 1) {
		d.skipped += n
		return false, 0
	}
	skipped := d.skipped
	d.skipped = 0
	return true, skipped
}

// deadLettered counts and logs one message that Nack or Reject made a
// dead letter.
func (q *Queue) deadLettered(m *queue.Message, cause error) {
	q.deadN.Add(1)
	if ok, skipped := q.dlog.allow(q.now(), 1); ok {
		q.cfg.log.Warn("postgres: message dead-lettered", "table", q.names.plain, "id", m.ID,
			"attempts", m.Attempt, "reason", reason(cause), "unlogged_before", skipped)
	}
}

// swept counts and logs the n expired leases a sweep dead-lettered.
func (q *Queue) swept(n int64) {
	if n == 0 {
		return
	}
	q.deadN.Add(n)
	if ok, skipped := q.dlog.allow(q.now(), n); ok {
		q.cfg.log.Warn("postgres: messages dead-lettered", "table", q.names.plain, "count", n,
			"reason", exhaustedReason, "unlogged_before", skipped)
	}
}
