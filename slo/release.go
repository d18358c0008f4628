package slo

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/release"
)

// MaxReleases is how many releases each objective counts apart. When a
// release beyond it records its first event, the release whose last event
// is oldest is dropped (never the process's own, WithRelease): its events
// stay in the objective, only its separate count goes. A Tracker of a
// dropped release that records again takes a slot back.
const MaxReleases = 8

// maxReleaseID bounds a release id, in bytes.
const maxReleaseID = 64

// maxReleaseEvents bounds one release's restored events, so sums cannot
// overflow: 2^52 is far beyond any real traffic.
const maxReleaseEvents = 1 << 52

// ErrNoRelease is returned by Verdict for a release the objective has not
// counted (or has dropped).
var ErrNoRelease = errors.New("slo: no such release")

// relCounts is one release's events on one series. Recorders add with
// atomics; the rest is guarded by releases.mu. The process's own release
// is not counted by recorders (its Trackers cost nothing extra): its
// events are the series' less every other release's (releases.countsLocked).
type relCounts struct {
	// Read by every event, written about once a second: apart from the
	// counters, so recorders do not invalidate them for each other.
	lastSec  atomic.Int64 // unix seconds of the last event; 0 before any
	dropped  atomic.Bool
	id       string
	first    time.Time // when this process began counting it (or the restored start)
	restored counts    // counted before a restart (snapshot), not in the metric
	seen     counts    // the own release: its live counts when last read
	// base holds the other releases' counts when this one began, so that
	// a comparison counts both over the same time.
	base       map[string]counts
	_          [64]byte
	total, bad atomic.Int64 // counted by this process
	_          [48]byte
}

// live returns what recorders counted for the release in this process.
func (c *relCounts) live() counts {
	b := c.bad.Load() // bad before total: total >= bad in what we read
	return counts{c.total.Load(), b}
}

// releases are the per-release counts of one series; at most MaxReleases.
type releases struct {
	mu          sync.Mutex
	list        []*relCounts // oldest first
	own         string       // the process release, never dropped
	dropped     int          // releases dropped so far
	droppedLive counts       // what dropped releases had counted live
	s           *series      // the series, whose events the own release's are the rest of
	clock       clock.Clock
}

// countsLocked returns every event of c: restored plus counted live, or
// for the own release restored plus the series' events less every other
// release's. Requires mu held.
func (r *releases) countsLocked(c *relCounts) counts {
	if c.id != r.own {
		out := c.live()
		out.add(c.restored)
		return out
	}
	var live counts
	if r.s != nil {
		now := r.clock.Now()
		live = r.s.cumulative(now.UnixNano())
		for _, o := range r.list {
			if o != c {
				live = minus(live, o.live())
			}
		}
		live = minus(live, r.droppedLive)
		if live.Total > c.seen.Total {
			c.seen = live
			c.lastSec.Store(now.Unix())
		}
	}
	live.add(c.restored)
	return live
}

// get returns id's counts, creating them at now (dropping the release
// whose last event is oldest when full).
func (r *releases) get(id string, now time.Time) *relCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.list {
		if c.id == id {
			return c
		}
	}
	if len(r.list) >= MaxReleases {
		victim := -1
		for i, c := range r.list {
			if c.id != r.own && (victim < 0 || c.lastSec.Load() < r.list[victim].lastSec.Load()) {
				victim = i
			}
		}
		r.list[victim].dropped.Store(true)
		r.droppedLive.add(r.list[victim].live())
		r.list = slices.Delete(r.list, victim, victim+1)
		r.dropped++
	}
	c := &relCounts{id: id, first: now, base: make(map[string]counts, len(r.list))}
	for _, o := range r.list {
		c.base[o.id] = r.countsLocked(o)
	}
	r.list = append(r.list, c)
	return c
}

// all returns the counted releases, oldest first, and how many were
// dropped.
func (r *releases) all() ([]*relCounts, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list), r.dropped
}

// find returns id's counts, nil if not counted.
func (r *releases) find(id string) *relCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.list {
		if c.id == id {
			return c
		}
	}
	return nil
}

// relView is the release a Tracker records under: its counts on each of
// the Tracker's series.
type relView struct {
	id string
	c  []atomic.Pointer[relCounts] // parallel to Tracker.ind
}

// newRelView makes the counts of release id on every series of t. The
// view of the process's own release holds none: recording under it
// counts nothing apart.
func newRelView(t *Tracker, id string, now time.Time) *relView {
	v := &relView{id: id}
	for _, in := range t.ind {
		in.rel.mu.Lock()
		if in.rel.s == nil {
			in.rel.s, in.rel.clock = in.s, t.clock
		}
		in.rel.mu.Unlock()
		in.rel.get(id, now)
	}
	if len(t.ind) > 0 && id == t.ind[0].rel.own {
		return v
	}
	v.c = make([]atomic.Pointer[relCounts], len(t.ind))
	for i, in := range t.ind {
		v.c[i].Store(in.rel.get(id, now))
	}
	return v
}

// countRelease adds events to the release of t on series i: nothing for
// the process's own release; for another, an atomic add or two and two
// loads (a store once a second).
func (t *Tracker) countRelease(i int, now, total, bad int64) {
	if t.rel.c != nil { // small enough to inline: the own release's Trackers pay one load
		t.countApart(i, now, total, bad)
	}
}

// countApart is countRelease for a release other than the process's own.
func (t *Tracker) countApart(i int, now, total, bad int64) {
	p := &t.rel.c[i]
	c := p.Load()
	if c.dropped.Load() {
		c = t.ind[i].rel.get(t.rel.id, time.Unix(0, now))
		p.Store(c)
	}
	c.total.Add(total)
	if bad != 0 {
		c.bad.Add(bad)
	}
	if sec := now / int64(time.Second); c.lastSec.Load() < sec {
		c.lastSec.Store(sec)
	}
}

// Release returns the release id the Tracker records under: WithRelease's
// for the Tracker of Monitor.Add, the given one for ForRelease's.
func (t *Tracker) Release() string { return t.rel.id }

// ForRelease returns a Tracker of the same objective that records under
// release id: its events count in the objective as every other event (its
// budget, alerts and windows), and also apart, per release, for /slo,
// Monitor.Verdict and the "release" attribute of the events metric. The
// Tracker of Monitor.Add records under the process's release
// (WithRelease); ForRelease is for a second release served by the same
// process, such as a candidate taking part of the traffic. Keep the
// Tracker it returns rather than calling it per event (it allocates).
//
// id is 1 to 64 bytes of printable UTF-8 (a version, a commit); anything
// else is an error naming it. Each objective counts at most MaxReleases
// releases apart.
func (t *Tracker) ForRelease(id string) (*Tracker, error) {
	if err := checkReleaseID(id); err != nil {
		return nil, err
	}
	v := *t
	v.rel = newRelView(&v, id, t.clock.Now())
	return &v, nil
}

func checkReleaseID(id string) error {
	bad := id == "" || len(id) > maxReleaseID || !utf8.ValidString(id)
	for _, r := range id {
		if !unicode.IsPrint(r) {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("slo: release id %q: want 1 to %d bytes of printable UTF-8", id, maxReleaseID)
	}
	return nil
}

// ReleaseCounts are one release's events on one objective.
type ReleaseCounts struct {
	Release string    `json:"release"`
	Own     bool      `json:"own"`   // the process's release (WithRelease)
	First   time.Time `json:"first"` // when counting began
	// Last is the time of the last event (to the second); zero before any.
	// For the process's own release, whose Trackers note no time, it is
	// when its events were first read as they are now (by /slo, Verdict,
	// Releases, a snapshot or a metrics collection).
	Last       time.Time `json:"last,omitzero"`
	Good       int64     `json:"good"`
	Bad        int64     `json:"bad"`
	ErrorRatio float64   `json:"error_ratio"` // Bad/(Good+Bad); zero without events
}

// releaseState is one release's counts on one series, as a snapshot saves
// them and as replicas share them: every event (restored ones included),
// and the other releases' counts when it began.
type releaseState struct {
	ID    string              `json:"id"`
	First int64               `json:"first"`          // unix nanoseconds counting began
	Last  int64               `json:"last,omitempty"` // unix seconds of the last event
	Total int64               `json:"total"`
	Bad   int64               `json:"bad"`
	Base  map[string][2]int64 `json:"base,omitempty"` // the others' [total, bad] when it began
}

// states copies every release's counts, oldest first.
func (r *releases) states() []releaseState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]releaseState, 0, len(r.list))
	for _, c := range r.list {
		n := r.countsLocked(c)
		st := releaseState{ID: c.id, First: c.first.UnixNano(), Last: c.lastSec.Load(), Total: n.Total, Bad: n.Bad}
		for id, b := range c.base {
			if st.Base == nil {
				st.Base = map[string][2]int64{}
			}
			st.Base[id] = [2]int64{b.Total, b.Bad}
		}
		out = append(out, st)
	}
	return out
}

// restore adds saved counts (a snapshot's) to the releases: a release
// already counted gets them as restored events and the older start; others
// are created, within MaxReleases. Call it before the series records.
func (r *releases) restore(saved []releaseState, now time.Time) {
	valid := func(total, bad int64) bool {
		return total >= 0 && bad >= 0 && bad <= total && total <= maxReleaseEvents
	}
	for _, st := range saved {
		if checkReleaseID(st.ID) != nil && st.ID != "" || !valid(st.Total, st.Bad) {
			continue
		}
		c := r.get(st.ID, now)
		r.mu.Lock()
		if !valid(c.restored.Total+st.Total, c.restored.Bad+st.Bad) {
			r.mu.Unlock()
			continue
		}
		c.restored.add(counts{st.Total, st.Bad})
		if first := time.Unix(0, st.First); st.First > 0 && first.Before(c.first) {
			c.first = first
			c.base = map[string]counts{}
			for id, b := range st.Base {
				if valid(b[0], b[1]) {
					c.base[id] = counts{b[0], b[1]}
				}
			}
		}
		if st.Last > c.lastSec.Load() {
			c.lastSec.Store(st.Last)
		}
		r.mu.Unlock()
	}
}

// mergeReleaseStates adds up the per-release counts of several replicas:
// totals and bases summed, the earliest start and the latest event.
func mergeReleaseStates(replicas ...[]releaseState) []releaseState {
	var out []releaseState
	for _, states := range replicas {
		for _, st := range states {
			i := slices.IndexFunc(out, func(o releaseState) bool { return o.ID == st.ID })
			if i < 0 {
				out = append(out, releaseState{ID: st.ID, First: st.First})
				i = len(out) - 1
			}
			o := &out[i]
			o.Total += st.Total
			o.Bad += st.Bad
			o.First = min(o.First, st.First)
			o.Last = max(o.Last, st.Last)
			for id, b := range st.Base {
				if o.Base == nil {
					o.Base = map[string][2]int64{}
				}
				sum := o.Base[id]
				o.Base[id] = [2]int64{sum[0] + b[0], sum[1] + b[1]}
			}
		}
	}
	return out
}

// releaseStates returns the per-release counts Releases and Verdict read
// for in: this process's, plus with a fleet store every other replica's
// latest published ones.
func (m *Monitor) releaseStates(in *indicator) []releaseState {
	own := in.rel.states()
	if v := in.fleet.Load(); v != nil && len(v.releases) > 0 {
		return mergeReleaseStates(append([][]releaseState{own}, v.releases...)...)
	}
	return own
}

// releasesOf returns the per-release counts the snapshot holds for the
// series name, nil if none.
func (snap *snapshot) releasesOf(name string) []releaseState {
	for _, ss := range snap.Series {
		if ss.Name == name {
			return ss.Releases
		}
	}
	return nil
}

// Releases returns the releases objective (a series name) counts apart,
// oldest first, and how many it has dropped (MaxReleases).
func (m *Monitor) Releases(objective string) ([]ReleaseCounts, int, error) {
	in := m.indicator(objective)
	if in == nil {
		return nil, 0, fmt.Errorf("%w: %q", ErrNoObjective, objective)
	}
	_, dropped := in.rel.all()
	return in.releaseCounts(m.releaseStates(in)), dropped, nil
}

// releaseCounts turns states into what Releases returns.
func (in *indicator) releaseCounts(states []releaseState) []ReleaseCounts {
	out := make([]ReleaseCounts, 0, len(states))
	for _, st := range states {
		n := counts{st.Total, st.Bad}
		rc := ReleaseCounts{Release: st.ID, Own: st.ID == in.rel.own, First: time.Unix(0, st.First).UTC(),
			Good: n.Total - n.Bad, Bad: n.Bad}
		if st.Last > 0 {
			rc.Last = time.Unix(st.Last, 0).UTC()
		}
		rc.ErrorRatio, _ = burnRate(n, in.target)
		out = append(out, rc)
	}
	return out
}

// Verdict decides whether release candidate may replace baseline on
// objective (a series name), with release.Compare and the Monitor's
// policy (WithVerdictPolicy): go, no-go or not enough data yet. Both
// releases' events are counted over the same time: from when the later of
// the two began to be counted (in this process: its first ForRelease, or
// Add for the process's release) until now. An empty baseline means the
// process's release (WithRelease). A deploy pipeline may ask as often as
// it likes; see release.Compare for why that keeps the error rates.
//
// Errors: ErrNoObjective, ErrNoRelease (a release not counted, or
// dropped), and an error when candidate and baseline are the same.
func (m *Monitor) Verdict(objective, candidate, baseline string) (release.Verdict, error) {
	in := m.indicator(objective)
	if in == nil {
		return release.Verdict{}, fmt.Errorf("%w: %q", ErrNoObjective, objective)
	}
	return m.verdictOf(in, m.releaseStates(in), candidate, baseline)
}

// verdictOf is Verdict on the given per-release counts of in.
func (m *Monitor) verdictOf(in *indicator, states []releaseState, candidate, baseline string) (release.Verdict, error) {
	if baseline == "" {
		baseline = in.rel.own
	}
	if candidate == baseline {
		return release.Verdict{}, fmt.Errorf("slo: Verdict(%q): candidate and baseline are the same release %q", in.name, candidate)
	}
	find := func(id string) *releaseState {
		for i := range states {
			if states[i].ID == id {
				return &states[i]
			}
		}
		return nil
	}
	cand, base := find(candidate), find(baseline)
	for _, x := range []struct {
		name, id string
		st       *releaseState
	}{{"candidate", candidate, cand}, {"baseline", baseline, base}} {
		if x.st == nil {
			return release.Verdict{}, fmt.Errorf("%w: objective %q has no %s release %q", ErrNoRelease, in.name, x.name, x.id)
		}
	}
	bc, cc := sameSpan(*base, *cand)
	return release.Compare(toRelease(bc), toRelease(cc), m.cfg.verdict)
}

// sameSpan returns a's and b's counts since the later of the two began.
func sameSpan(a, b releaseState) (counts, counts) {
	ac, bc := counts{a.Total, a.Bad}, counts{b.Total, b.Bad}
	if b.First < a.First {
		s := a.Base[b.ID]
		bc = minus(bc, counts{s[0], s[1]})
	} else {
		s := b.Base[a.ID]
		ac = minus(ac, counts{s[0], s[1]})
	}
	return ac, bc
}

func minus(a, b counts) counts {
	return counts{max(a.Total-b.Total, 0), max(a.Bad-b.Bad, 0)}
}

func toRelease(c counts) release.Counts {
	return release.Counts{Good: uint64(c.Total - c.Bad), Bad: uint64(c.Bad)}
}

// WithVerdictPolicy sets the policy Verdict compares releases with.
// Default: release.Policy{} (a 3x regression, 5 % false go and no-go,
// release.DefaultMinEvents events per release). New rejects a policy
// release.Compare cannot use.
func WithVerdictPolicy(p release.Policy) Option {
	return optionFunc(func(c *config) { c.verdict = p })
}

// checkVerdictPolicy returns the error release.Compare gives for p.
func checkVerdictPolicy(p release.Policy) error {
	if _, err := release.Compare(release.Counts{}, release.Counts{}, p); err != nil {
		return fmt.Errorf("slo: WithVerdictPolicy: %w", err)
	}
	return nil
}

// observeEvents reports in's events to the events metric per release:
// what this process counted (restored events are not counted again), with
// a "release" attribute unless the release id is empty. A dropped
// release's series ends.
func (in *indicator) observeEvents(report func(release string, good, bad int64)) {
	r := &in.rel
	type obs struct {
		id string
		n  counts
	}
	r.mu.Lock()
	out := make([]obs, 0, len(r.list))
	for _, c := range r.list {
		n := r.countsLocked(c)
		out = append(out, obs{c.id, minus(n, c.restored)})
	}
	r.mu.Unlock()
	for _, o := range out {
		report(o.id, o.n.Total-o.n.Bad, o.n.Bad)
	}
}

// releaseView lists in's releases for /slo, each but the process's own
// with its verdict against it (when the own release is counted).
func (m *Monitor) releaseView(in *indicator) ([]jsonRelease, int) {
	states := m.releaseStates(in)
	_, dropped := in.rel.all()
	out := []jsonRelease{}
	for _, rc := range in.releaseCounts(states) {
		jr := jsonRelease{ReleaseCounts: rc}
		if !rc.Own {
			if v, err := m.verdictOf(in, states, rc.Release, ""); err == nil {
				jr.Verdict = &v
			}
		}
		out = append(out, jr)
	}
	return out, dropped
}
