package queue

import (
	"container/heap"
	"maps"
)

// state is where a stored message is in its life.
type state uint8

const (
	stPending state = iota // appended, not yet committed (durable mode)
	stReady
	stDelayed
	stLeased
	stDead
)

// entry is everything kept in memory about one stored message. The payload
// stays on disk: seg and off locate its record, size is the record length.
type entry struct {
	id        uint64
	seg       *segment
	off       int64
	size      int32
	state     state
	attempt   uint32
	hidx      int   // position in the heap its state puts it in
	enqueued  int64 // Unix ns
	notBefore int64 // Unix ns: ready at (delayed) or lease deadline (leased)
	lease     uint64
	key       string
	dead      *deadInfo // only for dead letters
}

type deadInfo struct {
	at     int64
	reason string
}

// entryHeap is a min-heap of entries ordered by less; each entry records its
// own position so it can be removed or fixed in place.
type entryHeap struct {
	es   []*entry
	less func(a, b *entry) bool
}

func (h *entryHeap) Len() int           { return len(h.es) }
func (h *entryHeap) Less(i, j int) bool { return h.less(h.es[i], h.es[j]) }
func (h *entryHeap) Swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.es[i].hidx = i
	h.es[j].hidx = j
}
func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.hidx = len(h.es)
	h.es = append(h.es, e)
}
func (h *entryHeap) Pop() any {
	n := len(h.es) - 1
	e := h.es[n]
	h.es[n] = nil
	h.es = h.es[:n]
	if c := cap(h.es); c > shrinkMin && n < c/4 {
		h.es = append(make([]*entry, 0, 2*n), h.es...) // give a drained backlog's memory back
	}
	e.hidx = -1
	return e
}

// resized copies m into a map allocated for its present size.
func resized[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	maps.Copy(c, m)
	return c
}

// shrinkMin is the size below which the index does not bother to give
// memory back after messages leave.
const shrinkMin = 1024

func (h *entryHeap) push(e *entry)   { heap.Push(h, e) }
func (h *entryHeap) remove(e *entry) { heap.Remove(h, e.hidx) }
func (h *entryHeap) fix(e *entry)    { heap.Fix(h, e.hidx) }
func (h *entryHeap) peek() *entry {
	if len(h.es) == 0 {
		return nil
	}
	return h.es[0]
}

func byID(a, b *entry) bool { return a.id < b.id }
func byTime(a, b *entry) bool {
	return a.notBefore < b.notBefore || a.notBefore == b.notBefore && a.id < b.id
}

// index is the in-memory view of the log. It is not safe for concurrent
// use; Queue guards it with its mutex.
type index struct {
	msgs    map[uint64]*entry
	ready   entryHeap // by id: FIFO
	delayed entryHeap // by not-before time
	leased  entryHeap // by lease deadline (notBefore)
	keys    map[string]uint64
	dead    int
	deadIdx deadIndex // the dead letters by id
	bytes   int64     // record bytes of stored messages
	minLive uint64
	peak    int // len(msgs) when msgs and keys were last allocated
}

func newIndex() *index {
	return &index{
		msgs:    make(map[uint64]*entry),
		ready:   entryHeap{less: byID},
		delayed: entryHeap{less: byTime},
		leased:  entryHeap{less: byTime},
		keys:    make(map[string]uint64),
	}
}

// heapOf returns the heap entries in state s live in, or nil.
func (x *index) heapOf(s state) *entryHeap {
	switch s {
	case stReady:
		return &x.ready
	case stDelayed:
		return &x.delayed
	case stLeased:
		return &x.leased
	}
	return nil
}

// add stores a new entry in state s.
func (x *index) add(e *entry, s state) {
	x.msgs[e.id] = e
	x.peak = max(x.peak, len(x.msgs))
	x.bytes += int64(e.size)
	e.seg.live += int64(e.size)
	if e.key != "" {
		x.keys[e.key] = e.id
	}
	e.state = stPending
	e.hidx = -1
	x.move(e, s)
}

// move changes e's state, keeping heaps and counts right.
func (x *index) move(e *entry, s state) {
	if h := x.heapOf(e.state); h != nil && e.hidx >= 0 {
		h.remove(e)
	}
	if e.state == stDead {
		x.dead--
		x.deadIdx.del(e)
	}
	e.state = s
	if s == stDead {
		x.dead++
		x.deadIdx.add(e)
	} else {
		e.dead = nil
		if e.id < x.minLive {
			x.minLive = e.id
		}
	}
	if h := x.heapOf(s); h != nil {
		h.push(e)
	}
}

// relocate points e at a new copy of its record.
func (x *index) relocate(e *entry, seg *segment, off int64, size int32) {
	e.seg.live -= int64(e.size)
	x.bytes += int64(size) - int64(e.size)
	e.seg, e.off, e.size = seg, off, size
	seg.live += int64(size)
}

// remove forgets e.
func (x *index) remove(e *entry) {
	if h := x.heapOf(e.state); h != nil && e.hidx >= 0 {
		h.remove(e)
	}
	if e.state == stDead {
		x.dead--
		x.deadIdx.del(e)
	}
	delete(x.msgs, e.id)
	if e.key != "" && x.keys[e.key] == e.id {
		delete(x.keys, e.key)
	}
	x.bytes -= int64(e.size)
	e.seg.live -= int64(e.size)
	if n := len(x.msgs); x.peak > shrinkMin && n < x.peak/4 {
		// Go maps never shrink: copy them, so memory comes back after a
		// large backlog drains. Amortised O(1) per removal.
		x.msgs = resized(x.msgs)
		x.keys = resized(x.keys)
		x.peak = n
	}
}

// oldest returns the live (not dead, not pending) entry with the lowest id.
// minLive only moves forward, except when an older id comes back to life,
// so the scan is amortised over the ids it skips.
func (x *index) oldest(next uint64) *entry {
	for ; x.minLive < next; x.minLive++ {
		if e := x.msgs[x.minLive]; e != nil && e.state != stDead && e.state != stPending {
			return e
		}
		if len(x.msgs) == x.dead {
			break
		}
	}
	return nil
}

// depth counts messages that are ready, delayed or leased.
func (x *index) depth() int { return x.ready.Len() + x.delayed.Len() + x.leased.Len() }

// rebuild fills the heaps after recovery has set every entry's state to
// ready or dead: ready entries whose not-before time is after now are
// delayed. next is the id the next enqueue gets.
func (x *index) rebuild(now int64, next uint64) {
	x.deadIdx.rebuild(x.msgs)
	x.peak = len(x.msgs)
	x.minLive = ^uint64(0)
	for _, e := range x.msgs {
		if e.state == stDead {
			continue
		}
		h := &x.ready
		if e.notBefore > now {
			h, e.state = &x.delayed, stDelayed
		}
		e.hidx = len(h.es)
		h.es = append(h.es, e)
		x.minLive = min(x.minLive, e.id)
	}
	heap.Init(&x.ready)
	heap.Init(&x.delayed)
	if x.minLive == ^uint64(0) {
		x.minLive = next
	}
}
