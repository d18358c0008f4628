package queue

import (
	"errors"
	"fmt"
	"sort"
)

// Space is reclaimed from the head of the log only: the oldest segment is
// deleted once nothing in it is needed. Deleting from the head only keeps
// recovery simple: an ack in a later segment can never be replayed without
// the enqueue it cancels, because that enqueue is in the same or an older
// segment, which is deleted first.
//
// A head segment that still holds a few stored messages (a long delay, a
// dead letter) is compacted: their records are copied to the end of the
// log as snapshots (state, attempts, times, key, payload), fsynced, and the
// old file is deleted. It is compacted when its stored bytes are at most a
// quarter of it, when the log as a whole is mostly garbage, or when it is
// a format 1 file: that is how a directory written by an older version is
// migrated, crash-safely (the copies are fsynced before the file goes).

// kickCompaction asks the compactor to look at the head segment.
func (q *Queue) kickCompaction() {
	select {
	case q.compactC <- struct{}{}:
	default:
	}
}

// maybeCompactLocked kicks the compactor if s is a head segment that may
// now be reclaimed. Requires mu held.
func (q *Queue) maybeCompactLocked(s *segment) {
	if len(q.segs) > 1 && s == q.segs[0] && s.live*4 <= s.size {
		q.kickCompaction()
	}
}

func (q *Queue) compactLoop() {
	defer q.wg.Done()
	for {
		select {
		case <-q.done:
			return
		case <-q.compactC:
		}
		for {
			more, err := q.compactHead()
			if err != nil {
				q.cfg.log.Error("queue: compaction failed", "dir", q.dir, "err", err)
				break
			}
			if !more {
				break
			}
		}
	}
}

// headReclaimableLocked reports whether the head segment should go.
// Requires mu held.
func (q *Queue) headReclaimableLocked() bool {
	if len(q.segs) < 2 {
		return false
	}
	head := q.segs[0]
	if head.live == 0 || head.live*4 <= head.size || head.version == 1 {
		return true // a format 1 file is migrated: its messages copied forward
	}
	var size int64
	for _, s := range q.segs {
		size += s.size
	}
	return size > 2*q.idx.bytes+q.cfg.segmentSize
}

// compactHead reclaims the head segment if it should go, and reports
// whether it did.
func (q *Queue) compactHead() (bool, error) {
	q.mu.Lock()
	if q.closed || !q.headReclaimableLocked() {
		q.mu.Unlock()
		return false, nil
	}
	head := q.segs[0]
	if head.live > 0 {
		if err := q.relocateLocked(head); err != nil {
			q.mu.Unlock()
			return false, err
		}
	}
	q.mu.Unlock()
	// The copies, and the acks that emptied the head, must be on disk
	// before the head goes: else a crash would bring back acked
	// messages' absence without their copies, or lose messages whose
	// ack never reached the disk.
	if err := q.w.flush(true); err != nil {
		return false, err
	}

	q.mu.Lock()
	if q.closed || head.live != 0 {
		q.mu.Unlock()
		return false, nil
	}
	q.segs = q.segs[1:]
	q.mu.Unlock()
	if err := q.cfg.fs.Remove(head.path); err != nil {
		return false, fmt.Errorf("queue: delete segment %s: %w", head.name(), err)
	}
	head.release()
	if err := q.cfg.fs.SyncDir(q.dir); err != nil {
		return false, fmt.Errorf("queue: %w", err)
	}
	return true, nil
}

// relocateLocked copies the stored messages of head to the end of the log.
// Requires mu held.
func (q *Queue) relocateLocked(head *segment) error {
	var es []*entry
	for _, e := range q.idx.msgs {
		if e.seg == head {
			es = append(es, e)
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].id < es[j].id })
	if head.written.Load() < head.size {
		if err := q.w.flush(false); err != nil {
			return err
		}
	}
	for _, e := range es {
		r, err := head.readRecord(e.off, e.size)
		if errors.Is(err, errBadRecord) {
			// Read back, and not the record written: it could never be
			// delivered. Quarantine it with a purge record.
			q.corrupt.Add(1)
			q.cfg.log.Error("queue: dropped a damaged message during compaction", "dir", q.dir, "id", ID(e.id), "err", err)
			q.idx.remove(e)
			p := record{typ: recPurge, id: e.id, time: q.now()}
			if _, _, _, err := q.w.append(&p, q.addSegmentLocked); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			// The read failed; the record may be fine. Keep everything
			// and try again at the next compaction.
			return err
		}
		r.flags |= flagRelocated
		r.attempt = e.attempt
		r.notBefore = 0
		if e.state == stDelayed {
			r.notBefore = e.notBefore
		}
		_, seg, off, err := q.w.append(&r, q.addSegmentLocked)
		if err != nil {
			return err
		}
		q.idx.relocate(e, seg, off, framedSize(off, &r))
		if e.state == stDead {
			d := record{typ: recDead, id: e.id, attempt: e.attempt, time: e.dead.at, payload: []byte(e.dead.reason)}
			if _, _, _, err := q.w.append(&d, q.addSegmentLocked); err != nil {
				return err
			}
		}
	}
	return nil
}
