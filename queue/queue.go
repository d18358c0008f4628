package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/internal/timer"
)

// Queue is a durable queue in one directory of segment files. It is safe
// for concurrent use. Open it with Open; Close it when done.
type Queue struct {
	dir  string
	cfg  config
	lock *dirLock
	w    *writer
	met  *metrics

	mu          sync.Mutex // guards idx, segs, nextID, nextLease, closed, waiting, notify, space, pendingKeys
	idx         *index
	pendingKeys map[string]chan struct{} // dedupe keys of enqueues waiting for their fsync; closed when settled
	readFails   map[uint64]int           // failed reads in a row, by message id (see stuckReads)
	stuck       int                      // messages in readFails at stuckReads or more
	lastReadErr error
	segs        []*segment // oldest first; the last is the writer's active one
	nextID      uint64
	nextLease   uint64
	closed      bool
	waiting     int           // receivers and blocked producers parked on notify or space
	notify      chan struct{} // closed and replaced when a message may have become ready
	space       chan struct{} // closed and replaced when room was freed

	done      chan struct{} // closed by Close
	compactC  chan struct{}
	wg        sync.WaitGroup
	recovered error
	// freshActive makes recovery start a new segment: the newest one's
	// header is damaged, so it is read but never appended to.
	freshActive bool
	dlog        deadLog // dead-lettering, logged rate-limited

	enqueued, acked, nacked, deadN, corrupt, readErrs atomic.Int64
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
	lock, err := openDir(dir, cfg.log)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		dir: dir, cfg: cfg, lock: lock, idx: newIndex(), nextID: 1, pendingKeys: make(map[string]chan struct{}),
		readFails: make(map[uint64]int),
		notify:    make(chan struct{}), space: make(chan struct{}),
		done: make(chan struct{}), compactC: make(chan struct{}, 1),
	}
	if err := q.recover(); err != nil {
		q.closeFiles()
		return nil, err
	}
	q.w = &writer{
		dir: dir, fs: cfg.fs, segMax: cfg.segmentSize, clk: cfg.clk, durable: cfg.syncEvery <= 0,
		cur: newBatch(), active: q.segs[len(q.segs)-1], nextID: func() uint64 { return q.nextID },
	}
	if q.met, err = newMetrics(q); err != nil {
		q.closeFiles()
		return nil, err
	}
	q.w.onSync = q.met.recordSync
	q.wg.Add(1)
	go q.compactLoop()
	if cfg.syncEvery > 0 {
		// The ticker exists when Open returns, so a fake clock moved
		// right after drives it.
		t := timer.NewTicker(cfg.clk, cfg.syncEvery)
		q.wg.Add(1)
		go q.syncLoop(t)
	}
	q.kickCompaction()
	return q, nil
}

// Recovered reports what Open found: nil, or a *CorruptError (matching
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
		nb = now + int64(ec.Delay) // Validate bounds Delay by MaxWait
	}
	key := ec.DedupeKey
	rec := record{typ: recEnqueue, time: now, notBefore: nb, key: []byte(key), payload: payload}

	q.mu.Lock()
	for {
		if err := q.waitForRoomLocked(ctx, roomSize(&rec)); err != nil {
			q.mu.Unlock()
			return 0, err
		}
		// A log that failed a write or fsync answers with that failure,
		// never with a duplicate it cannot vouch for.
		if err := q.w.broken(); err != nil {
			q.mu.Unlock()
			return 0, err
		}
		if key == "" {
			break
		}
		if id, ok := q.idx.keys[key]; ok {
			q.mu.Unlock()
			return ID(id), ErrDuplicate
		}
		settled, ok := q.pendingKeys[key]
		if !ok {
			break
		}
		// An enqueue with this key waits for its fsync: its outcome
		// decides this one's.
		q.mu.Unlock()
		select {
		case <-settled:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		q.mu.Lock()
	}
	rec.id = q.nextID
	b, seg, off, err := q.w.append(&rec, q.addSegmentLocked)
	if err != nil {
		q.mu.Unlock()
		return 0, err
	}
	q.nextID++
	e := &entry{id: rec.id, seg: seg, off: off, size: framedSize(off, &rec), enqueued: now, notBefore: nb}
	durable := q.w.durable
	var settled chan struct{}
	if durable {
		// The key is taken only once the record is on disk.
		q.idx.add(e, stPending)
		if key != "" {
			settled = make(chan struct{})
			q.pendingKeys[key] = settled
		}
	} else {
		e.key = key
		q.idx.add(e, readyOrDelayed(nb, now))
		q.wakeLocked()
	}
	q.mu.Unlock()

	if durable {
		err = q.w.wait(b, true)
		q.mu.Lock()
		if settled != nil {
			delete(q.pendingKeys, key)
			close(settled)
		}
		if e.state == stPending {
			if err != nil {
				q.idx.remove(e)
				q.freedLocked()
			} else {
				if key != "" {
					e.key = key
					q.idx.keys[key] = e.id
				}
				q.idx.move(e, readyOrDelayed(nb, q.now()))
				q.wakeLocked()
			}
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
// return ErrClosed. Close a Worker before its queue. Close runs no user
// code: it waits for the compactor to finish the copy it is making, if
// any, and for one last write and fsync, so its bound is the disk's.
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
func (q *Queue) syncLoop(t *timer.Ticker) {
	defer q.wg.Done()
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
