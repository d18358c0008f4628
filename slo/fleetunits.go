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
//   - The leader decides each unit once from the journals of every replica
//     (a stopped one's included): good or bad at its completion when it
//     completed within its bound, bad at its deadline otherwise. It
//     decides a unit once its decision time is a lag of three evaluation
//     intervals old (30s by default: time for the others' journals to
//     arrive), counts it in its own counts and adds it to its decided
//     units, published with those counts. Every replica's decided units
//     together are the fleet's: a unit in them is never counted again (a
//     late one that completes afterwards only becomes done), so a new
//     leader goes on where the published decisions end; a decision the
//     old leader never published is made again by the new one, its count
//     lost with the old leader's unpublished counts.
//   - The same id accepted on several replicas (each replica re-accepting
//     a shared queue's units after a restart) is one unit, accepted at the
//     earliest time given. A unit first seen after its deadline (accepted
//     again after the whole fleet was down) is counted bad at once, unless
//     it was decided before.
//   - A replica keeps a unit in its journal until the fleet's decided
//     units say it is done; the leader forgets a done unit no journal
//     mentions a lag of three leases after its decision.
//
// All replicas must give the objective's Pending the same bound (the
// leader's counts). Fleet outcomes appear in the counts the lag later
// than in a single process. A unit counts under the release of the
// replica that completed it, or accepted it when it was late.

// unitsState is one replica's journal of one objective's units, as it
// publishes it.
type unitsState struct {
	Accepted  []unitAt `json:"accepted,omitempty"`
	Completed []unitAt `json:"completed,omitempty"`
	// Decided are the units this replica counted while it led: At is the
	// decision time, OK says the unit is done (completed or failed), not
	// only late.
	Decided []unitAt `json:"decided,omitempty"`
}

type unitAt struct {
	ID string `json:"id"`
	At int64  `json:"at"` // unix nanoseconds
	OK bool   `json:"ok,omitempty"`
	// R is the release of the Tracker the replica accepted or completed
	// the unit on; empty when it has none.
	R string `json:"r,omitempty"`
}

// maxUnitID bounds a unit id in a published journal.
const maxUnitID = 256

func (u *unitsState) validate(series string) error {
	for _, list := range [][]unitAt{u.Accepted, u.Completed, u.Decided} {
		for _, x := range list {
			if x.ID == "" || len(x.ID) > maxUnitID || x.At <= 0 || len(x.R) > maxUnitID {
				return fmt.Errorf("%w: series %q: bad unit %.40q at %d", ErrSnapshot, series, x.ID, x.At)
			}
		}
	}
	return nil
}

// journal is a replica's record of the units of one objective, in fleet
// mode.
type journal struct {
	p     *Pending      // counts the units the leader decides
	bound time.Duration // the Pending's
	keep  time.Duration // how long a done unit no journal mentions stays decided
	lag   time.Duration // how old a decision time must be before the leader decides

	mu        sync.Mutex
	accepted  map[string]unitAt   // id -> when accepted, under which release
	completed map[string]unitAt   // id -> when and how it completed
	decided   map[string]unitAt   // id -> decision time; OK: done
	views     map[string]*Tracker // the Pending's Tracker for each release counted; guarded by mu
}

func newJournal(p *Pending, f *fleetMode, saved *unitsState) *journal {
	j := &journal{p: p, bound: p.bound, keep: 3 * f.ttl, lag: f.ttl,
		accepted: map[string]unitAt{}, completed: map[string]unitAt{}, decided: map[string]unitAt{},
		views: map[string]*Tracker{}}
	if saved != nil {
		for _, a := range saved.Accepted {
			j.accept(a)
		}
		for _, c := range saved.Completed {
			j.complete(c)
		}
		for _, d := range saved.Decided {
			j.decided[d.ID] = d
		}
	}
	return j
}

func (j *journal) accept(a unitAt) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if old, ok := j.accepted[a.ID]; !ok || a.At < old.At {
		j.accepted[a.ID] = a
	}
}

func (j *journal) complete(c unitAt) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, done := j.completed[c.ID]; !done {
		j.completed[c.ID] = c
	}
}

// open counts the units accepted here and not completed here.
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

// fleetDecided is the union of every replica's decided units: a unit is
// done when any says so, decided at the earliest time given.
func fleetDecided(own map[string]unitAt, others []*unitsState) map[string]unitAt {
	out := make(map[string]unitAt, len(own))
	add := func(d unitAt) {
		if old, ok := out[d.ID]; ok {
			d.OK = d.OK || old.OK
			d.At = min(d.At, old.At)
		}
		out[d.ID] = d
	}
	for _, d := range own {
		add(d)
	}
	for _, o := range others {
		for _, d := range o.Decided {
			add(d)
		}
	}
	return out
}

// state copies the journal for publication, first dropping the units the
// fleet has decided and done, and the decided units no journal needs.
func (j *journal) state(now int64, others []*unitsState) *unitsState {
	j.mu.Lock()
	defer j.mu.Unlock()
	decided := fleetDecided(j.decided, others)
	for id := range j.accepted {
		if decided[id].OK {
			delete(j.accepted, id)
		}
	}
	for id := range j.completed {
		if decided[id].OK {
			delete(j.completed, id)
		}
	}
	mentioned := map[string]bool{}
	for _, o := range others {
		for _, list := range [][]unitAt{o.Accepted, o.Completed} {
			for _, x := range list {
				mentioned[x.ID] = true
			}
		}
	}
	for id, d := range j.decided {
		_, acc := j.accepted[id]
		_, comp := j.completed[id]
		if d.OK && !acc && !comp && !mentioned[id] && now-d.At > int64(j.keep) {
			delete(j.decided, id)
		}
	}
	st := &unitsState{}
	for _, a := range j.accepted {
		st.Accepted = append(st.Accepted, a)
	}
	for _, c := range j.completed {
		st.Completed = append(st.Completed, c)
	}
	for _, d := range j.decided {
		st.Decided = append(st.Decided, d)
	}
	return st
}

// decide counts, once for the fleet, every unit whose outcome is known
// and at least the lag old. Only the leader calls it.
func (j *journal) decide(now time.Time, others []*unitsState) {
	to := now.Add(-j.lag).UnixNano()
	type decision struct {
		at      int64
		good    bool
		release string
	}
	var counted []decision
	j.mu.Lock()
	decided := fleetDecided(j.decided, others)
	accepted := map[string]unitAt{}
	completed := map[string]unitAt{}
	addAcc := func(a unitAt) {
		if old, ok := accepted[a.ID]; !ok || a.At < old.At {
			accepted[a.ID] = a
		}
	}
	addComp := func(c unitAt) {
		if old, ok := completed[c.ID]; !ok || c.At < old.At {
			completed[c.ID] = c
		}
	}
	for _, a := range j.accepted {
		addAcc(a)
	}
	for _, c := range j.completed {
		addComp(c)
	}
	for _, o := range others {
		for _, a := range o.Accepted {
			addAcc(a)
		}
		for _, c := range o.Completed {
			addComp(c)
		}
	}
	bound := int64(j.bound)
	judge := func(id string) {
		d, isDecided := decided[id]
		acc, hasAcc := accepted[id]
		comp, hasComp := completed[id]
		switch {
		case isDecided && d.OK:
		case isDecided: // counted late; now it is done
			if hasComp {
				j.decided[id] = unitAt{ID: id, At: d.At, OK: true}
			}
		case hasComp && (!hasAcc || comp.At <= acc.At+bound):
			if comp.At <= to {
				counted = append(counted, decision{comp.At, comp.OK, comp.R})
				j.decided[id] = unitAt{ID: id, At: comp.At, OK: true}
			}
		case acc.At+bound <= to:
			release := acc.R
			if hasComp {
				release = comp.R
			}
			counted = append(counted, decision{acc.At + bound, false, release})
			j.decided[id] = unitAt{ID: id, At: acc.At + bound, OK: hasComp}
		}
	}
	for id := range accepted {
		judge(id)
	}
	for id := range completed {
		if _, ok := accepted[id]; !ok {
			judge(id)
		}
	}
	views := make([]*Tracker, len(counted))
	for i, d := range counted {
		views[i] = j.viewLocked(d.release)
	}
	j.mu.Unlock()
	for i, d := range counted {
		j.p.countOn(views[i], time.Unix(0, d.at), now, d.good)
	}
}

// viewLocked returns the Pending's Tracker recording under release (its
// own for an empty or unusable id). Requires mu held.
func (j *journal) viewLocked(release string) *Tracker {
	t := j.p.t
	if release == "" || release == t.rel.id {
		return t
	}
	if v, ok := j.views[release]; ok {
		return v
	}
	v, err := t.ForRelease(release)
	if err != nil {
		v = t
	}
	j.views[release] = v
	return v
}
