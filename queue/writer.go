package queue

import (
	"fmt"
	"sync"
	"time"

	"github.com/opskit/opskit/clock"
)

// writer appends records to the log and commits them with group commit.
//
// Records are appended to the current batch in memory. Whoever needs a
// batch on disk calls wait: if no commit is running it becomes the leader,
// takes the whole batch (everything appended by everyone so far), writes it
// and fsyncs once, then hands leadership to a waiter of the next batch, if
// any. There is no timer: a lone caller commits at once, and callers that
// arrive while a commit runs share the next one.
type writer struct {
	dir     string
	fs      fsys
	segMax  int64
	clk     clock.Clock
	durable bool // fsync every batch (else only batches someone asked to sync)
	onSync  func(d time.Duration)
	// nextID returns the id the next enqueue gets; a new segment is named
	// no lower, so recovery never hands out an id again even when every
	// older segment was deleted. Called with Queue.mu held.
	nextID func() uint64

	mu      sync.Mutex // guards everything below
	cur     *batch
	leading bool
	active  *segment
	err     error    // sticky: after a failed write or fsync nothing is trusted
	spares  [][]byte // buffers of committed batches, for reuse
	scratch []byte   // a record body being framed

	// Owned by the current leader (handed over through batch.lead).
	dirty   []*segment // written since their last fsync
	syncDir bool       // a segment was created since the last directory sync
}

// chunk is bytes for one segment at one offset.
type chunk struct {
	seg *segment
	off int64
	buf []byte
}

type batch struct {
	chunks  []chunk
	waiters int
	sync    bool // fsync it even in relaxed mode; read by the leader when it takes the batch
	newSeg  bool
	done    chan struct{} // closed when committed; err then readable
	lead    chan struct{} // handed leadership, buffered 1
	err     error
}

func newBatch() *batch {
	return &batch{done: make(chan struct{}), lead: make(chan struct{}, 1)}
}

// errBroken wraps the write or fsync error that broke the writer.
type errBroken struct{ err error }

func (e *errBroken) Error() string { return "queue: log unusable after I/O error: " + e.err.Error() }
func (e *errBroken) Unwrap() error { return e.err }

// append adds r to the current batch and returns the batch with where the
// record will live (its framed size is framedSize(off, r)). onRotate is
// called (with mu held) when a new segment starts. Requires the caller to
// hold Queue.mu, so log order is state order.
func (w *writer) append(r *record, onRotate func(*segment)) (*batch, *segment, int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, nil, 0, w.err
	}
	w.scratch = appendBody(w.scratch[:0], r)
	if s := w.active; s.size > fileHeaderSize && framedEnd(s.size, len(w.scratch)) > w.segMax {
		// Segment names must increase in log order (recovery replays them
		// sorted by name). Settlement and relocated records carry older
		// ids, so the name is never below the active segment's.
		ns, err := createSegment(w.fs, w.dir, max(s.base+1, w.nextID()))
		if err != nil {
			w.err = &errBroken{err}
			return nil, nil, 0, w.err
		}
		// The seal ends the old segment: recovery reports an older
		// segment without one as cut short.
		seal := record{typ: recSeal, id: ns.base}
		w.place(s, appendBody(nil, &seal))
		w.active = ns
		w.cur.newSeg = true
		onRotate(ns)
	}
	s := w.active
	return w.cur, s, w.place(s, w.scratch), nil
}

// place frames body at the end of s in the current batch and returns
// where the record starts. Requires mu held.
func (w *writer) place(s *segment, body []byte) int64 {
	b := w.cur
	if k := len(b.chunks); k == 0 || b.chunks[k-1].seg != s {
		var buf []byte
		if k := len(w.spares); k > 0 {
			buf, w.spares = w.spares[k-1], w.spares[:k-1]
		}
		b.chunks = append(b.chunks, chunk{seg: s, off: s.size, buf: buf})
	}
	c := &b.chunks[len(b.chunks)-1]
	var off int64
	c.buf, off = appendFramed(c.buf, s.size, body)
	s.size = c.off + int64(len(c.buf))
	return off
}

// framedSize is the size of r's record framed at off in a format 2 segment.
func framedSize(off int64, r *record) int32 {
	return int32(framedEnd(off, r.bodySize()) - off)
}

// roomSize is what r takes against WithMaxBytes before it is placed: its
// size in one chunk (block padding and fragment headers add a few bytes).
func roomSize(r *record) int64 { return int64(r.bodySize() + chunkHeader) }

// broken returns the error that made the log unusable, or nil.
func (w *writer) broken() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// pending reports the bytes appended but not yet taken by a leader.
func (w *writer) pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.cur.chunks {
		n += len(c.buf)
	}
	return n
}

// wait returns once b is committed (written, and fsynced when sync or in
// durable mode), leading commits as needed.
func (w *writer) wait(b *batch, sync bool) error {
	w.mu.Lock()
	if b != w.cur && sync && !w.durable && !b.sync {
		// A leader took b without an fsync (or has committed it): sync
		// the next batch instead. It commits after b, and its fsync
		// covers every segment b wrote.
		b = w.cur
	}
	select {
	case <-b.done:
		w.mu.Unlock()
		return b.err
	default:
	}
	if b == w.cur {
		b.sync = b.sync || sync // a taken batch's sync is the leader's to read
	}
	b.waiters++
	lead := false
	if !w.leading {
		w.leading = true
		lead = true
	}
	w.mu.Unlock()
	for {
		if lead {
			w.lead()
		}
		select {
		case <-b.done:
			return b.err
		case <-b.lead:
			lead = true
		}
	}
}

// flush commits everything appended so far.
func (w *writer) flush(sync bool) error {
	w.mu.Lock()
	b := w.cur
	w.mu.Unlock()
	return w.wait(b, sync)
}

// lead commits the current batch. Requires leadership; passes it on.
func (w *writer) lead() {
	w.mu.Lock()
	b := w.cur
	w.cur = newBatch()
	err := w.err
	w.mu.Unlock()

	if err == nil {
		err = w.commit(b)
	}
	b.err = err

	w.mu.Lock()
	if err != nil && w.err == nil {
		w.err = &errBroken{err}
		b.err = w.err
	}
	for _, c := range b.chunks {
		if cap(c.buf) <= 8<<20 && len(w.spares) < 4 {
			w.spares = append(w.spares, c.buf[:0])
		}
	}
	close(b.done)
	if next := w.cur; next.waiters > 0 {
		next.lead <- struct{}{}
	} else {
		w.leading = false
	}
	w.mu.Unlock()
}

// commit writes b's chunks and fsyncs what must be. Requires leadership.
func (w *writer) commit(b *batch) error {
	for _, c := range b.chunks {
		// Only the newest segment may have a torn tail (recovery reports
		// damage anywhere else): an older segment is on disk before a
		// newer one is written, in relaxed mode too.
		if k := len(w.dirty); k > 0 && w.dirty[k-1] != c.seg {
			if err := w.syncDirty(); err != nil {
				return err
			}
		}
		if _, err := c.seg.f.WriteAt(c.buf, c.off); err != nil {
			return fmt.Errorf("queue: write segment %s: %w", c.seg.name(), err)
		}
		c.seg.written.Store(c.off + int64(len(c.buf)))
		if len(w.dirty) == 0 || w.dirty[len(w.dirty)-1] != c.seg {
			w.dirty = append(w.dirty, c.seg)
		}
	}
	w.syncDir = w.syncDir || b.newSeg
	if !w.durable && !b.sync {
		return nil
	}
	return w.syncDirty()
}

// syncDirty fsyncs the segments written since their last fsync, and the
// directory when a segment was created. Requires leadership.
func (w *writer) syncDirty() error {
	start := w.clk.Now()
	for _, s := range w.dirty {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("queue: fsync segment %s: %w", s.name(), err)
		}
	}
	w.dirty = w.dirty[:0]
	if w.syncDir {
		if err := w.fs.SyncDir(w.dir); err != nil {
			return fmt.Errorf("queue: fsync directory: %w", err)
		}
		w.syncDir = false
	}
	if w.onSync != nil {
		w.onSync(w.clk.Now().Sub(start))
	}
	return nil
}
