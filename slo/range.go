package slo

import (
	"errors"
	"fmt"
	"time"
)

// Errors of Monitor.Range and Monitor.Verdict.
var (
	// ErrNoObjective: no series of that name is tracked.
	ErrNoObjective = errors.New("slo: no such objective")
	// ErrNotRetained: the range starts before the history the Monitor keeps.
	ErrNotRetained = errors.New("slo: range older than the history kept")
)

// RangeStatus is an objective's events over a stretch of time: exact sums
// of what was recorded in the buckets that cover it.
type RangeStatus struct {
	Objective string `json:"objective"` // the series name
	// From and To are the bucket edges actually summed: the asked from
	// rounded down and to rounded up to Resolution (and to at most the
	// current time's bucket end).
	From       time.Time     `json:"from"`
	To         time.Time     `json:"to"`
	Resolution time.Duration `json:"resolution"` // 10s, 1m or 1h: the bucket width summed
	Target     float64       `json:"target"`
	Good       int64         `json:"good"`
	Bad        int64         `json:"bad"`
	// ErrorRatio is Bad/(Good+Bad), zero without events.
	ErrorRatio float64 `json:"error_ratio"`
	// Compliance is Good/(Good+Bad), 1 without events; Met is
	// Compliance >= Target.
	Compliance float64 `json:"compliance"`
	Met        bool    `json:"met"`
	// BudgetSpent is Bad over the bad events the target allows in the
	// range, (Good+Bad)*(1-Target): above 1 the range overspent; zero
	// without events.
	BudgetSpent float64 `json:"budget_spent"`
}

// Range returns the events of objective (a series name: the objective's,
// or "<name>:<threshold>" for one of several latency thresholds) recorded
// from from to to (half-open: the bucket holding to is summed only when to
// is not on its edge). The resolution is the finest the history still
// holds at from: 10 seconds when from is within the last day, 1 minute
// within the minute tier (a day, or the longest tier window between a day
// and the period, e.g. 3 days), 1 hour within the period. A to in the
// future counts up to now. The figures are exact sums of the buckets
// between the returned From and To; nothing is interpolated.
//
// Errors: ErrNoObjective for an unknown name, ErrNotRetained when from is
// older than the period (plus the current hour), and an error naming from
// and to when to is not after from.
func (m *Monitor) Range(objective string, from, to time.Time) (RangeStatus, error) {
	in := m.indicator(objective)
	if in == nil {
		return RangeStatus{}, fmt.Errorf("%w: %q", ErrNoObjective, objective)
	}
	if !to.After(from) {
		return RangeStatus{}, fmt.Errorf("slo: Range(%q): to %s is not after from %s", objective,
			to.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))
	}
	now := m.clock.Now()
	ns := now.UnixNano()
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	width := time.Duration(0)
	for _, w := range []time.Duration{fineWidth, minuteWidth, hourWidth} {
		if floorDiv(from.UnixNano(), int64(w)) > ns/int64(w)-s.ringLen(w) {
			width = w
			break
		}
	}
	if width == 0 {
		oldest := now
		for _, w := range []time.Duration{fineWidth, minuteWidth, hourWidth} {
			oldest = minTime(oldest, time.Unix(0, (ns/int64(w)-s.ringLen(w)+1)*int64(w)).UTC())
		}
		return RangeStatus{}, fmt.Errorf("%w: Range(%q) from %s: the history starts at %s", ErrNotRetained, objective,
			from.UTC().Format(time.RFC3339), oldest.Format(time.RFC3339))
	}
	first := floorDiv(from.UnixNano(), int64(width))
	last := min(ceilDiv(to.UnixNano(), int64(width))-1, ns/int64(width))
	s.foldAllLocked(ns)
	var c counts
	if last >= first {
		c = s.keptRangeLocked(ns, width, first, last)
		c.add(in.fleetRange(ns, width, first, last)) // the other replicas' (WithStore)
	}
	rs := RangeStatus{Objective: in.name, Resolution: width, Target: in.target,
		From: time.Unix(0, first*int64(width)).UTC(), To: time.Unix(0, (max(last, first-1)+1)*int64(width)).UTC(),
		Good: c.Total - c.Bad, Bad: c.Bad, Compliance: 1, Met: true}
	if c.Total > 0 {
		rs.ErrorRatio = float64(c.Bad) / float64(c.Total)
		rs.Compliance = float64(c.Total-c.Bad) / float64(c.Total)
		rs.Met = rs.Compliance >= in.target
		rs.BudgetSpent = float64(c.Bad) / (float64(c.Total) * (1 - in.target))
	}
	return rs, nil
}

// keptRangeLocked is rangeLocked for a range the tier of width holds,
// even when the hour tier is shorter (a period shorter than the minute
// tier): then it reads no hours. Requires s.mu held, folded.
func (s *series) keptRangeLocked(now int64, width time.Duration, first, last int64) counts {
	if first*int64(width)/int64(hourWidth) > now/int64(hourWidth)-s.ringLen(hourWidth) {
		return s.rangeLocked(width, first, last)
	}
	var c counts
	idx := first
	if width == fineWidth {
		for ; idx <= last && idx%fineInMinute != 0; idx++ {
			c.add(s.bucket(fineWidth, idx))
		}
		if f, l := idx/fineInMinute, (last+1)/fineInMinute-1; f <= l {
			for i := f; i <= l; i++ {
				c.add(s.bucket(minuteWidth, i))
			}
			idx = (l + 1) * fineInMinute
		}
	}
	for ; idx <= last; idx++ {
		c.add(s.bucket(width, idx))
	}
	return c
}

// indicator returns the series named name, nil if none.
func (m *Monitor) indicator(name string) *indicator {
	for _, in := range m.indicators() {
		if in.name == name {
			return in
		}
	}
	return nil
}

// floorDiv and ceilDiv divide rounding toward minus and plus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
