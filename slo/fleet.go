package slo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/fleet"
)

// What a Monitor keeps in a fleet.Store (WithStore).
const (
	// FleetStateKind is the kind of each replica's published counts.
	FleetStateKind = "slo"
	// FleetIncidentKind is the kind of the fleet's incident log.
	FleetIncidentKind = "slo.incident"
	// FleetLease is the lease the replica that evaluates alerts holds.
	FleetLease = "slo.alerts"
)

// storeTimeout bounds one round of store calls made by an evaluation, an
// operator action or Incidents, all calls of the round together.
const storeTimeout = 5 * time.Second

// WithStore makes the Monitor one replica of a fleet that shares s:
//
//   - Counts: every evaluation (and Shutdown) publishes this replica's
//     event history (kind FleetStateKind, under its WithInstance name) and
//     reads the others'. Status, Handler and the alerts then judge the
//     fleet's events: this replica's live counts plus every other
//     replica's latest published history, each replica counted once, and
//     Status.Replicas shows each one's share. Another replica's latest
//     events reach this one within one evaluation interval of theirs. A
//     replica that stopped publishing (stopped, killed, renamed) still
//     counts for the time its history covers; one silent for longer than
//     the lease below is marked Stale. The OpenTelemetry counters stay
//     per replica (Prometheus sums them).
//   - Alerts: one replica at a time, the holder of the lease FleetLease,
//     evaluates alerts, notifies and writes incidents; the others show the
//     same figures and the fleet's open incident. The lease lasts three
//     evaluation intervals (30s when evaluation is manual) and is renewed
//     every evaluation; Shutdown gives it up. When the leader dies another
//     replica takes over within the lease plus one evaluation interval
//     (40s by default), learns the open episode from the store and sends
//     its alerts again only as Repeats, never as a new page. Notifications
//     carry no "instance" label, so an alert keeps its identity across a
//     hand-over; Leader says whether this replica is the one.
//   - Incidents: the leader writes them to the store's log (kind
//     FleetIncidentKind), one incident per episode fleet-wide, with ids
//     "<objective>/<start>@<leader>" and every record naming the replica
//     that wrote it; Incident.Replicas names the replicas whose own counts
//     burned above the leading tier in its long window. Incidents, Ack,
//     Note and the handlers read and write that log from any replica.
//     WithIncidentLog cannot be combined with a store.
//
// The store calls of one evaluation are bounded by 5 seconds together; a
// failed call is logged and the replica goes on with what it last read (a leader
// that cannot renew its lease steps down one evaluation interval before
// it expires). Publishing costs one JSON state of about 20 bytes per
// non-empty bucket (a day of 10-second buckets: 190 KB per
// objective), and reading, a decode per other replica whose state changed.
//
// Without WithSnapshotFile a replica restores its own history from its
// last published state, so a restart under the same name keeps it. The
// instance name (WithInstance, the host name by default) must be non-empty
// and unique in the fleet: two replicas under one name overwrite each
// other's counts.
func WithStore(s fleet.Store) Option { return optionFunc(func(c *config) { c.store = s }) }

// Share is one replica's part of a fleet objective's events (WithStore).
type Share struct {
	Instance string    `json:"instance"`
	Self     bool      `json:"self,omitempty"`  // the replica answering: its live counts
	At       time.Time `json:"at"`              // when its counts were published; now for Self
	Stale    bool      `json:"stale,omitempty"` // silent for longer than the lease: its history still counts
	Budget   Budget    `json:"budget"`          // its own events over the period
	windows  []counts  // its counts of each Status window
}

// Leader reports whether this Monitor evaluates alerts and writes
// incidents for its fleet: without a store, always (a single process
// leads itself); with one (WithStore), while it holds the lease
// FleetLease as of its last evaluation. Other packages ask it to run the
// work one replica should do for the fleet (the weekly report,
// remediation).
func (m *Monitor) Leader() bool { return m.fleet == nil || m.fleet.leader.Load() }

// fleetMode is a Monitor's part in a fleet.
type fleetMode struct {
	store  fleet.Store
	ttl    time.Duration // the lease; also how long a replica may be silent before it is Stale
	margin time.Duration // a leader that cannot renew steps down ttl-margin after its last renewal
	leader atomic.Bool

	// Guarded by Monitor.evalMu:
	renewed  time.Time                // when the lease was last renewed
	replicas map[string]*replicaState // other replicas' last decoded state, by instance
	reported map[string]time.Time     // a bad state already logged, by instance

	logMu sync.Mutex // serializes reads of the incident log; guards seq
	seq   uint64     // the last log record read
}

// replicaState is another replica's published history, decoded.
type replicaState struct {
	at     time.Time
	snap   *snapshot
	series map[string]*series // built on first use, by series name
}

// fleetView is what an indicator reads of the other replicas; replaced
// whole by every evaluation.
type fleetView struct {
	self     string           // this replica's instance
	replicas []remoteSeries   // the others, by instance
	units    []*unitsState    // the others' Pending journals of this series
	releases [][]releaseState // the others' events per release of this series
}

type remoteSeries struct {
	instance string
	at       time.Time
	stale    bool
	s        *series // read-only once built
}

func newFleetMode(m *Monitor, s fleet.Store) (*fleetMode, error) {
	if m.instance == "" {
		return nil, fmt.Errorf("slo: WithStore needs a non-empty instance name (WithInstance)")
	}
	if err := fleet.Check("instance", m.instance); err != nil {
		return nil, fmt.Errorf("slo: WithInstance: %w", err)
	}
	if m.cfg.incidentPath != "" {
		return nil, fmt.Errorf("slo: WithIncidentLog(%q) and WithStore: with a store incidents live in its log; drop one", m.cfg.incidentPath)
	}
	f := &fleetMode{store: s, ttl: 30 * time.Second, margin: 10 * time.Second,
		replicas: map[string]*replicaState{}, reported: map[string]time.Time{}}
	if m.cfg.interval > 0 {
		f.ttl, f.margin = 3*m.cfg.interval, m.cfg.interval
	}
	return f, nil
}

// start restores this replica's own history from the store when it is
// newer than the snapshot file's, and reads the incident log.
func (f *fleetMode) start(m *Monitor) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	states, err := f.store.States(ctx, FleetStateKind)
	if err != nil {
		m.log.Error("slo: fleet store: own history not restored", "err", err)
	}
	for _, st := range states {
		if st.Instance != m.instance {
			continue
		}
		snap, err := decodeFleetState(st)
		if err != nil {
			m.log.Error("slo: fleet store: own history not restored", "err", err)
			break
		}
		if m.restored == nil || snap.Saved.After(m.restored.Saved) {
			m.restored = snap
		}
	}
	f.pull(ctx, m)
}

// sync publishes this replica's counts, reads the others', renews or
// takes the lease and reads the new incident records; it reports whether
// this replica leads. Requires Monitor.evalMu held.
func (f *fleetMode) sync(m *Monitor, now time.Time) bool {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if err := f.publish(ctx, m, now); err != nil {
		m.log.Error("slo: fleet store: counts not published", "err", err)
	}
	if states, err := f.store.States(ctx, FleetStateKind); err != nil {
		m.log.Error("slo: fleet store: other replicas' counts not read; showing the last read", "err", err)
	} else {
		f.refresh(m, states, now)
	}
	lead, err := f.store.Lead(ctx, FleetLease, m.instance, f.ttl)
	switch {
	case err == nil && lead:
		f.renewed = now
	case err != nil:
		// The lease may still be ours, but another replica may take it once
		// it expires: step down a margin before that.
		lead = f.leader.Load() && now.Before(f.renewed.Add(f.ttl-f.margin))
		m.log.Error("slo: fleet store: lease not renewed", "err", err, "leader", lead)
	}
	f.leader.Store(lead)
	f.pull(ctx, m)
	return lead
}

// publish puts this replica's history into the store.
func (f *fleetMode) publish(ctx context.Context, m *Monitor, now time.Time) error {
	snap := m.collect(now)
	snap.Instance = m.instance
	b, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("slo: fleet state: %w", err)
	}
	return f.store.Put(ctx, FleetStateKind, m.instance, b)
}

// shutdown publishes the final counts and gives up the lease. Requires
// the evaluation loop stopped.
func (f *fleetMode) shutdown(ctx context.Context, m *Monitor) error {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	now := m.clock.Now()
	for _, p := range m.pendings() {
		p.expire(now)
	}
	var errs []error
	if err := f.publish(ctx, m, now); err != nil {
		errs = append(errs, fmt.Errorf("slo: shutdown: counts not published: %w", err))
	}
	if f.leader.Swap(false) {
		// The shortest lease the store takes: the next replica to ask
		// gets it, within one of its evaluation intervals.
		if _, err := f.store.Lead(ctx, FleetLease, m.instance, time.Millisecond); err != nil {
			errs = append(errs, fmt.Errorf("slo: shutdown: lease not given up (it expires in %v): %w", f.ttl, err))
		}
	}
	return errors.Join(errs...)
}

// refresh decodes the states that changed and gives every indicator its
// new view of the other replicas. Requires Monitor.evalMu held.
func (f *fleetMode) refresh(m *Monitor, states []fleet.State, now time.Time) {
	present := map[string]bool{}
	for _, st := range states {
		if st.Instance == m.instance {
			continue
		}
		present[st.Instance] = true
		if rs := f.replicas[st.Instance]; rs != nil && rs.at.Equal(st.At) {
			continue
		}
		snap, err := decodeFleetState(st)
		if err != nil {
			if !f.reported[st.Instance].Equal(st.At) {
				f.reported[st.Instance] = st.At
				m.log.Error("slo: fleet store: a replica's counts are unreadable; using its last readable state",
					"instance", st.Instance, "written", st.At, "err", err)
			}
			continue
		}
		f.replicas[st.Instance] = &replicaState{at: st.At, snap: snap, series: map[string]*series{}}
	}
	for inst := range f.replicas {
		if !present[inst] {
			delete(f.replicas, inst)
		}
	}
	names := make([]string, 0, len(f.replicas))
	for inst := range f.replicas {
		names = append(names, inst)
	}
	sort.Strings(names)
	for _, in := range m.indicators() {
		v := &fleetView{self: m.instance}
		for _, inst := range names {
			rs := f.replicas[inst]
			if now.Sub(rs.at) > in.obj.Period {
				continue // nothing of it is left in any window
			}
			if u := rs.snap.units(in.name); u != nil {
				v.units = append(v.units, u) // a stopped replica's too: its units are the fleet's
			}
			if r := rs.snap.releasesOf(in.name); r != nil {
				v.releases = append(v.releases, r)
			}
			s := rs.seriesFor(in, now)
			if s == nil {
				continue // that replica does not track this objective
			}
			v.replicas = append(v.replicas, remoteSeries{instance: inst, at: rs.at, stale: now.Sub(rs.at) > f.ttl, s: s})
		}
		in.fleet.Store(v)
	}
}

// seriesFor builds (once) the history of in's series from the state.
func (rs *replicaState) seriesFor(in *indicator, now time.Time) *series {
	if s, ok := rs.series[in.name]; ok {
		return s
	}
	var s *series
	for _, ss := range rs.snap.Series {
		if ss.Name != in.name {
			continue
		}
		at := now
		if rs.snap.Saved.After(at) {
			at = rs.snap.Saved // a replica whose clock runs ahead: keep its newest buckets
		}
		s = newSeries(in.obj.Period, minuteSpanFor(in.windows, in.obj.Period), at.UnixNano())
		restoreSeries(s, ss, rs.snap.Version, at)
	}
	rs.series[in.name] = s
	return s
}

// decodeFleetState reads one replica's published state; it never panics.
func decodeFleetState(st fleet.State) (*snapshot, error) {
	snap, err := decodeSnapshot(bytes.NewReader(st.Data))
	if err != nil {
		return nil, fmt.Errorf("replica %q: %w", st.Instance, err)
	}
	if snap.Instance != st.Instance {
		return nil, fmt.Errorf("replica %q: %w: instance is %q", st.Instance, ErrSnapshot, snap.Instance)
	}
	return snap, nil
}

// addFleet adds the other replicas' counts of in's windows at ns to sums
// (this replica's) and returns every replica's share, nil without a store.
func (in *indicator) addFleet(ns int64, sums []counts) []Share {
	v := in.fleet.Load()
	if v == nil {
		return nil
	}
	own := Share{Instance: v.self, Self: true, At: time.Unix(0, ns).UTC(), windows: slices.Clone(sums)}
	own.Budget = budgetOf(windowOf(own.windows), in.target)
	shares := []Share{own}
	for _, r := range v.replicas {
		sh := Share{Instance: r.instance, At: r.at, Stale: r.stale, windows: make([]counts, len(in.windows))}
		r.s.mu.Lock()
		r.s.sumsLocked(ns, in.windows, sh.windows)
		r.s.mu.Unlock()
		for i := range sums {
			sums[i].add(sh.windows[i])
		}
		sh.Budget = budgetOf(windowOf(sh.windows), in.target)
		shares = append(shares, sh)
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].Instance < shares[j].Instance })
	return shares
}

// windowOf is the period's counts (the last window) as a WindowStatus.
func windowOf(ws []counts) WindowStatus {
	c := ws[len(ws)-1]
	return WindowStatus{Total: c.Total, Bad: c.Bad}
}

// observedFleet is how much of the period the fleet's history covers.
func (in *indicator) observedFleet(ns int64) time.Duration {
	first := ns - int64(in.s.observed(ns, in.obj.Period))
	if v := in.fleet.Load(); v != nil {
		for _, r := range v.replicas {
			first = min(first, ns-int64(r.s.observed(ns, in.obj.Period)))
		}
	}
	return min(max(time.Duration(ns-first), 0), in.obj.Period)
}

// addFleetHours adds the other replicas' hourly counts of the n hours
// ending at ns to hours.
func (in *indicator) addFleetHours(ns int64, hours []counts) {
	v := in.fleet.Load()
	if v == nil {
		return
	}
	for _, r := range v.replicas {
		r.s.mu.Lock()
		for i, h := range r.s.hourlyLocked(ns, len(hours)) {
			hours[i].add(h)
		}
		r.s.mu.Unlock()
	}
}

// fleetRange sums the other replicas' buckets first to last of the tier
// of width (Monitor.Range), zero without a store.
func (in *indicator) fleetRange(ns int64, width time.Duration, first, last int64) counts {
	var c counts
	if v := in.fleet.Load(); v != nil {
		for _, r := range v.replicas {
			r.s.mu.Lock()
			c.add(r.s.keptRangeLocked(ns, width, first, last))
			r.s.mu.Unlock()
		}
	}
	return c
}

// seenBy names the replicas whose own counts in tier t's long window are
// above its error-ratio threshold.
func seenBy(st Status, t *tierState) []string {
	i := slices.IndexFunc(st.Windows, func(w WindowStatus) bool { return w.Window == t.tier.Long })
	if i < 0 {
		return nil
	}
	var out []string
	for _, sh := range st.Replicas {
		if i < len(sh.windows) && above(sh.windows[i], t.threshold) {
			out = append(out, sh.Instance)
		}
	}
	return out
}

// see adds names to the replicas that saw the episode and returns the
// ones it did not know.
func (i *Incident) see(names []string) []string {
	var added []string
	for _, n := range names {
		if !slices.Contains(i.Replicas, n) {
			i.Replicas = append(i.Replicas, n)
			added = append(added, n)
		}
	}
	slices.Sort(i.Replicas)
	return added
}

// pull reads the incident records appended since the last pull.
func (f *fleetMode) pull(ctx context.Context, m *Monitor) {
	f.logMu.Lock()
	defer f.logMu.Unlock()
	for {
		recs, err := f.store.Records(ctx, FleetIncidentKind, f.seq, fleet.MaxRecords)
		if err != nil {
			m.log.Error("slo: fleet store: incident log not read", "err", err)
			return
		}
		for _, r := range recs {
			f.seq = r.Seq
			rec, err := parseRecord(r.Data)
			if err != nil {
				m.log.Error("slo: fleet store: incident record skipped", "seq", r.Seq, "err", err)
				continue
			}
			m.remember(rec.Incident)
		}
		if len(recs) < fleet.MaxRecords {
			return
		}
	}
}

// refreshIncidents reads the fleet's new incident records, if any.
func (m *Monitor) refreshIncidents() {
	if m.fleet == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	m.fleet.pull(ctx, m)
}

// writeRecord appends r to the incident log (the store's with WithStore)
// and keeps its incident among the recent ones. Requires evalMu held.
func (m *Monitor) writeRecord(r IncidentRecord) error {
	r.Replica = m.instance
	m.remember(r.Incident)
	if m.fleet == nil {
		return m.incidents.append(r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("slo: incident log: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if _, err := m.fleet.store.Append(ctx, FleetIncidentKind, b); err != nil {
		return fmt.Errorf("slo: fleet incident log: %w", err)
	}
	return nil
}

// openIncidents returns the fleet's open incidents of objective, oldest
// first, from the records read so far.
func (m *Monitor) openIncidents(objective string) []Incident {
	m.incMu.Lock()
	defer m.incMu.Unlock()
	var out []Incident
	for i := range m.recent {
		if inc := &m.recent[i]; inc.Objective == objective && inc.Open() {
			out = append(out, inc.clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// follow is a replica's evaluation of in when another leads: the same
// conditions and alert states on the fleet's counts, the fleet's open
// incident, and nothing notified or written. Requires evalMu held.
func (in *indicator) follow(st Status, open []Incident) {
	in.conditions(st)
	for _, sv := range in.sev {
		fastest := in.fastest(sv.severity)
		switch {
		case fastest != nil && !sv.firing:
			sv.firing, sv.since, sv.start = true, st.At, st.At
		case fastest == nil && sv.firing:
			sv.firing, sv.since = false, st.At
		}
		if fastest != nil {
			sv.tier = fastest
		}
	}
	in.inc, in.led = nil, false
	if len(open) > 0 {
		inc := open[0]
		in.inc = &inc
	}
	in.publish()
}

// takeOver makes this replica's view of in the fleet's when it starts to
// lead: the episode the log holds open is resumed (a severity notified by
// the previous leader is resent only as a Repeat); alert states start
// afresh. Requires evalMu held.
func (m *Monitor) takeOver(in *indicator, now time.Time) {
	for _, sv := range in.sev {
		sv.firing, sv.notified, sv.closed, sv.sent, sv.start = false, false, false, time.Time{}, time.Time{}
	}
	in.inc, in.led = nil, true
	m.resumeOpen(in, m.openIncidents(in.name), now)
}

// mergeOperator adds the acknowledgement and notes of src that dst lacks:
// operators may act on any replica, so these only ever accumulate.
func (i *Incident) mergeOperator(src *Incident) {
	if src.Ack != nil && (i.Ack == nil || src.Ack.At.Before(i.Ack.At)) {
		a := *src.Ack
		i.Ack = &a
	}
	added := false
	for _, n := range src.Notes {
		if !slices.ContainsFunc(i.Notes, func(o Note) bool { return o.By == n.By && o.At.Equal(n.At) && o.Text == n.Text }) {
			i.Notes = append(i.Notes, n)
			added = true
		}
	}
	if added {
		sort.SliceStable(i.Notes, func(a, b int) bool { return i.Notes[a].At.Before(i.Notes[b].At) })
	}
}
