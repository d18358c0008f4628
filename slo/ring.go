package slo

import (
	"sync"
	"sync/atomic"
	"time"
)

// Bucket widths of the three tiers. Events land in the fine ring only (10
// seconds, the last day), so every window up to a day is exact to 10
// seconds. The minute tier (a day, or the longest window between a day and
// the period if longer, e.g. 3 days) and the hour tier (the period) are
// filled by folding fine buckets into them, under the series mutex,
// whenever a fine bucket is recycled or a reader needs a window; a window
// reads whole minutes and hours from them. Boundaries are aligned on the
// Unix epoch, so a fine bucket lies inside exactly one minute and one hour.
const (
	fineWidth    = 10 * time.Second
	fineSlots    = int64(24 * time.Hour / fineWidth) // the last day
	minuteWidth  = time.Minute
	hourWidth    = time.Hour
	fineSpan     = time.Duration(fineSlots) * fineWidth
	fineInMinute = int64(minuteWidth / fineWidth)
	fineInHour   = int64(hourWidth / fineWidth)
)

// fineSlot is a 10-second bucket written by recorders with atomics.
type fineSlot struct {
	epoch atomic.Int64 // bucket index: unix nanos / fineWidth
	total atomic.Int64
	bad   atomic.Int64
	// What of total and bad is already in the coarse tiers; guarded by
	// series.mu.
	foldedTotal, foldedBad int64
}

// coarseSlot is a bucket of a coarse tier; guarded by series.mu.
type coarseSlot struct {
	epoch, total, bad int64
}

// counts is an exact number of events.
type counts struct{ Total, Bad int64 }

func (c *counts) add(o counts) { c.Total += o.Total; c.Bad += o.Bad }

// series is the event history of one objective (or one latency threshold).
type series struct {
	fine [fineSlots]fineSlot

	mu     sync.Mutex   // guards the coarse tiers, the folded fields, cum and first
	minute []coarseSlot // minuteSpan's minutes plus the current one; empty without such a window
	hour   []coarseSlot // as many hours as the period, plus the current one
	cum    counts       // every event folded since start (for the counters)
	first  int64        // unix nanos of the oldest history: creation or restored data
	// foldedTo is the fine bucket the last fold reached; a fold starts one
	// before it, as recorders write at the current time. dirty is the
	// oldest bucket addAt wrote since (an outcome counted in the past),
	// zero when none.
	foldedTo, dirty int64
}

// newSeries keeps minute buckets for a day, or for windows up to
// minuteSpan if longer: they serve those windows and sum the whole minutes
// of the shorter ones.
func newSeries(period, minuteSpan time.Duration, now int64) *series {
	span := max(minuteSpan, fineSpan)
	return &series{
		minute: make([]coarseSlot, int64(roundUp(span, minuteWidth)/minuteWidth)+2),
		hour:   make([]coarseSlot, int64(period/hourWidth)+1),
		first:  now,
	}
}

// minuteSpanFor is the longest window over a day and under the period:
// the windows the minute tier serves.
func minuteSpanFor(windows []time.Duration, period time.Duration) time.Duration {
	var span time.Duration
	for _, w := range windows {
		if w > fineSpan && w < period {
			span = max(span, w)
		}
	}
	return span
}

// add counts events at now (unix nanoseconds): one atomic load and one or
// two atomic adds, plus a locked rotation once per bucket per 10 seconds.
// now must not be older than the fine ring (addAt clamps).
func (s *series) add(now int64, total, bad int64) {
	idx := now / int64(fineWidth)
	sl := &s.fine[idx%fineSlots]
	if e := sl.epoch.Load(); e < idx {
		s.rotate(sl, idx)
	} // e > idx: a clock read that lost a race with a rotation; count it in the newer bucket
	sl.total.Add(total)
	if bad != 0 {
		sl.bad.Add(bad)
	}
}

// rotate recycles sl for bucket idx after folding what it held.
func (s *series) rotate(sl *fineSlot, idx int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sl.epoch.Load() >= idx {
		return
	}
	// Swap, not Store: an add racing with the rotation lands in the new
	// bucket instead of being lost.
	b, t := sl.bad.Swap(0), sl.total.Swap(0)
	s.foldLocked(sl.epoch.Load(), counts{t - sl.foldedTotal, b - sl.foldedBad})
	sl.foldedTotal, sl.foldedBad = 0, 0
	sl.epoch.Store(idx)
}

// foldAllLocked brings the coarse tiers up to date with the fine buckets
// written since the last fold (all of them the first time). Requires mu
// held.
func (s *series) foldAllLocked(now int64) {
	cur := now / int64(fineWidth)
	oldest := cur - fineSlots + 1
	from := oldest
	if s.foldedTo > 0 {
		from = max(from, s.foldedTo-1)
	}
	if s.dirty > 0 {
		from = max(oldest, min(from, s.dirty))
	}
	for idx := from; idx <= cur+1; idx++ { // +1: a write that raced ahead of now
		sl := &s.fine[idx%fineSlots]
		b := sl.bad.Load() // bad before total: total >= bad in what we read
		t := sl.total.Load()
		if t == sl.foldedTotal && b == sl.foldedBad {
			continue
		}
		s.foldLocked(sl.epoch.Load(), counts{t - sl.foldedTotal, b - sl.foldedBad})
		sl.foldedTotal, sl.foldedBad = t, b
	}
	s.foldedTo, s.dirty = cur, 0
}

// foldLocked adds c, counted in fine bucket fineIdx, to the coarse tiers.
// Requires mu held.
func (s *series) foldLocked(fineIdx int64, c counts) {
	if c.Total == 0 && c.Bad == 0 {
		return
	}
	s.cum.add(c)
	addCoarse(s.minute, fineIdx/fineInMinute, c)
	addCoarse(s.hour, fineIdx/fineInHour, c)
}

// addCoarse adds c to the bucket for idx, recycling the slot if it held an
// older bucket; counts older than the ring are dropped (out of every window).
func addCoarse(ring []coarseSlot, idx int64, c counts) {
	sl := &ring[idx%int64(len(ring))]
	switch {
	case sl.epoch < idx:
		*sl = coarseSlot{epoch: idx, total: c.Total, bad: c.Bad}
	case sl.epoch == idx:
		sl.total += c.Total
		sl.bad += c.Bad
	}
}

// tierOf returns the width of the finest tier that spans window w.
func (s *series) tierOf(w time.Duration) time.Duration {
	switch {
	case w <= fineSpan:
		return fineWidth
	case w <= time.Duration(len(s.minute)-2)*minuteWidth:
		return minuteWidth
	}
	return hourWidth
}

// ringLen is the number of buckets of the tier of the given width.
func (s *series) ringLen(width time.Duration) int64 {
	switch width {
	case fineWidth:
		return fineSlots
	case minuteWidth:
		return int64(len(s.minute))
	}
	return int64(len(s.hour))
}

// slotCounts returns what slot pos of the tier of the given width holds
// for bucket idx, zero if it holds another bucket. Requires mu held.
func (s *series) slotCounts(width time.Duration, pos, idx int64) counts {
	switch width {
	case fineWidth:
		sl := &s.fine[pos]
		if sl.epoch.Load() != idx {
			return counts{}
		}
		b := sl.bad.Load() // bad before total: total >= bad in what we read
		return counts{sl.total.Load(), b}
	case minuteWidth:
		if sl := &s.minute[pos]; sl.epoch == idx {
			return counts{sl.total, sl.bad}
		}
	default:
		if sl := &s.hour[pos]; sl.epoch == idx {
			return counts{sl.total, sl.bad}
		}
	}
	return counts{}
}

// bucket returns the counts of bucket idx of the tier of the given width.
// Requires mu held.
func (s *series) bucket(width time.Duration, idx int64) counts {
	return s.slotCounts(width, idx%s.ringLen(width), idx)
}

// sumsLocked fills out[i] with the exact counts of the window ws[i] ending
// at now, from the finest tier that spans it. A window is rounded up to
// whole buckets and includes the current, partial one: a window up to a
// day covers w-10s to w, one served by the minute tier w-1m to w, the
// period w-1h to w. Requires mu held and foldAllLocked called.
func (s *series) sumsLocked(now int64, ws []time.Duration, out []counts) {
	for i, w := range ws {
		width := s.tierOf(w)
		to := now / int64(width)
		k := min(int64(roundUp(w, width)/width), s.ringLen(width))
		out[i] = s.rangeLocked(width, to-k+1, to)
	}
}

// rangeLocked sums buckets from to to of the tier of width, reading the
// whole buckets of the next coarser tier inside the range from that tier
// (they hold the same, folded, events): a day of 10-second buckets is 12
// of them and 1440 minutes. Requires mu held and foldAllLocked called.
func (s *series) rangeLocked(width time.Duration, from, to int64) counts {
	var c counts
	var per int64
	var parent time.Duration
	switch width {
	case fineWidth:
		per, parent = fineInMinute, minuteWidth
	case minuteWidth:
		per, parent = int64(hourWidth/minuteWidth), hourWidth
	}
	idx := from
	if per > 0 {
		for ; idx <= to && idx%per != 0; idx++ {
			c.add(s.bucket(width, idx))
		}
		if first, last := idx/per, (to+1)/per-1; first <= last {
			c.add(s.rangeLocked(parent, first, last))
			idx = (last + 1) * per
		}
	}
	for ; idx <= to; idx++ {
		c.add(s.bucket(width, idx))
	}
	return c
}

func roundUp(d, unit time.Duration) time.Duration {
	return (d + unit - 1) / unit * unit
}

// hourly returns, oldest first, the counts of each hour bucket of the last
// n hours ending at now. Requires mu held and foldAllLocked called.
func (s *series) hourlyLocked(now int64, n int) []counts {
	last := now / int64(hourWidth)
	out := make([]counts, n)
	for i := range out {
		if idx := last - int64(n-1-i); idx >= 0 {
			out[i] = s.bucket(hourWidth, idx)
		}
	}
	return out
}

// addAt counts events at time at (unix nanoseconds), clamped into the fine
// ring ending at now, for outcomes decided after the fact.
func (s *series) addAt(at, now int64, total, bad int64) {
	oldest := (now/int64(fineWidth) - fineSlots + 1) * int64(fineWidth)
	at = min(max(at, oldest), now)
	s.add(at, total, bad)
	s.mu.Lock()
	if idx := at / int64(fineWidth); s.dirty == 0 || idx < s.dirty {
		s.dirty = idx
	}
	s.mu.Unlock()
}

// observed is how much history the series covers at now, at most period.
func (s *series) observed(now int64, period time.Duration) time.Duration {
	s.mu.Lock()
	first := s.first
	s.mu.Unlock()
	return min(max(time.Duration(now-first), 0), period)
}

// cumulative returns every event counted since the series was created,
// folding first. It is what the OpenTelemetry counters report.
func (s *series) cumulative(now int64) counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.foldAllLocked(now)
	return s.cum
}
