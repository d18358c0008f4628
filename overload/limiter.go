package overload

import (
	"errors"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/opskit/opskit/clock"
)

// Limiter is an adaptive concurrency limit. Work asks Acquire for a permit
// before it starts and releases it when done; past the limit, work is
// refused at once (never queued), lowest priority first. The limit follows
// the latency of finished work: it rises while work runs about as fast as
// unloaded, and falls when work slows down (queueing somewhere behind the
// limiter) or is dropped (timed out, refused downstream).
//
// A Limiter is safe for concurrent use and owns no goroutine.
type Limiter struct {
	clock  clock.Clock
	cfg    config
	origin time.Time // times below are nanoseconds since origin

	limit    atomic.Int64 // the current limit, read on every Acquire
	inflight atomic.Int64 // permits out, Exempt work not counted
	admitted [numPriorities]atomic.Int64
	shed     [numPriorities]atomic.Int64

	// The open sample window, filled without a lock by every Release.
	n, sum, drops atomic.Int64
	maxInflight   atomic.Int64
	closeAt       atomic.Int64 // the window may close once this time has come
	since         atomic.Int64 // work admitted before this is not counted
	// sampleBelow: a permit's latency is measured when a random uint64 is
	// at most this; MaxUint64 measures every permit (always so on a clock
	// that is not the real one).
	sampleBelow atomic.Uint64
	sampling    bool // whether sampleBelow may fall below MaxUint64

	mu sync.Mutex // held while a window closes
	lf float64    // the limit as a real number; limit holds its floor
	// baseline is the unloaded latency estimate, 0 until the first probe ends.
	baseline  time.Duration
	probing   bool // the limit is pinned to its minimum for one window
	lastProbe time.Duration

	metrics *metrics
}

// New returns a Limiter. Bad settings are rejected with an error naming
// the option and the value.
func New(opts ...Option) (*Limiter, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("overload: nil Option")
		}
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.clock == nil {
		cfg.clock = clock.Real()
	}
	if cfg.meterProvider == nil {
		cfg.meterProvider = otel.GetMeterProvider()
	}
	if cfg.name == "" {
		cfg.name = "default"
	}
	l := &Limiter{clock: cfg.clock, cfg: cfg, lf: float64(cfg.initialLimit)}
	l.limit.Store(int64(cfg.initialLimit))
	l.origin = l.clock.Now()
	l.sampleBelow.Store(math.MaxUint64)
	l.sampling = clock.IsReal(l.clock)
	l.beginProbeLocked(0)
	m, err := newMetrics(cfg.meterProvider, l)
	if err != nil {
		return nil, err
	}
	l.metrics = m
	return l, nil
}

// Close unregisters the limiter's metrics. It does not wait for anything;
// permits still out may be released afterwards.
func (l *Limiter) Close() error { return l.metrics.close() }

// Permit is admitted work. Call exactly one of Release or Drop when the
// work ends. The zero Permit (what Exempt work gets) does nothing.
type Permit struct {
	l     *Limiter
	start time.Duration // since l.origin; negative when its latency is not sampled
}

// Acquire admits work of priority p, or refuses it (false) when the
// concurrency in flight has reached what p may use: the whole limit for
// Critical, all but a tenth (at least one) for Normal, all but two tenths
// for Background, and never less than one. Exempt work is always admitted and not counted. Acquire
// allocates nothing and never blocks.
func (l *Limiter) Acquire(p Priority) (Permit, bool) {
	if p >= Exempt {
		l.admitted[Exempt].Add(1)
		return Permit{}, true
	}
	lim := l.limit.Load()
	max := max(1, lim-reserve(lim)*int64(Critical-p))
	for {
		n := l.inflight.Load()
		if n >= max {
			l.shed[p].Add(1)
			return Permit{}, false
		}
		if l.inflight.CompareAndSwap(n, n+1) {
			break
		}
	}
	l.admitted[p].Add(1)
	if r := l.sampleBelow.Load(); r != math.MaxUint64 && rand.Uint64() > r {
		return Permit{l: l, start: -1}, true
	}
	return Permit{l: l, start: l.now()}, true
}

// reserve is how much of limit each priority above the lowest keeps for
// itself: a tenth, at least one.
func reserve(limit int64) int64 {
	if r := limit / 10; r > 1 {
		return r
	}
	return 1
}

// Release ends admitted work that finished (successfully or not, for
// reasons other than overload); its latency feeds the limit.
func (p Permit) Release() {
	if p.l != nil {
		p.l.finish(p.start, false)
	}
}

// Drop ends admitted work that failed in a way that signals overload: it
// timed out, or a downstream refused it as overloaded. Any drop in a
// sample window cuts the limit by at least a tenth.
func (p Permit) Drop() {
	if p.l != nil {
		p.l.finish(p.start, true)
	}
}

// Limit returns the current concurrency limit.
func (l *Limiter) Limit() int { return int(l.limit.Load()) }

// InFlight returns the permits out (Exempt work not counted).
func (l *Limiter) InFlight() int { return int(l.inflight.Load()) }

// Shed returns how many requests of priority p were refused so far.
func (l *Limiter) Shed(p Priority) int64 {
	if p >= numPriorities {
		return 0
	}
	return l.shed[p].Load()
}

func (l *Limiter) now() time.Duration { return l.clock.Now().Sub(l.origin) }

func (l *Limiter) finish(start time.Duration, dropped bool) {
	in := l.inflight.Add(-1) + 1
	if dropped {
		l.drops.Add(1)
	}
	if start < 0 {
		return // not sampled
	}
	now := l.now()
	if int64(start) < l.since.Load() {
		return // admitted under an older, higher limit: says nothing of this one
	}
	l.sum.Add(int64(max(0, now-start)))
	n := l.n.Add(1)
	for {
		m := l.maxInflight.Load()
		if in <= m || l.maxInflight.CompareAndSwap(m, in) {
			break
		}
	}
	if n >= int64(l.cfg.samples) && int64(now) >= l.closeAt.Load() && l.mu.TryLock() {
		// Whoever holds the lock is closing this window already; the
		// samples added meanwhile go to the next one.
		if l.n.Load() >= int64(l.cfg.samples) && int64(now) >= l.closeAt.Load() {
			l.updateLocked(now)
		}
		l.mu.Unlock()
	}
}
