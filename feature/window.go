package feature

import (
	"math"
	"math/bits"
	"time"
)

// The time layout. Uses land in one of 64 minute slots; the registry's
// goroutine folds each minute into its day when the slot is about to be
// reused. Days are UTC days, kept for 90 days, each with a tenant bitmap.
const (
	minuteSlots  = 64
	minuteMask   = minuteSlots - 1
	daySlots     = 90
	daySlotShift = 8
	daySlotMask  = 0xff
	// lookSlots is how many UTC days keep a per-tenant membership filter
	// (today and the 7 days before): what "is tenant X affected?" can answer.
	lookSlots     = 8
	lookSlotShift = 16
	// tenantBits is the size of each day's tenant bitmaps (512 bytes each:
	// tenants who used the feature, tenants for whom it failed). Linear
	// counting over m bits estimates n distinct tenants with a standard
	// error of sqrt(m·(e^t−t−1)), t = n/m (stdErr): about 1% up to 1,000
	// tenants, 1.3% at 4,096, 2.1% at 12,000. Past about 15,000 the error
	// grows fast; from about 20,000 (fewer than 32 zero bits) reports mark
	// the figure saturated: measured at 25,000 tenants it is on average a few
	// per cent high (+0.5 % to +2.5 % across runs) and single estimates are
	// off by up to +25 % (TestSaturationIsStated), so it is neither a
	// lower bound nor precise there.
	tenantBits  = 4096
	tenantWords = tenantBits / 64
	// KeepDays is how many days of daily buckets are kept.
	KeepDays = daySlots
)

func unixMinute(t time.Time) int64 { return floorDiv(t.Unix(), 60) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func dayOf(minute int64) int64 { return floorDiv(minute, 24*60) }

func daySlot(day int64) int { return int(((day % daySlots) + daySlots) % daySlots) }

func lookSlot(day int64) int { return int(((day % lookSlots) + lookSlots) % lookSlots) }

func minuteTime(m int64) time.Time { return time.Unix(m*60, 0).UTC() }

func dayTime(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

// initClock lays out the windows so that every slot holds a minute or day
// of the window ending now.
func (r *Registry) initClock(now time.Time) {
	m := unixMinute(now)
	for i := int64(0); i < minuteSlots; i++ {
		mi := m - i
		r.slotMinute[mi&minuteMask] = mi
	}
	d := dayOf(m)
	for i := int64(0); i < daySlots; i++ {
		r.slotDay[daySlot(d-i)] = d - i
	}
	for i := int64(0); i < lookSlots; i++ {
		r.slotLook[lookSlot(d-i)] = d - i
	}
	r.curMinute = m
	r.publish()
}

func (r *Registry) publish() {
	m := r.curMinute
	r.epoch.Store(uint64(m&minuteMask) | uint64(daySlot(dayOf(m)))<<daySlotShift | uint64(lookSlot(dayOf(m)))<<lookSlotShift)
	r.nowMin.Store(m)
}

// refresh brings the coarse clock up to the clock's time. The registry's
// goroutine calls it at every minute boundary and every read calls it
// first, so a test that advances a fake clock sees the new time as soon as
// it reads anything (Stats, Report, Snapshot).
func (r *Registry) refresh() {
	now := r.clock.Now()
	r.mu.Lock()
	r.advanceLocked(now)
	r.mu.Unlock()
}

// advanceLocked moves the coarse clock forward (never back): the minute
// slots about to be reused are folded into their days, the day slots
// entering the window are cleared, then the new epoch is published. A Use
// racing with this may land in the neighbouring minute; it is never lost
// unless it lands in a slot more than 90 days old. Requires mu held.
func (r *Registry) advanceLocked(now time.Time) {
	m := unixMinute(now)
	old := r.curMinute
	if m <= old {
		return
	}
	start := max(old+1, m-minuteSlots+1)
	for mi := start; mi <= m; mi++ {
		slot := int(mi & minuteMask)
		r.foldLocked(slot)
		r.slotMinute[slot] = mi
	}
	oldDay, newDay := dayOf(old), dayOf(m)
	for d := max(oldDay+1, newDay-daySlots+1); d <= newDay; d++ {
		s := daySlot(d)
		for _, f := range r.features {
			f.days[s].reset()
		}
		r.slotDay[s] = d
	}
	for d := max(oldDay+1, newDay-lookSlots+1); d <= newDay; d++ {
		s := lookSlot(d)
		for _, f := range r.features {
			f.look[s].used.reset()
			f.look[s].failed.reset()
		}
		r.slotLook[s] = d
	}
	r.curMinute = m
	r.publish()
}

// foldLocked moves one minute slot's counts into its day. Requires mu held.
func (r *Registry) foldLocked(slot int) {
	mi := r.slotMinute[slot]
	d := dayOf(mi)
	ds := daySlot(d)
	valid := r.slotDay[ds] == d
	for _, f := range r.features {
		mb := &f.minutes[slot]
		n, fails := counts(mb.count.Swap(0))
		latNs, latN := mb.latNs.Swap(0), mb.latN.Swap(0)
		if n == 0 && fails == 0 {
			continue
		}
		f.total += n
		if valid {
			db := &f.days[ds]
			db.uses += n
			db.fails += fails
			db.latNs += latNs
			db.latN += latN
			if fails > 0 {
				db.failSeen(mi)
			}
		}
		if fails > 0 {
			f.epStart, f.epLast = episodeAt(f.epStart, f.epLast, mi)
		}
		f.seenLocked(mi)
	}
}

// failSeen widens the day's first and last failing minute.
func (d *dayBucket) failSeen(mi int64) {
	if d.firstFail == 0 || mi < d.firstFail {
		d.firstFail = mi
	}
	d.lastFail = max(d.lastFail, mi)
}

// noBits reports whether no tenant is marked in the day's bitmaps.
func (d *dayBucket) noBits() bool {
	for i := range d.bits {
		if d.bits[i].Load()|d.failBits[i].Load() != 0 {
			return false
		}
	}
	return true
}

func (d *dayBucket) reset() {
	d.uses, d.fails, d.latNs, d.latN, d.firstFail, d.lastFail = 0, 0, 0, 0, 0, 0
	for i := range d.bits {
		d.bits[i].Store(0)
		d.failBits[i].Store(0)
	}
}

func (f *Feature) seenLocked(mi int64) {
	if f.first == 0 || mi < f.first {
		f.first = mi
	}
	if mi > f.last {
		f.last = mi
	}
}

// liveLocked returns the feature's state with the unfolded minutes
// included: uses per day, bitmaps, total, first and last seen. Requires mu.
func (r *Registry) liveLocked(f *Feature) *featState {
	st := &featState{Name: f.name, Owner: f.owner, Description: f.desc, Since: f.since,
		Total: f.total, First: f.first, Last: f.last, Days: map[int64]*dayState{}}
	for s := range daySlots {
		b := &f.days[s]
		if b.uses == 0 && b.fails == 0 && b.noBits() {
			continue // an empty day: no copy
		}
		ds := &dayState{Uses: b.uses, Fails: b.fails, LatNs: b.latNs, LatN: b.latN, FirstFail: b.firstFail, LastFail: b.lastFail}
		for i := range b.bits {
			ds.Bits[i] = b.bits[i].Load()
			ds.FailBits[i] = b.failBits[i].Load()
		}
		st.Days[r.slotDay[s]] = ds
	}
	for s := range lookSlots {
		d := r.slotLook[s]
		if ds := st.Days[d]; ds != nil {
			ds.Look = f.lookCpy[s].copyOf(&f.look[s], d) // shared with later captures: never modified
		}
	}
	for s := range minuteSlots {
		mb := &f.minutes[s]
		n, fails := counts(mb.count.Load())
		if n == 0 && fails == 0 {
			continue
		}
		mi := r.slotMinute[s]
		st.Total += n
		if st.First == 0 || mi < st.First {
			st.First = mi
		}
		st.Last = max(st.Last, mi)
		d := dayOf(mi)
		if r.slotDay[daySlot(d)] != d {
			continue
		}
		ds := st.Days[d]
		if ds == nil {
			ds = &dayState{}
			st.Days[d] = ds
		}
		ds.Uses += n
		ds.Fails += fails
		ds.LatNs += mb.latNs.Load()
		ds.LatN += mb.latN.Load()
		if fails > 0 {
			if ds.FirstFail == 0 || mi < ds.FirstFail {
				ds.FirstFail = mi
			}
			ds.LastFail = max(ds.LastFail, mi)
		}
	}
	st.Reasons = f.reasons.list()
	f.swMu.Lock()
	if f.sw.since.IsZero() {
		st.Switch = nil
	} else {
		sw := f.switchStateLocked()
		st.Switch = &sw
	}
	f.swMu.Unlock()
	if rr, ok := f.refusedReason(); ok {
		st.Reasons = mergeReasons(st.Reasons, []Reason{rr})
	}
	st.EpStart, st.EpLast = f.epStart, f.epLast
	for i := range int64(minuteSlots) { // the unfolded minutes, oldest first
		mi := r.curMinute - minuteSlots + 1 + i
		slot := mi & minuteMask
		if r.slotMinute[slot] != mi {
			continue
		}
		if _, fails := counts(f.minutes[slot].count.Load()); fails > 0 {
			st.EpStart, st.EpLast = episodeAt(st.EpStart, st.EpLast, mi)
		}
	}
	return st
}

// episodeGap is how long a feature must go without a failure for its
// failing episode to end: a failure after a quieter stretch starts a new
// episode, and a feature is failing now while its last failure is less
// than episodeGap minutes old.
const episodeGap = 15

// episodeAt extends the episode (start, last) with a failure in minute mi
// (minutes arrive in order), or starts a new one after a quiet gap.
func episodeAt(start, last, mi int64) (int64, int64) {
	if mi <= last {
		return start, last
	}
	if last == 0 || mi-last > episodeGap {
		return mi, mi
	}
	return start, mi
}

// mergeEpisodes joins two instances' episodes: one that ended more than a
// gap before the other's latest failure is over; otherwise they are one
// episode from the earlier start.
func mergeEpisodes(s1, l1, s2, l2 int64) (int64, int64) {
	switch {
	case l2 == 0:
		return s1, l1
	case l1 == 0:
		return s2, l2
	case l1 < l2-episodeGap:
		return s2, l2
	case l2 < l1-episodeGap:
		return s1, l1
	}
	return min(s1, s2), max(l1, l2)
}

// attachLocked adds restored counts to a newly defined feature: days still
// inside the window go into their slots. Requires mu held.
func (r *Registry) attachLocked(f *Feature, p *featState) {
	f.total += p.Total
	if p.First != 0 {
		f.seenLocked(p.First)
		f.seenLocked(p.Last)
	}
	for d, ds := range p.Days {
		s := daySlot(d)
		if r.slotDay[s] != d {
			continue
		}
		db := &f.days[s]
		db.uses += ds.Uses
		db.fails += ds.Fails
		db.latNs += ds.LatNs
		db.latN += ds.LatN
		if ds.FirstFail != 0 {
			db.failSeen(ds.FirstFail)
			db.failSeen(ds.LastFail)
		}
		for i, w := range ds.Bits {
			if w != 0 {
				db.bits[i].Or(w)
			}
			if fw := ds.FailBits[i]; fw != 0 {
				db.failBits[i].Or(fw)
			}
		}
		if ls := lookSlot(d); ds.Look != nil && r.slotLook[ls] == d {
			f.look[ls].or(ds.Look)
		}
	}
	f.reasons.merge(p.Reasons)
	f.epStart, f.epLast = mergeEpisodes(f.epStart, f.epLast, p.EpStart, p.EpLast)
	f.restoreSwitch(p.Switch, true)
}

// estimate is the linear-counting estimate of distinct tenants in a bitmap,
// and whether the bitmap is saturated (the estimate is then a lower bound).
func estimate(b *[tenantWords]uint64) (n int64, saturated bool) {
	set := 0
	for _, w := range b {
		set += bits.OnesCount64(w)
	}
	zero := tenantBits - set
	if zero == 0 {
		zero, saturated = 1, true
	}
	est := -float64(tenantBits) * math.Log(float64(zero)/float64(tenantBits))
	return int64(math.Round(est)), saturated || zero < tenantBits/128
}

// tenantErr is the standard error of a linear-counting estimate of n
// distinct tenants over tenantBits bits: sqrt(m·(e^t − t − 1)), t = n/m
// (Whang et al. 1990), rounded to two decimals.
func tenantErr(n int64) float64 {
	m := float64(tenantBits)
	t := float64(n) / m
	return math.Round(100*math.Sqrt(m*(math.Exp(t)-t-1))) / 100
}
