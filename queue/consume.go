package queue

import (
	"context"
	"errors"
	"fmt"
	"github.com/opskit/opskit/internal/timer"
	"time"
)

// maxReason bounds the failure reason kept with a dead letter.
const maxReason = 1024

// Receive waits until a message is ready, leases it for visibility and
// returns it. Messages come in id order among those ready; a delayed or
// backed-off message waits for its time. The lease ends at the deadline
// unless the message is settled (Ack, Nack, Reject) or extended first; an
// expired lease makes the message ready again.
func (q *Queue) Receive(ctx context.Context, visibility time.Duration) (*Message, error) {
	for {
		m, wake, next, err := q.receive(visibility, true)
		if m != nil || err != nil {
			return m, err
		}
		var due <-chan time.Time
		var stop func() bool
		if next > 0 {
			t := timer.New(q.cfg.clk, time.Duration(next-q.now()))
			due, stop = t.C(), t.Stop
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-due:
		case <-q.done:
		}
		if stop != nil {
			stop()
		}
		q.mu.Lock()
		q.waiting--
		q.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// TryReceive is Receive without waiting: it returns ErrEmpty when nothing
// is ready now.
func (q *Queue) TryReceive(ctx context.Context, visibility time.Duration) (*Message, error) {
	m, _, _, err := q.receive(visibility, false)
	if m == nil && err == nil {
		err = ErrEmpty
	}
	return m, err
}

// receive leases the first ready message. With nothing ready and park set,
// it registers the caller as waiting and returns the channel to wait on
// and the Unix ns time something falls due (0: none).
func (q *Queue) receive(visibility time.Duration, park bool) (*Message, <-chan struct{}, int64, error) {
	if visibility <= 0 || visibility > MaxWait {
		return nil, nil, 0, fmt.Errorf("queue: visibility is %v, want > 0 and <= %v (MaxWait)", visibility, MaxWait)
	}
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, nil, 0, ErrClosed
		}
		now := q.now()
		q.promoteLocked(now)
		e := q.idx.ready.peek()
		if e == nil {
			var next int64
			if d := q.idx.delayed.peek(); d != nil {
				next = d.notBefore
			}
			if l := q.idx.leased.peek(); l != nil && (next == 0 || l.notBefore < next) {
				next = l.notBefore
			}
			var wake chan struct{}
			if park {
				q.waiting++
				wake = q.notify
			}
			q.mu.Unlock()
			return nil, wake, next, nil
		}
		if int(e.attempt) >= q.cfg.policy.MaxAttempts {
			// Its last delivery ended without a verdict (lease expired or
			// the process stopped): that was the final attempt.
			_, err := q.deadLocked(e, now, "attempts exhausted: last delivery was never settled")
			q.mu.Unlock()
			q.dlog.flush(q.cfg.log, q.dir)
			if err != nil {
				return nil, nil, 0, err
			}
			continue
		}
		q.nextLease++
		e.attempt++
		e.lease = q.nextLease
		e.notBefore = now + int64(visibility)
		q.idx.move(e, stLeased)
		rec := record{typ: recLease, id: e.id, attempt: e.attempt, time: now}
		if _, _, _, err := q.w.append(&rec, q.addSegmentLocked); err != nil {
			q.mu.Unlock()
			return nil, nil, 0, err
		}
		m := &Message{ID: ID(e.id), Attempt: int(e.attempt), EnqueuedAt: unixTime(e.enqueued),
			Deadline: unixTime(e.notBefore), Lease: e.lease}
		seg, off, size := e.seg, e.off, e.size
		seg.acquire()
		q.mu.Unlock()

		payload, err := q.readPayload(seg, off, size)
		seg.release()
		switch {
		case err == nil:
			q.readOK(m)
			m.Payload = payload
			return m, nil, 0, nil
		case errors.Is(err, errBadRecord):
			// Proven damage: the bytes were read and are not the record.
			if err := q.dropDamaged(m, err); err != nil {
				return nil, nil, 0, err
			}
		default:
			// The read failed: the record may be intact. Keep the
			// message and try it again later; deliver others meanwhile.
			if ferr := q.readFailed(m, err); ferr != nil {
				return nil, nil, 0, ferr
			}
		}
	}
}

// Reads of a stored message that fail (not damage: the read itself) are
// retried after readBackoff; after stuckReads failures in a row the
// message is reported stuck (Stats.Stuck, and Stats and the health check
// fail) but still kept and retried.
const stuckReads = 5

// readBackoff is the wait after the n-th failed read in a row: 1s
// doubling, at most 5m.
func readBackoff(n int) time.Duration {
	if n > 9 {
		return 5 * time.Minute
	}
	return min(time.Second<<(n-1), 5*time.Minute)
}

// readFailed puts a message whose payload could not be read back as it
// was before the lease (the attempt is not spent), due after a backoff.
func (q *Queue) readFailed(m *Message, cause error) error {
	q.readErrs.Add(1)
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.idx.msgs[uint64(m.ID)]
	if e == nil || e.lease != m.Lease || e.state != stLeased {
		return nil
	}
	n := q.readFails[e.id] + 1
	q.readFails[e.id] = n
	q.lastReadErr = cause
	if n == stuckReads {
		q.stuck++
		q.cfg.log.Error("queue: a message is stuck: its reads keep failing; it is kept and retried", "dir", q.dir, "id", m.ID, "failures", n, "err", cause)
	} else if n < stuckReads {
		q.cfg.log.Warn("queue: reading a message failed; it is kept and retried", "dir", q.dir, "id", m.ID, "failures", n, "err", cause)
	}
	now := q.now()
	e.attempt--
	e.notBefore = now + int64(readBackoff(n))
	q.idx.move(e, stDelayed)
	rec := record{typ: recNack, id: e.id, attempt: e.attempt, notBefore: e.notBefore, time: now}
	_, _, _, err := q.w.append(&rec, q.addSegmentLocked)
	return err
}

// readOK forgets m's failed reads.
func (q *Queue) readOK(m *Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.forgetReadFailsLocked(uint64(m.ID))
}

// forgetReadFailsLocked drops id's failed-read count. Requires mu held.
func (q *Queue) forgetReadFailsLocked(id uint64) {
	if n, ok := q.readFails[id]; ok {
		if n >= stuckReads {
			q.stuck--
		}
		delete(q.readFails, id)
	}
}

// readPayload reads and checks the record at off, writing pending records
// first when it is not on file yet.
func (q *Queue) readPayload(seg *segment, off int64, size int32) ([]byte, error) {
	if seg.written.Load() < off+int64(size) {
		if err := q.w.flush(false); err != nil {
			return nil, err
		}
	}
	r, err := seg.readRecord(off, size)
	if err != nil {
		return nil, err
	}
	if r.typ != recEnqueue {
		return nil, fmt.Errorf("queue: segment %s: offset %d holds no message: %w", seg.name(), off, errBadRecord)
	}
	return r.payload, nil
}

// dropDamaged removes a message whose record no longer reads back intact:
// it is counted and logged, never delivered.
func (q *Queue) dropDamaged(m *Message, cause error) error {
	q.corrupt.Add(1)
	q.cfg.log.Error("queue: dropped a message whose record is damaged", "dir", q.dir, "id", m.ID, "err", cause)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.forgetReadFailsLocked(uint64(m.ID))
	e := q.idx.msgs[uint64(m.ID)]
	if e == nil || e.lease != m.Lease || e.state != stLeased {
		return nil
	}
	q.idx.remove(e)
	q.freedLocked()
	rec := record{typ: recPurge, id: e.id, time: q.now()}
	_, _, _, err := q.w.append(&rec, q.addSegmentLocked)
	return err
}

// promoteLocked makes due delayed messages and expired leases ready.
// Requires mu held.
func (q *Queue) promoteLocked(now int64) {
	for e := q.idx.delayed.peek(); e != nil && e.notBefore <= now; e = q.idx.delayed.peek() {
		q.idx.move(e, stReady)
	}
	for e := q.idx.leased.peek(); e != nil && e.notBefore <= now; e = q.idx.leased.peek() {
		q.idx.move(e, stReady)
	}
}

// leasedLocked returns m's entry if m's lease is still held. Requires mu.
func (q *Queue) leasedLocked(m *Message, now int64) (*entry, error) {
	if q.closed {
		return nil, ErrClosed
	}
	if m == nil {
		return nil, fmt.Errorf("queue: nil message")
	}
	q.promoteLocked(now)
	e := q.idx.msgs[uint64(m.ID)]
	if e == nil || e.state != stLeased || e.lease != m.Lease {
		return nil, fmt.Errorf("%w: message %s", ErrLeaseLost, m.ID)
	}
	return e, nil
}

// settle appends rec under mu (taken and released here after change ran)
// and waits for it in durable mode.
func (q *Queue) settle(m *Message, change func(e *entry, now int64) (*batch, error)) error {
	q.mu.Lock()
	now := q.now()
	e, err := q.leasedLocked(m, now)
	if err != nil {
		q.mu.Unlock()
		return err
	}
	b, err := change(e, now)
	q.mu.Unlock()
	q.dlog.flush(q.cfg.log, q.dir)
	if err != nil || !q.w.durable {
		return err
	}
	return q.w.wait(b, true)
}

// Ack finishes the delivery: the message is deleted.
func (q *Queue) Ack(ctx context.Context, m *Message) error {
	err := q.settle(m, func(e *entry, now int64) (*batch, error) {
		q.idx.remove(e)
		q.freedLocked()
		q.maybeCompactLocked(e.seg)
		rec := record{typ: recAck, id: e.id, time: now}
		b, _, _, err := q.w.append(&rec, q.addSegmentLocked)
		return b, err
	})
	if err == nil {
		q.acked.Add(1)
	}
	return err
}

// Nack fails the delivery. The message is delivered again after the retry
// policy's delay for its attempt, or becomes a dead letter with cause as
// its reason when its attempts are spent.
func (q *Queue) Nack(ctx context.Context, m *Message, cause error) error {
	err := q.settle(m, func(e *entry, now int64) (*batch, error) {
		if int(e.attempt) >= q.cfg.policy.MaxAttempts {
			return q.deadLocked(e, now, reason(cause))
		}
		e.notBefore = now + int64(q.cfg.policy.Delay(int(e.attempt)))
		q.idx.move(e, stDelayed)
		q.wakeLocked() // parked receivers must re-arm their timers
		rec := record{typ: recNack, id: e.id, attempt: e.attempt, notBefore: e.notBefore, time: now}
		b, _, _, err := q.w.append(&rec, q.addSegmentLocked)
		return b, err
	})
	if err == nil {
		q.nacked.Add(1)
	}
	return err
}

// Reject moves the delivered message straight to the dead letters.
func (q *Queue) Reject(ctx context.Context, m *Message, cause error) error {
	return q.settle(m, func(e *entry, now int64) (*batch, error) {
		return q.deadLocked(e, now, reason(cause))
	})
}

// Extend moves the lease deadline to now+d.
func (q *Queue) Extend(ctx context.Context, m *Message, d time.Duration) error {
	if d <= 0 || d > MaxWait {
		return fmt.Errorf("queue: extension is %v, want > 0 and <= %v (MaxWait)", d, MaxWait)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	e, err := q.leasedLocked(m, now)
	if err != nil {
		return err
	}
	e.notBefore = now + int64(d)
	q.idx.leased.fix(e)
	m.Deadline = unixTime(e.notBefore)
	return nil
}

// deadLocked makes e a dead letter and appends the record saying so.
// Requires mu held.
func (q *Queue) deadLocked(e *entry, now int64, why string) (*batch, error) {
	q.idx.move(e, stDead)
	e.dead = &deadInfo{at: now, reason: why}
	q.deadN.Add(1)
	q.dlog.add(time.Unix(0, now), ID(e.id), int(e.attempt), why)
	q.maybeCompactLocked(e.seg)
	rec := record{typ: recDead, id: e.id, attempt: e.attempt, time: now, payload: []byte(why)}
	b, _, _, err := q.w.append(&rec, q.addSegmentLocked)
	return b, err
}

func reason(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > maxReason {
		s = s[:maxReason]
	}
	return s
}
