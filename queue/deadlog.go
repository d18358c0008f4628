package queue

import (
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// deadLog logs dead-lettering, rate-limited: a burst of deadLogBurst
// lines, then one per deadLogEvery, each saying how many went unlogged
// before it. Lines are queued under the queue's lock (add) and written
// after it is released (flush), so a slow log handler never holds the
// queue.
type deadLog struct {
	mu      sync.Mutex // guards everything below
	lim     *rate.Limiter
	skipped int
	lines   []deadLine
}

type deadLine struct {
	id       ID
	attempts int
	reason   string
	skipped  int
}

const (
	deadLogBurst = 5
	deadLogEvery = time.Minute
)

// add notes that message id became a dead letter at now.
func (d *deadLog) add(now time.Time, id ID, attempts int, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lim == nil {
		d.lim = rate.NewLimiter(rate.Every(deadLogEvery), deadLogBurst)
	}
	if !d.lim.AllowN(now, 1) || len(d.lines) >= deadLogBurst {
		d.skipped++
		return
	}
	d.lines = append(d.lines, deadLine{id: id, attempts: attempts, reason: reason, skipped: d.skipped})
	d.skipped = 0
}

// flush writes the queued lines. Call it without holding the queue's lock.
func (d *deadLog) flush(log *slog.Logger, dir string) {
	d.mu.Lock()
	lines := d.lines
	d.lines = nil
	d.mu.Unlock()
	for _, l := range lines {
		log.Warn("queue: message dead-lettered", "dir", dir, "id", l.id, "attempts", l.attempts,
			"reason", l.reason, "unlogged_before", l.skipped)
	}
}
