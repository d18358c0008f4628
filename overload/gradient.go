package overload

import (
	"math"
	"time"
)

// The limit follows a latency gradient, in the family of Netflix's
// concurrency-limits Gradient and Envoy's adaptive concurrency filter.
//
// Each sample window yields the average latency of the work finished in
// it. The baseline is the unloaded latency: it is measured by a probe
// (every WithProbeEvery, and at New), which pins the limit to its minimum
// for one window, leaves out work admitted before the probe, and takes the
// window's average; between probes it only falls (to any lower window
// average), and it is re-measured as in a probe whenever a window ran with
// no more than the minimum in flight (the latency cannot be queueing
// then). A baseline that only moved with the load would follow the
// service's own queue upward and let it grow without end.
//
// The gradient is tolerance × baseline / average, kept within [0.5, 1]:
// 1 while work runs within tolerance of unloaded, smaller as it slows.
// The new limit is limit × gradient + √limit (the headroom that lets it
// probe upward). A fall applies at once, and the windows after it count
// only work admitted under the new limit (what was admitted before still
// shows the old queue and would push the limit down twice); a rise is taken a quarter at a
// time, and not at all while the work in flight stayed under half the
// limit (the limit is not what holds the work back then). A window with a
// dropped piece of work cuts the limit by a tenth at least.

const (
	riseShare   = 0.25 // share of a computed rise taken per window
	dropFactor  = 0.9  // the limit after a window with drops, at most
	minGradient = 0.5
)

// beginProbeLocked pins the limit to its minimum until the next window
// closes. l.mu is held.
func (l *Limiter) beginProbeLocked(now time.Time) {
	w := &l.w
	w.probing, w.since, w.lastProbe = true, now, now
	l.limit.Store(int64(l.cfg.minLimit))
	w.start, w.sum, w.n, w.drops, w.maxInflight = now, 0, 0, 0, 0
}

// updateLocked closes the window ending at now and sets the next limit.
// l.mu is held.
func (l *Limiter) updateLocked(now time.Time) {
	w := &l.w
	avg := w.sum / time.Duration(w.n)
	lf := l.lf
	minL, maxL := float64(l.cfg.minLimit), float64(l.cfg.maxLimit)

	if w.probing {
		w.probing, w.baseline = false, avg
		l.limit.Store(int64(lf))
		w.start, w.sum, w.n, w.drops, w.maxInflight = now, 0, 0, 0, 0
		return
	}
	if w.baseline == 0 || avg < w.baseline || w.maxInflight <= int64(minL) {
		w.baseline = avg
	}

	gradient := 1.0
	if avg > 0 {
		gradient = l.cfg.tolerance * float64(w.baseline) / float64(avg)
	}
	gradient = math.Max(minGradient, math.Min(1, gradient))
	next := lf * gradient
	if gradient == 1 {
		next += math.Sqrt(lf)
	}
	if w.drops > 0 {
		next = math.Min(next, lf*dropFactor)
	}
	if next > lf {
		if float64(w.maxInflight) < lf/2 {
			next = lf
		} else {
			next = lf + (next-lf)*riseShare
		}
	}
	next = math.Max(minL, math.Min(maxL, next))
	if next < lf {
		w.since = now
	}
	l.lf = next
	l.limit.Store(int64(next))
	w.start, w.sum, w.n, w.drops, w.maxInflight = now, 0, 0, 0, 0
	if now.Sub(w.lastProbe) >= l.cfg.probeEvery {
		l.beginProbeLocked(now)
	}
}
