package queue

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/internal/atomicfile"
	"github.com/opskit/opskit/internal/timer"
)

// Queue is a durable queue in one directory of segment files. It is safe
// for concurrent use. Open it with Open; Close it when done.
type Queue struct {
	dir  string
	cfg  config
	lock *os.File
	w    *writer
	met  *metrics

	mu        sync.Mutex // guards idx, segs, nextID, nextLease, closed, waiting, notify, space
	idx       *index
	segs      []*segment // oldest first; the last is the writer's active one
	nextID    uint64
	nextLease uint64
	closed    bool
	waiting   int           // receivers and blocked producers parked on notify or space
	notify    chan struct{} // closed and replaced when a message may have become ready
	space     chan struct{} // closed and replaced when room was freed

	done      chan struct{} // closed by Close
	compactC  chan struct{}
	wg        sync.WaitGroup
	recovered error
	dlog      deadLog // dead-lettering, logged rate-limited

	enqueued, acked, nacked, deadN, corrupt atomic.Int64
}

// Open opens the queue in dir, creating dir (mode 0700) if needed, and
// recovers its state from the log. Recovery cuts a torn tail and skips
// damaged records (see Recovered); it does not fail on damaged data. Open
// fails with ErrLocked when another process has the queue open.
func Open(dir string, opts ...Option) (*Queue, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		dir: dir, cfg: cfg, lock: lock, idx: newIndex(), nextID: 1,
		notify: make(chan struct{}), space: make(chan struct{}),
		done: make(chan struct{}), compactC: make(chan struct{}, 1),
	}
	if err := q.recover(); err != nil {
		q.closeFiles()
		return nil, err
	}
	q.w = &writer{
		dir: dir, segMax: cfg.segmentSize, clk: cfg.clk, durable: cfg.syncEvery <= 0,
		cur: newBatch(), active: q.segs[len(q.segs)-1],
	}
	if q.met, err = newMetrics(q); err != nil {
		q.closeFiles()
		return nil, err
	}
	q.w.onSync = q.met.recordSync
	q.wg.Add(1)
	go q.compactLoop()
	if cfg.syncEvery > 0 {
		q.wg.Add(1)
		go q.syncLoop()
	}
	q.kickCompaction()
	return q, nil
}

// recover rebuilds the index from the segments on disk.
func (q *Queue) recover() error {
	bases, err := listSegments(q.dir)
	if err != nil {
		return err
	}
	var regions []Region
	var torn int64
	for _, base := range bases {
		s, err := openSegment(q.dir, base, false)
		if err != nil {
			return err
		}
		q.segs = append(q.segs, s)
		q.nextID = max(q.nextID, base)
		res, err := scanSegment(s, func(r *record, off int64) { q.apply(r, s, off) })
		if err != nil {
			return err
		}
		regions = append(regions, res.damaged...)
		st, err := s.f.Stat()
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		if res.valid < st.Size() {
			torn += st.Size() - res.valid
			if err := s.truncate(res.valid); err != nil {
				return err
			}
		}
		s.size = res.valid
		s.written.Store(res.valid)
	}
	if len(q.segs) == 0 {
		s, err := openSegment(q.dir, q.nextID, true)
		if err != nil {
			return err
		}
		q.segs = append(q.segs, s)
		if err := atomicfile.SyncDir(q.dir); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	q.idx.rebuild(q.cfg.clk.Now().UnixNano(), q.nextID)
	if len(regions) > 0 {
		q.corrupt.Store(int64(len(regions)))
		q.recovered = &CorruptionError{Regions: regions}
		q.cfg.log.Warn("queue: damaged records skipped at open", "dir", q.dir, "err", q.recovered)
	}
	if torn > 0 {
		q.cfg.log.Info("queue: cut torn tail at open", "dir", q.dir, "bytes", torn)
	}
	return nil
}

// apply replays one record into the index during recovery.
func (q *Queue) apply(r *record, s *segment, off int64) {
	q.nextID = max(q.nextID, r.id+1)
	x := q.idx
	e := x.msgs[r.id]
	if r.typ == recEnqueue {
		size := int32(r.size())
		if e != nil {
			x.relocate(e, s, off, size)
		} else {
			e = &entry{id: r.id, seg: s, off: off, size: size, state: stReady, hidx: -1, key: string(r.key)}
			x.msgs[r.id] = e
			x.bytes += int64(size)
			s.live += int64(size)
			if e.key != "" {
				x.keys[e.key] = e.id
			}
		}
		e.attempt, e.notBefore, e.enqueued = r.attempt, r.notBefore, r.time
		return
	}
	if e == nil {
		return // its message was compacted away, or its enqueue was damaged
	}
	switch r.typ {
	case recAck, recPurge:
		if e.state == stDead {
			x.dead--
		}
		e.state = stReady // so remove leaves the heaps alone
		x.remove(e)
	case recNack:
		e.attempt, e.notBefore = r.attempt, r.notBefore
	case recLease:
		e.attempt = max(e.attempt, r.attempt)
	case recDead:
		if e.state != stDead {
			x.dead++
		}
		e.state = stDead
		e.dead = &deadInfo{at: r.time, reason: string(r.payload)}
	case recRequeue:
		if e.state == stDead {
			x.dead--
		}
		e.state, e.attempt, e.notBefore, e.dead = stReady, 0, 0, nil
	}
}

// Recovered reports what Open found: nil, or a *CorruptionError (matching
// ErrCorrupt) listing the damaged regions that were skipped.
func (q *Queue) Recovered() error { return q.recovered }

// Dir returns the queue's directory.
func (q *Queue) Dir() string { return q.dir }

// Enqueue stores payload and returns its id. In durable mode (the default)
// it returns only after the record is fsynced; concurrent calls share
// fsyncs. The payload is copied; the caller may reuse it.
func (q *Queue) Enqueue(ctx context.Context, payload []byte, opts ...EnqueueOption) (ID, error) {
	ec := NewEnqueueConfig(opts...)
	if err := ec.Validate(q.cfg.clk.Now()); err != nil {
		return 0, err
	}
	if len(payload) > q.cfg.maxPayload {
		return 0, fmt.Errorf("queue: payload is %d bytes, want <= %d (WithMaxPayload)", len(payload), q.cfg.maxPayload)
	}
	now := q.cfg.clk.Now().UnixNano()
	var nb int64
	if !ec.NotBefore.IsZero() {
		nb = ec.NotBefore.UnixNano()
	} else if ec.Delay > 0 {
		nb = now + int64(ec.Delay)
	}
	rec := record{typ: recEnqueue, time: now, notBefore: nb, key: []byte(ec.DedupeKey), payload: payload}
	size := int64(rec.size())

	q.mu.Lock()
	if err := q.waitForRoomLocked(ctx, size); err != nil {
		q.mu.Unlock()
		return 0, err
	}
	if ec.DedupeKey != "" {
		if id, ok := q.idx.keys[ec.DedupeKey]; ok {
			q.mu.Unlock()
			return ID(id), ErrDuplicate
		}
	}
	rec.id = q.nextID
	b, seg, off, err := q.w.append(&rec, q.addSegmentLocked)
	if err != nil {
		q.mu.Unlock()
		return 0, err
	}
	q.nextID++
	e := &entry{id: rec.id, seg: seg, off: off, size: int32(size), enqueued: now, notBefore: nb, key: ec.DedupeKey}
	durable := q.w.durable
	if durable {
		q.idx.add(e, stPending)
	} else {
		q.idx.add(e, readyOrDelayed(nb, now))
		q.wakeLocked()
	}
	q.mu.Unlock()

	if durable {
		err = q.w.wait(b, true)
		q.mu.Lock()
		if e.state == stPending && err == nil {
			q.idx.move(e, readyOrDelayed(nb, q.cfg.clk.Now().UnixNano()))
			q.wakeLocked()
		}
		q.mu.Unlock()
		if err != nil {
			return 0, err
		}
	} else if q.w.pending() >= relaxedWriteBytes {
		if err := q.w.flush(false); err != nil {
			return 0, err
		}
	}
	q.enqueued.Add(1)
	return ID(rec.id), nil
}

// relaxedWriteBytes is how much relaxed mode lets pile up in memory before
// it writes (without fsync).
const relaxedWriteBytes = 1 << 20

func readyOrDelayed(notBefore, now int64) state {
	if notBefore > now {
		return stDelayed
	}
	return stReady
}

// waitForRoomLocked returns nil once size more bytes and one more message
// fit, ErrFull when they do not and the queue does not block. Requires mu
// held; may release and retake it.
func (q *Queue) waitForRoomLocked(ctx context.Context, size int64) error {
	for {
		if q.closed {
			return ErrClosed
		}
		full := q.cfg.maxBytes > 0 && q.idx.bytes+size > q.cfg.maxBytes ||
			q.cfg.maxMessages > 0 && len(q.idx.msgs) >= q.cfg.maxMessages
		if !full {
			return nil
		}
		if !q.cfg.block {
			return ErrFull
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		space := q.space
		q.waiting++
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
		case <-q.done:
		}
		q.mu.Lock()
		q.waiting--
	}
}

// addSegmentLocked records a segment the writer started. Requires mu held.
func (q *Queue) addSegmentLocked(s *segment) {
	q.segs = append(q.segs, s)
	q.kickCompaction()
}

// wakeLocked wakes parked receivers. Requires mu held.
func (q *Queue) wakeLocked() {
	if q.waiting > 0 {
		close(q.notify)
		q.notify = make(chan struct{})
	}
}

// freedLocked wakes producers waiting for room. Requires mu held.
func (q *Queue) freedLocked() {
	if q.waiting > 0 && q.cfg.block {
		close(q.space)
		q.space = make(chan struct{})
	}
}

// Close commits what is pending, stops background work and releases the
// directory. Calls in progress finish or return ErrClosed; later calls
// return ErrClosed. Close a Worker before its queue.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	q.wg.Wait()
	err := q.w.flush(true)
	q.met.close()
	q.closeFiles()
	if errors.Is(err, ErrClosed) {
		err = nil
	}
	return err
}

// closeFiles drops the log's references to its segments and unlocks.
func (q *Queue) closeFiles() {
	for _, s := range q.segs {
		s.release()
	}
	q.segs = nil
	q.lock.Close()
}

// syncLoop fsyncs on the interval in relaxed mode.
func (q *Queue) syncLoop() {
	defer q.wg.Done()
	t := timer.NewTicker(q.cfg.clk, q.cfg.syncEvery)
	defer t.Stop()
	for {
		select {
		case <-q.done:
			return
		case <-t.C():
			if err := q.w.flush(true); err != nil {
				q.cfg.log.Error("queue: periodic sync failed", "dir", q.dir, "err", err)
			}
		}
	}
}

var _ Backend = (*Queue)(nil)

// now returns the clock's time in Unix ns.
func (q *Queue) now() int64 { return q.cfg.clk.Now().UnixNano() }

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
