package slo

import (
	"fmt"
	"sync"
	"time"
)

// With a store (WithStore), Pending counts every unit once for the whole
// fleet, whichever replicas accept and complete it:
//
//   - Accept and Complete only write this replica's journal: the units it
//     accepted (id, acceptance time) and those it completed (id, time,
//     outcome). The journal travels with the replica's published counts.
//   - The leader decides each unit from the journals of every replica (a
//     stopped one's included): good or bad when it completed within its
//     bound, bad at its deadline otherwise. It decides the units whose
//     decision time lies between the last decision time any replica
//     published and now minus a lag of three evaluation intervals (30s by
//     default: time for the others' journals to arrive), and counts them
//     in its own counts, which it publishes together with that time. A new
//     leader therefore goes on where the last published decision left off:
//     no unit is counted twice, and one the old leader decided but never
//     published is decided again by the new one, its count lost with the
//     old leader's unpublished counts.
//   - The same id accepted on several replicas (each replica re-accepting
//     a shared queue's units after a restart) is one unit, accepted at the
//     earliest time given. A replica drops an accepted unit from its journal
//     once some replica's journal completes it, and a completion three
//     lease periods after it happened.
//
// All replicas must give the objective's Pending the same bound (the
// leader's counts). Fleet outcomes appear in the counts the lag later
// than in a single process.

// unitsState is one replica's journal of one objective's units, as it
// publishes it.
type unitsState struct {
	Accepted  []unitAt `json:"accepted,omitempty"`
	Completed []unitAt `json:"completed,omitempty"`
	// DecidedTo is the unix nanosecond time up to which the leader (this
	// replica, when it led) counted the units.
	DecidedTo int64 `json:"decided_to,omitempty"`
}

type unitAt struct {
	ID string `json:"id"`
	At int64  `json:"at"` // unix nanoseconds
	OK bool   `json:"ok,omitempty"`
}

// maxUnitID bounds a unit id in a published journal.
const maxUnitID = 256

func (u *unitsState) validate(series string) error {
	for _, list := range [][]unitAt{u.Accepted, u.Completed} {
		for _, x := range list {
			if x.ID == "" || len(x.ID) > maxUnitID || x.At <= 0 {
				return fmt.Errorf("%w: series %q: bad unit %.40q at %d", ErrSnapshot, series, x.ID, x.At)
			}
		}
	}
	if u.DecidedTo < 0 {
		return fmt.Errorf("%w: series %q: decided_to %d is negative", ErrSnapshot, series, u.DecidedTo)
	}
	return nil
}

// journal is a replica's record of the units of one objective, in fleet
// mode.
type journal struct {
	p         *Pending      // counts the units the leader decides
	bound     time.Duration // the Pending's
	keep      time.Duration // how long a completion stays in the journal
	lag       time.Duration // how far behind now the leader decides
	mu        sync.Mutex
	accepted  map[string]int64  // id -> unix nanos accepted
	completed map[string]unitAt // id -> when and how it completed
	decidedTo int64             // see unitsState.DecidedTo
}

func newJournal(p *Pending, f *fleetMode, saved *unitsState) *journal {
	j := &journal{p: p, bound: p.bound, keep: 3 * f.ttl, lag: f.ttl,
		accepted: map[string]int64{}, completed: map[string]unitAt{}}
	if saved != nil {
		for _, a := range saved.Accepted {
			j.accept(a.ID, a.At)
		}
		for _, c := range saved.Completed {
			j.complete(c.ID, c.At, c.OK)
		}
		j.decidedTo = saved.DecidedTo
	}
	return j
}

func (j *journal) accept(id string, at int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if old, ok := j.accepted[id]; !ok || at < old {
		j.accepted[id] = at
	}
}

func (j *journal) complete(id string, at int64, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, done := j.completed[id]; !done {
		j.completed[id] = unitAt{ID: id, At: at, OK: ok}
	}
}

// open counts the units accepted here and not known to be completed.
func (j *journal) open() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for id := range j.accepted {
		if _, done := j.completed[id]; !done {
			n++
		}
	}
	return n
}

// state copies the journal for publication, first dropping what is no
// longer needed: accepted units some replica completed, completions older
// than keep.
func (j *journal) state(now int64, others []*unitsState) *unitsState {
	j.mu.Lock()
	defer j.mu.Unlock()
	for id, c := range j.completed {
		if now-c.At > int64(j.keep) {
			delete(j.completed, id)
		}
	}
	for id := range j.accepted {
		if _, done := j.completed[id]; done {
			delete(j.accepted, id)
		}
	}
	for _, o := range others {
		for _, c := range o.Completed {
			delete(j.accepted, c.ID)
		}
	}
	st := &unitsState{DecidedTo: j.decidedTo}
	for id, at := range j.accepted {
		st.Accepted = append(st.Accepted, unitAt{ID: id, At: at})
	}
	for _, c := range j.completed {
		st.Completed = append(st.Completed, c)
	}
	return st
}

// decide counts, once for the fleet, the units whose outcome was decided
// after the last published decision and by now minus the lag. Only the
// leader calls it.
func (j *journal) decide(now time.Time, others []*unitsState) {
	j.mu.Lock()
	from := j.decidedTo
	for _, o := range others {
		from = max(from, o.DecidedTo)
	}
	to := now.Add(-j.lag).UnixNano()
	if to <= from {
		j.mu.Unlock()
		return
	}
	accepted := map[string]int64{}
	completed := map[string]unitAt{}
	add := func(acc []unitAt, comp []unitAt) {
		for _, a := range acc {
			if old, ok := accepted[a.ID]; !ok || a.At < old {
				accepted[a.ID] = a.At
			}
		}
		for _, c := range comp {
			if old, ok := completed[c.ID]; !ok || c.At < old.At {
				completed[c.ID] = c
			}
		}
	}
	own := &unitsState{}
	for id, at := range j.accepted {
		own.Accepted = append(own.Accepted, unitAt{ID: id, At: at})
	}
	for _, c := range j.completed {
		own.Completed = append(own.Completed, c)
	}
	add(own.Accepted, own.Completed)
	for _, o := range others {
		add(o.Accepted, o.Completed)
	}
	j.decidedTo = to
	j.mu.Unlock()
	bound := int64(j.bound)
	decideOne := func(at int64, good bool) {
		if at > from && at <= to {
			j.p.count(time.Unix(0, at), now, good)
		}
	}
	for id, c := range completed {
		acc, known := accepted[id]
		if !known || c.At <= acc+bound {
			decideOne(c.At, c.OK)
		} else {
			decideOne(acc+bound, false)
		}
	}
	for id, acc := range accepted {
		if _, done := completed[id]; !done {
			decideOne(acc+bound, false)
		}
	}
}
