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
// window's average; between probes it only falls (an eighth of the way
// to a lower window average, so that noise does not drag it down; all the
// way to one below half of it, as after a stall), and it is re-measured as in a probe whenever a window ran with
// no more than the minimum in flight (the latency cannot be queueing
// then). A baseline that only moved with the load would follow the
// service's own queue upward and let it grow without end.
//
// The gradient is tolerance × baseline / average, kept within [0.5, 1]:
// 1 while work runs within tolerance of unloaded, smaller as it slows.
// The new limit is limit × gradient + √limit (the headroom that lets it
// probe upward). A fall applies at once, and the windows after it count
// only work admitted under the new limit (what was admitted before still
// shows the old queue and would push the limit down twice); a rise is taken half at a
// time (at least 1), and not at all while the work in flight stayed under half the
// limit (the limit is not what holds the work back then). A window with a
// dropped piece of work cuts the limit by a tenth at least.
//
// Every Release updates the open window with atomic adds; the one that
// finds the window due closes it under a mutex the others never wait for.

const (
	riseShare    = 0.5 // share of a computed rise taken per window (at least 1)
	dropFactor   = 0.9 // the limit after a window with drops, at most
	minGradient  = 0.5
	baselineFall = 8 // a lower window average moves the baseline 1/8 of the way
)

// beginProbeLocked pins the limit to its minimum until the next window
// closes. l.mu is held.
func (l *Limiter) beginProbeLocked(now time.Duration) {
	l.probing, l.lastProbe = true, now
	l.limit.Store(int64(l.cfg.minLimit))
	l.resetWindowLocked(now)
	l.since.Store(int64(now))
}

// resetWindowLocked opens the next window at now. l.mu is held.
func (l *Limiter) resetWindowLocked(now time.Duration) {
	l.n.Store(0)
	l.sum.Store(0)
	l.drops.Store(0)
	l.maxInflight.Store(0)
	l.closeAt.Store(int64(now + max(l.cfg.window, 2*l.baseline)))
}

// updateLocked closes the window ending at now and sets the next limit.
// l.mu is held.
func (l *Limiter) updateLocked(now time.Duration) {
	n, sum := l.n.Swap(0), l.sum.Swap(0)
	drops, maxInflight := l.drops.Swap(0), l.maxInflight.Swap(0)
	avg := time.Duration(sum / max(1, n))
	if l.sampling {
		l.adjustSamplingLocked(n)
	}
	lf := l.lf
	minL, maxL := float64(l.cfg.minLimit), float64(l.cfg.maxLimit)

	if l.probing {
		l.probing, l.baseline = false, avg
		l.limit.Store(int64(lf))
		l.resetWindowLocked(now)
		return
	}
	switch {
	case l.baseline == 0 || maxInflight <= int64(minL):
		l.baseline = avg
	case avg < l.baseline/2:
		// Far below: the baseline was taken during a stall (at the
		// minimum limit) that is over.
		l.baseline = avg
	case avg < l.baseline:
		// Towards a slightly lower average a step at a time: the lowest of
		// many noisy averages is lower than the unloaded latency, and a
		// baseline taken from it would cut the limit on noise.
		l.baseline -= (l.baseline - avg) / baselineFall
	}

	gradient := 1.0
	if avg > 0 {
		gradient = l.cfg.tolerance * float64(l.baseline) / float64(avg)
	}
	gradient = math.Max(minGradient, math.Min(1, gradient))
	next := lf * gradient
	if gradient == 1 {
		next += math.Sqrt(lf)
	}
	if drops > 0 {
		next = math.Min(next, lf*dropFactor)
	}
	if next > lf {
		if float64(maxInflight) < lf/2 {
			next = lf
		} else {
			next = lf + max(1, (next-lf)*riseShare)
		}
	}
	next = math.Max(minL, math.Min(maxL, next))
	if next < lf {
		l.since.Store(int64(now))
	}
	l.lf = next
	l.limit.Store(int64(next))
	l.resetWindowLocked(now)
	if now-l.lastProbe >= l.cfg.probeEvery {
		l.beginProbeLocked(now)
	}
}

// On the real clock a clock read costs more than the rest of the admit
// path together (several hundred nanoseconds on some virtual machines),
// so when windows fill with many more samples than they need, only a
// random share of permits is timed: enough for about eight times the
// window's minimum samples, never less than one in 64. At the rates where
// the limit matters for latency (a few thousand a second or fewer) every
// permit is timed.
const (
	samplesWanted = 8
	minSampleRate = 1.0 / 64
)

func (l *Limiter) adjustSamplingLocked(sampled int64) {
	rate := 1.0
	if r := l.sampleBelow.Load(); r != math.MaxUint64 {
		rate = float64(r) / math.MaxUint64
	}
	total := float64(sampled) / rate
	want := math.Max(minSampleRate, math.Min(1, float64(samplesWanted*l.cfg.samples)/total))
	if want >= 1 {
		l.sampleBelow.Store(math.MaxUint64)
	} else {
		l.sampleBelow.Store(uint64(want * math.MaxUint64))
	}
}
