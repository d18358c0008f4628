package slo

import (
	"container/heap"
	"fmt"
	"sync"
	"time"
)

// Pending counts units of work (orders, jobs, messages) that the service
// accepts now and completes later, perhaps after queueing and retries, the
// SLI most queue-backed services want: a unit is good when it completes
// successfully within a bound from its acceptance, and bad when it fails
// for good or is still not done as its bound passes. A late unit counts
// at the moment its bound passes, not when it finally completes, so an
// outage longer than the bound burns budget while it lasts. Each unit
// counts once; attempts, retries and refusals are not events.
//
// The pattern for a queue-backed service:
//
//	p, _ := tracker.Pending(5 * time.Minute)
//	p.Accept(id, time.Now())       // when the request is accepted (queued or not)
//	p.Complete(id, true)           // when the unit reached its destination
//	p.Complete(id, false)          // when it was dead-lettered or dropped
//	tracker.Record(false)          // a request refused for capacity (never accepted)
//
// After a restart, Accept every unit still in the queue again with its
// original acceptance time (the queue's enqueue time): a unit whose bound
// passed after the restored snapshot was saved counts as late once; one
// whose bound passed before it is already in the snapshot and is not
// counted again. A unit completed but still in the queue at a crash (its
// acknowledgement lost) is accepted again and counts a second time when it
// completes again; completing after the acknowledgement instead loses the
// unit when the crash falls between the two.
// Late units stay in memory until Complete. Pending is safe for concurrent
// use.
//
// With a store (WithStore) a unit may be accepted on one replica and
// completed on another, and accepted again by several (each re-accepting a
// shared queue after a restart): it still counts once for the fleet. Accept
// and Complete then only record it in this replica's journal, published
// with its counts; the leader decides each unit from every replica's
// journal, three evaluation intervals behind now (so outcomes reach the
// fleet's counts that much later), once: the units decided are published
// with the leader's counts, so a new leader never counts them again. Every replica must give the objective the
// same bound; an objective has one Pending.
type Pending struct {
	t     *Tracker
	bound time.Duration
	saved time.Time // when the restored snapshot was saved; zero without one
	j     *journal  // with a store: the fleet counts the units (fleetunits.go)

	mu    sync.Mutex // guards units, queue
	units map[string]*unit
	queue unitQueue // units not yet late, by deadline
}

type unit struct {
	id       string
	deadline time.Time
	late     bool // counted bad as its bound passed; waiting for Complete
	index    int  // in queue, -1 when not queued
}

// Pending returns the tracker of units that must complete within bound of
// their acceptance. Its late units are counted by every evaluation (and
// every snapshot save), at their deadline. Only an availability objective
// tracks units.
func (t *Tracker) Pending(bound time.Duration) (*Pending, error) {
	if bound <= 0 {
		return nil, fmt.Errorf("slo: objective %q: Pending bound %v must be positive", t.obj.Name, bound)
	}
	if len(t.max) > 0 {
		return nil, fmt.Errorf("slo: objective %q: Pending needs an availability objective, not a latency one", t.obj.Name)
	}
	p := &Pending{t: t, bound: bound, units: map[string]*unit{}}
	m := t.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.restored != nil {
		p.saved = m.restored.Saved
	}
	if m.fleet != nil {
		in := t.ind[0]
		if in.units.Load() != nil {
			return nil, fmt.Errorf("slo: objective %q: a second Pending: with a store (WithStore) an objective has one", t.obj.Name)
		}
		p.j = newJournal(p, m.fleet, m.restored.units(in.name))
		in.units.Store(p.j)
	}
	m.pending = append(m.pending, p)
	return p, nil
}

// Accept starts the clock for unit id, accepted at at (use the original
// acceptance time when accepting again after a restart; a time in the
// future counts as now). Accepting a unit already pending does nothing.
func (p *Pending) Accept(id string, at time.Time) {
	now := p.t.clock.Now()
	at = minTime(at, now)
	if p.j != nil {
		p.j.accept(unitAt{ID: id, At: at.UnixNano(), R: p.t.rel.id})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.units[id]; ok {
		return
	}
	u := &unit{id: id, deadline: at.Add(p.bound), index: -1}
	p.units[id] = u
	if u.deadline.After(now) {
		heap.Push(&p.queue, u)
		return
	}
	u.late = true
	if u.deadline.After(p.saved) {
		p.count(u.deadline, now, false)
	}
}

// Complete counts unit id: good when ok and within its bound, bad
// otherwise. A unit already counted late is not counted again. A unit that
// was never accepted counts now, as ok says. Call it once per unit.
func (p *Pending) Complete(id string, ok bool) {
	now := p.t.clock.Now()
	if p.j != nil {
		p.j.complete(unitAt{ID: id, At: now.UnixNano(), OK: ok, R: p.t.rel.id})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	u, known := p.units[id]
	if !known {
		p.count(now, now, ok)
		return
	}
	delete(p.units, id)
	if u.index >= 0 {
		heap.Remove(&p.queue, u.index)
	}
	switch {
	case u.late:
	case now.After(u.deadline):
		p.count(u.deadline, now, false)
	default:
		p.count(now, now, ok)
	}
}

// Len returns how many units are accepted and not completed, late ones
// included.
func (p *Pending) Len() int {
	if p.j != nil {
		return p.j.open()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.units)
}

// expire counts as bad, at their deadline, the units whose bound passed by
// now.
func (p *Pending) expire(now time.Time) {
	if p.j != nil {
		return // the fleet's leader decides (fleetunits.go)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) > 0 && !p.queue[0].deadline.After(now) {
		u := heap.Pop(&p.queue).(*unit)
		u.late = true
		p.count(u.deadline, now, false)
	}
}

// count adds one event at time at. Requires mu held.
func (p *Pending) count(at, now time.Time, good bool) { p.countOn(p.t, at, now, good) }

// countOn adds one event at time at through t (the Pending's Tracker or
// its view of another release).
func (p *Pending) countOn(t *Tracker, at, now time.Time, good bool) {
	var bad int64
	if !good {
		bad = 1
	}
	t.ind[0].s.addAt(at.UnixNano(), now.UnixNano(), 1, bad)
	t.countRelease(0, now.UnixNano(), 1, bad)
}

func minTime(a, b time.Time) time.Time {
	if a.After(b) {
		return b
	}
	return a
}

// unitQueue is a min-heap of units by deadline (container/heap).
type unitQueue []*unit

func (q unitQueue) Len() int           { return len(q) }
func (q unitQueue) Less(i, j int) bool { return q[i].deadline.Before(q[j].deadline) }
func (q unitQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *unitQueue) Push(x any) {
	u := x.(*unit)
	u.index = len(*q)
	*q = append(*q, u)
}
func (q *unitQueue) Pop() any {
	old := *q
	u := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	u.index = -1
	return u
}

// pendings returns every Pending of the Monitor.
func (m *Monitor) pendings() []*Pending {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Pending(nil), m.pending...)
}
