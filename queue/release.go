package queue

import (
	"context"
	"fmt"
	"time"
)

// Release gives the delivery back unprocessed ("not now", see Handler):
// the message is ready again after d (at once when d <= 0; d is capped at
// MaxWait) and the attempt is not counted. Its record is not waited for: it
// reaches disk with the next commit, so a refusal costs no fsync of its own,
// and a crash before that commit counts the attempt.
func (q *Queue) Release(ctx context.Context, m *Message, d time.Duration) error {
	d = min(max(d, 0), MaxWait)
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	e, err := q.leasedLocked(m, now)
	if err != nil {
		return err
	}
	if e.attempt > 0 {
		e.attempt--
	}
	e.notBefore = now + int64(d)
	q.idx.move(e, readyOrDelayed(e.notBefore, now))
	q.wakeLocked()
	rec := record{typ: recNack, id: e.id, attempt: e.attempt, notBefore: e.notBefore, time: now}
	if _, _, _, err := q.w.append(&rec, q.addSegmentLocked); err != nil {
		return fmt.Errorf("queue: release %s: %w", m.ID, err)
	}
	return nil
}
