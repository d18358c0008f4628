package queue

import (
	"context"
	"fmt"
	"sort"
)

// DeadLetters lists up to limit dead letters (all when limit <= 0), lowest
// id first, with their payloads read from disk. A dead letter whose record
// no longer reads back intact is listed with a nil payload and its reason
// saying so.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	type item struct {
		dl   DeadLetter
		seg  *segment
		off  int64
		size int32
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, ErrClosed
	}
	items := make([]item, 0, q.idx.dead)
	if q.idx.dead > 0 {
		for _, e := range q.idx.msgs {
			if e.state != stDead {
				continue
			}
			items = append(items, item{
				dl: DeadLetter{ID: ID(e.id), Attempts: int(e.attempt), EnqueuedAt: unixTime(e.enqueued),
					DeadAt: unixTime(e.dead.at), Reason: e.dead.reason},
				seg: e.seg, off: e.off, size: e.size,
			})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].dl.ID < items[j].dl.ID })
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	for _, it := range items {
		it.seg.acquire()
	}
	q.mu.Unlock()

	out := make([]DeadLetter, len(items))
	var firstErr error
	for i, it := range items {
		out[i] = it.dl
		if firstErr == nil {
			firstErr = ctx.Err()
		}
		if firstErr == nil {
			p, err := q.readPayload(it.seg, it.off, it.size)
			if err != nil {
				q.corrupt.Add(1)
				out[i].Reason = fmt.Sprintf("payload unreadable: %v (reason: %s)", err, it.dl.Reason)
			}
			out[i].Payload = p
		}
		it.seg.release()
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// Requeue makes dead letter id ready again, with its attempts reset.
func (q *Queue) Requeue(ctx context.Context, id ID) error {
	return q.changeDead(id, func(e *entry, now int64) record {
		e.attempt = 0
		e.notBefore = 0
		q.idx.move(e, stReady)
		q.wakeLocked()
		return record{typ: recRequeue, id: e.id, time: now}
	})
}

// Purge deletes dead letter id.
func (q *Queue) Purge(ctx context.Context, id ID) error {
	return q.changeDead(id, func(e *entry, now int64) record {
		q.idx.remove(e)
		q.freedLocked()
		q.maybeCompactLocked(e.seg)
		return record{typ: recPurge, id: e.id, time: now}
	})
}

func (q *Queue) changeDead(id ID, change func(e *entry, now int64) record) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	e := q.idx.msgs[uint64(id)]
	if e == nil || e.state != stDead {
		q.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	rec := change(e, q.now())
	b, _, _, err := q.w.append(&rec, q.addSegmentLocked)
	q.mu.Unlock()
	if err != nil || !q.w.durable {
		return err
	}
	return q.w.wait(b, true)
}
