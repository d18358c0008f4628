package queue

import (
	"context"
	"fmt"
)

// DeadLetters lists the dead letters f selects, lowest id first, with
// their payloads read from disk. The cost under the queue's lock is the
// dead letters from f.After on (never the live messages), and payloads are
// read after the lock is released. A dead letter whose record no longer
// reads back intact is listed with a nil payload and its reason saying so.
func (q *Queue) DeadLetters(ctx context.Context, f DeadFilter) ([]DeadLetter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
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
	es := q.idx.deadIdx.selectLocked(f)
	items := make([]item, len(es))
	for i, e := range es {
		items[i] = item{dl: e.deadLetter(), seg: e.seg, off: e.off, size: e.size}
		e.seg.acquire()
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
	n, err := q.changeDead(DeadFilter{After: id - 1, Limit: 1}, id, q.requeueLocked)
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return err
}

// Purge deletes dead letter id.
func (q *Queue) Purge(ctx context.Context, id ID) error {
	n, err := q.changeDead(DeadFilter{After: id - 1, Limit: 1}, id, q.purgeLocked)
	if err == nil && n == 0 {
		err = fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return err
}

// RequeueDead makes every dead letter f selects ready again, attempts
// reset, and returns how many. Their records share one commit. After an
// error the count says how many were changed in memory; the log then
// refuses further work (see Stats).
func (q *Queue) RequeueDead(ctx context.Context, f DeadFilter) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	return q.changeDead(f, 0, q.requeueLocked)
}

// PurgeDead deletes every dead letter f selects and returns how many.
// Their records share one commit.
func (q *Queue) PurgeDead(ctx context.Context, f DeadFilter) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	return q.changeDead(f, 0, q.purgeLocked)
}

// requeueLocked makes dead entry e ready. Requires mu held.
func (q *Queue) requeueLocked(e *entry, now int64) record {
	e.attempt = 0
	e.notBefore = 0
	q.idx.move(e, stReady)
	q.wakeLocked()
	return record{typ: recRequeue, id: e.id, time: now}
}

// purgeLocked forgets dead entry e. Requires mu held.
func (q *Queue) purgeLocked(e *entry, now int64) record {
	q.idx.remove(e)
	q.freedLocked()
	q.maybeCompactLocked(e.seg)
	return record{typ: recPurge, id: e.id, time: now}
}

// changeDead applies change to the dead letters f selects (only to id, when
// not zero), appends their records and waits for them to commit.
func (q *Queue) changeDead(f DeadFilter, id ID, change func(e *entry, now int64) record) (int, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0, ErrClosed
	}
	es := q.idx.deadIdx.selectLocked(f)
	if id != 0 && (len(es) == 0 || es[0].id != uint64(id)) {
		es = nil
	}
	now := q.now()
	var b *batch
	n := 0
	for _, e := range es {
		rec := change(e, now)
		var err error
		if b, _, _, err = q.w.append(&rec, q.addSegmentLocked); err != nil {
			q.mu.Unlock()
			return n, err
		}
		n++
	}
	q.mu.Unlock()
	if b == nil || !q.w.durable {
		return n, nil
	}
	return n, q.w.wait(b, true)
}
