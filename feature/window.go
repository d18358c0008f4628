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
	// tenantBits is the size of each day's tenant bitmap (512 bytes). Linear
	// counting over m bits estimates n distinct tenants with a relative
	// standard error of sqrt(m·(e^t−t−1))/n, t = n/m: about 1% up to 1,000
	// tenants, 1.3% at 4,096, 2.1% at 12,000. Past about 20,000 distinct
	// tenants in one window the bitmap saturates and the estimate is a lower
	// bound (reports say so).
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
	r.curMinute = m
	r.publish()
}

func (r *Registry) publish() {
	m := r.curMinute
	r.epoch.Store(uint64(m&minuteMask) | uint64(daySlot(dayOf(m)))<<daySlotShift)
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
			f.days[s].uses = 0
			for i := range f.days[s].bits {
				f.days[s].bits[i].Store(0)
			}
		}
		r.slotDay[s] = d
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
		n := f.minutes[slot].Swap(0)
		if n == 0 {
			continue
		}
		f.total += n
		if valid {
			f.days[ds].uses += n
		}
		f.seenLocked(mi)
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
		d := r.slotDay[s]
		b := &f.days[s]
		ds := &dayState{Uses: b.uses}
		any := ds.Uses != 0
		for i := range b.bits {
			ds.Bits[i] = b.bits[i].Load()
			any = any || ds.Bits[i] != 0
		}
		if any {
			st.Days[d] = ds
		}
	}
	for s := range minuteSlots {
		n := f.minutes[s].Load()
		if n == 0 {
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
	}
	return st
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
		f.days[s].uses += ds.Uses
		for i, w := range ds.Bits {
			if w != 0 {
				f.days[s].bits[i].Or(w)
			}
		}
	}
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
