package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit limits: how many multi-row inserts run at once, and how
// many messages and payload bytes one of them carries at most.
const (
	groupLeaders = 4
	groupRows    = 512
	groupBytes   = 8 << 20
)

// group gathers concurrent Enqueue calls into shared inserts. A caller
// that finds fewer than groupLeaders inserts running becomes a leader: it
// takes the waiting messages (its own first), inserts them, hands each
// waiter its result, and passes the lead to the next waiter if any. So
// every caller waits for at most the insert running when it arrived and
// its own, and no goroutine outlives the calls.
type group struct {
	mu      sync.Mutex
	waiting []*waiter
	leaders int
}

// waiter is one Enqueue call in the group.
type waiter struct {
	ctx context.Context
	row row
	res result
	// signal receives false when res is filled, or true when this waiter
	// is to lead; exactly once.
	signal chan bool
}

// enqueue inserts r as part of a group and returns its result.
func (g *group) enqueue(ctx context.Context, q *Queue, r row) result {
	w := &waiter{ctx: ctx, row: r, signal: make(chan bool, 1)}
	g.mu.Lock()
	if g.leaders < groupLeaders {
		g.leaders++
		g.mu.Unlock()
		g.lead(q, w)
		return w.res
	}
	g.waiting = append(g.waiting, w)
	g.mu.Unlock()
	var lead bool
	select {
	case lead = <-w.signal:
	case <-ctx.Done():
		if g.leave(w) {
			return result{err: fmt.Errorf("postgres: enqueue on %s: gave up waiting for a commit: %w", q.names.plain, ctx.Err())}
		}
		lead = <-w.signal // already taken: its insert is under way
	}
	if lead {
		g.lead(q, w)
	}
	return w.res
}

// leave removes w from the waiting list, reporting whether it was there.
func (g *group) leave(w *waiter) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, o := range g.waiting {
		if o == w {
			g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// lead inserts w's message and as many waiting ones as fit, then passes
// the lead on (or gives it up when nobody waits).
func (g *group) lead(q *Queue, w *waiter) {
	batch := []*waiter{w}
	size := len(w.row.payload)
	g.mu.Lock()
	n := 0
	for n < len(g.waiting) && len(batch) < groupRows && size+len(g.waiting[n].row.payload) <= groupBytes {
		batch = append(batch, g.waiting[n])
		size += len(g.waiting[n].row.payload)
		n++
	}
	g.waiting = append(g.waiting[:0:0], g.waiting[n:]...)
	g.mu.Unlock()

	q.flush(batch)
	for _, o := range batch[1:] {
		o.signal <- false
	}

	g.mu.Lock()
	if len(g.waiting) == 0 {
		g.leaders--
		g.mu.Unlock()
		return
	}
	next := g.waiting[0]
	g.waiting = g.waiting[1:]
	g.mu.Unlock()
	next.signal <- true
}

// flush inserts the batch's rows on the pool and fills each waiter's
// result. It runs under a context that ends when every waiter's has.
func (q *Queue) flush(batch []*waiter) {
	if len(batch) == 1 { // alone: its own context, one single-row INSERT
		batch[0].res = q.insertOne(batch[0].ctx, q.pool, batch[0].row, false)
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	defer cancel()
	left := atomic.Int64{}
	left.Store(int64(len(batch)))
	rows := make([]row, len(batch))
	for i, w := range batch {
		rows[i] = w.row
		stop := context.AfterFunc(w.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	res, err := q.insertRows(ctx, q.pool, rows)
	for i, w := range batch {
		if err != nil {
			w.res = result{err: err}
		} else {
			w.res = res[i]
		}
	}
}
