package feature

import (
	"maps"
	"slices"
	"time"
)

// state is a plain, lock-free copy of a registry's counts: what a snapshot
// holds and what reports are computed from. Minutes are Unix minutes and
// days are UTC days since the Unix epoch; 0 means never.
type state struct {
	Instance string
	Saved    time.Time
	Features map[string]*featState
	Drift    map[string]*driftState
}

type featState struct {
	Name, Owner, Description string
	Since                    time.Time
	Total                    int64
	First, Last              int64
	Days                     map[int64]*dayState
	Reasons                  []Reason
	// EpStart and EpLast are the first and the latest minute of the
	// feature's latest failing episode (see episodeGap); 0 = none.
	EpStart, EpLast int64
	Switch          *SwitchState // nil: never switched
}

type dayState struct {
	Uses, Fails         int64
	LatNs, LatN         int64               // summed latency (ns) of the uses that carried one, and how many
	FirstFail, LastFail int64               // Unix minutes; 0 = no failure
	Bits                [tenantWords]uint64 // tenants who used it
	FailBits            [tenantWords]uint64 // tenants for whom it failed
	Look                *lookState          // membership filters; only for the last lookSlots days
}

// lookState is a copy of one day's two membership filters.
type lookState struct {
	Used, Failed [bloomWords]uint64
}

type driftState struct {
	Name        string
	Uses        int64
	First, Last int64
}

func newState(instance string, saved time.Time) *state {
	return &state{Instance: instance, Saved: saved, Features: map[string]*featState{}, Drift: map[string]*driftState{}}
}

// capture copies the registry's live counts, restored-but-undeclared
// features and drift table into a state.
func (r *Registry) capture() *state {
	now := r.clock.Now()
	r.mu.Lock()
	r.advanceLocked(now)
	st := newState(r.instance, now)
	for _, f := range r.features {
		st.Features[f.name] = r.liveLocked(f)
	}
	cut := dayOf(r.curMinute) - daySlots + 1
	for name, p := range r.pending {
		st.Features[name] = p.trimmed(cut)
	}
	r.mu.Unlock()
	for _, name := range r.drift.Keys() {
		if e, ok := r.drift.Peek(name); ok {
			st.Drift[name] = &driftState{Name: name, Uses: e.uses.Load(), First: e.first.Load(), Last: e.last.Load()}
		}
	}
	return st
}

// restoreDriftLocked puts saved drift entries back in the table.
func (r *Registry) restoreDriftLocked(drift map[string]*driftState) {
	for name, d := range drift {
		e := &driftEntry{}
		e.uses.Store(d.Uses)
		e.first.Store(d.First)
		e.last.Store(d.Last)
		r.drift.Add(name, e)
	}
}

// trimmed returns a copy without the days before cut.
func (f *featState) trimmed(cut int64) *featState {
	c := *f
	c.Days = map[int64]*dayState{}
	for d, ds := range f.Days {
		if d >= cut {
			cp := *ds // merges add into the copy, never into the pending state
			c.Days[d] = &cp
		}
	}
	return &c
}

// merge adds o into s: counts are summed, bitmaps ORed, first and last seen
// widened. Catalog fields already in s win.
func (s *state) merge(o *state) {
	for name, of := range o.Features {
		f, ok := s.Features[name]
		if !ok {
			f = &featState{Name: of.Name, Owner: of.Owner, Description: of.Description, Since: of.Since, Days: map[int64]*dayState{}}
			s.Features[name] = f
		}
		f.Total += of.Total
		f.First = minSeen(f.First, of.First)
		f.Last = max(f.Last, of.Last)
		for d, ods := range of.Days {
			ds, ok := f.Days[d]
			if !ok {
				ds = &dayState{}
				f.Days[d] = ds
			}
			ds.add(ods)
		}
		f.Reasons = mergeReasons(f.Reasons, of.Reasons)
		f.EpStart, f.EpLast = mergeEpisodes(f.EpStart, f.EpLast, of.EpStart, of.EpLast)
		f.Switch = mergeSwitch(f.Switch, of.Switch)
	}
	for name, od := range o.Drift {
		d, ok := s.Drift[name]
		if !ok {
			d = &driftState{Name: name}
			s.Drift[name] = d
		}
		d.Uses += od.Uses
		d.First = minSeen(d.First, od.First)
		d.Last = max(d.Last, od.Last)
	}
}

// mergeSwitch keeps the later switch; the same switch seen by several
// instances has its counts summed.
func mergeSwitch(a, b *SwitchState) *SwitchState {
	switch {
	case b == nil:
		return a
	case a == nil || b.Since.After(a.Since):
		c := *b
		return &c
	case b.Since.Equal(a.Since):
		c := *a
		c.TrialOK += b.TrialOK
		c.TrialFailed += b.TrialFailed
		c.Refused += b.Refused
		return &c
	}
	return a
}

// add merges o into ds: counts summed, bitmaps and filters ORed.
func (ds *dayState) add(o *dayState) {
	ds.Uses += o.Uses
	ds.Fails += o.Fails
	ds.LatNs += o.LatNs
	ds.LatN += o.LatN
	ds.FirstFail = minSeen(ds.FirstFail, o.FirstFail)
	ds.LastFail = max(ds.LastFail, o.LastFail)
	for i := range ds.Bits {
		ds.Bits[i] |= o.Bits[i]
		ds.FailBits[i] |= o.FailBits[i]
	}
	if o.Look != nil {
		// A captured Look may be shared with the registry's copy for the
		// next capture: merge into a new one.
		l := &lookState{}
		if ds.Look != nil {
			*l = *ds.Look
		}
		for i := range l.Used {
			l.Used[i] |= o.Look.Used[i]
			l.Failed[i] |= o.Look.Failed[i]
		}
		ds.Look = l
	}
}

func minSeen(a, b int64) int64 {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// Stat is the live view of one declared feature in this process.
type Stat struct {
	Name         string
	Total        int64 // uses since the counts began (restored totals included)
	LastMinute   int64 // uses in the last complete minute
	LastHour     int64 // uses in the last 60 complete minutes
	Today        int64 // uses so far today (UTC)
	TenantsToday int64 // estimated distinct tenants today
	FailedToday  int64 // failed uses so far today (UTC)
	// FailingTenantsToday is the estimated distinct tenants for whom a use
	// failed today.
	FailingTenantsToday int64
	Reasons             []Reason  // every failure reason kept, most frequent first
	FirstSeen           time.Time // zero when never used
	LastSeen            time.Time // to the minute; zero when never used
}

// Stats returns the live counts of every declared feature, in declaration
// order. The daily figures, total, first and last seen and reasons are
// the fleet's — this instance's live counts merged with the other
// instances' states (WithStore, or the snapshots in WithDir) — while
// LastMinute and LastHour are this process's.
func (r *Registry) Stats() []Stat {
	others, _ := r.otherStates()
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advanceLocked(now)
	cur := r.curMinute
	today := dayOf(cur)
	out := make([]Stat, 0, len(r.features))
	for _, f := range r.features {
		st := r.liveLocked(f)
		if len(others) > 0 {
			m := &state{Features: map[string]*featState{f.name: st}, Drift: map[string]*driftState{}}
			for _, o := range others {
				if of := o.Features[f.name]; of != nil {
					m.merge(&state{Features: map[string]*featState{f.name: of}})
				}
			}
		}
		s := Stat{Name: f.name, Total: st.Total, FirstSeen: seenTime(st.First), LastSeen: seenTime(st.Last)}
		for slot := range minuteSlots {
			mi := r.slotMinute[slot]
			n, _ := counts(f.minutes[slot].count.Load())
			if mi == cur-1 {
				s.LastMinute = n
			}
			if mi >= cur-60 && mi < cur {
				s.LastHour += n
			}
		}
		if ds := st.Days[today]; ds != nil {
			s.Today, s.FailedToday = ds.Uses, ds.Fails
			s.TenantsToday, _, _ = estimateIfAny(&ds.Bits)
			s.FailingTenantsToday, _, _ = estimateIfAny(&ds.FailBits)
		}
		s.Reasons = st.Reasons
		out = append(out, s)
	}
	return out
}

func seenTime(m int64) time.Time {
	if m == 0 {
		return time.Time{}
	}
	return minuteTime(m)
}

// sortedNames returns the map's keys in order.
func sortedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
