package feature

import (
	"context"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Feature is the handle of one declared feature. Its Use, Fail and Done
// methods are the hot path: an atomic load of the registry's coarse clock,
// one or two atomic adds on the current minute's slot and, with a tenant in
// the context, a check (and, the first time that day, an atomic OR) of the
// day's tenant bitmap and membership filter. They never allocate, lock,
// block or log.
type Feature struct {
	r       *Registry
	direct  bool // copied from r.direct
	name    string
	owner   string
	desc    string
	since   time.Time
	track   atomic.Pointer[func(good bool)]
	off     atomic.Pointer[offState] // nil while the feature is on
	_       [64]byte                 // keeps the fields above, read on every use, off the minute counters' cache lines
	minutes [minuteSlots]minuteBucket
	days    [daySlots]dayBucket
	look    [lookSlots]lookPair
	lookCpy [lookSlots]lookCopy // guarded by r.mu
	reasons reasonTable
	swMu    sync.Mutex
	sw      switchVal // guarded by swMu
	// Calls Enabled refused in this process (the SwitchedOffReason), and
	// the Unix minutes of the first and the last.
	refused, refFirst, refLast atomic.Int64

	// Guarded by r.mu.
	total int64 // uses folded out of the minute slots since the counts began
	first int64 // Unix minute of the first use, 0 = never
	last  int64 // Unix minute of the last use folded, 0 = never
	// The failing episode as of the folded minutes (Unix minutes, 0 = none).
	epStart, epLast int64
}

// minuteBucket is one minute of one feature. Uses and failures share one
// word (uses in the low 36 bits, failures in the high 28), so that a use
// and a failure each cost one atomic add: up to 68 billion uses and 268
// million failures per feature, minute and instance.
type minuteBucket struct {
	count       atomic.Uint64
	latNs, latN atomic.Int64
}

const (
	failShift = 36
	useMask   = 1<<failShift - 1
	maxAdd    = 1 << 27 // the most one add may count, so that neither half overflows into the other
)

// counts splits a minute's word into uses and failures.
func counts(w uint64) (uses, fails int64) { return int64(w & useMask), int64(w >> failShift) }

type dayBucket struct {
	// Folded from the minutes; guarded by r.mu.
	uses, fails, latNs, latN int64
	firstFail, lastFail      int64
	bits                     [tenantWords]atomic.Uint64 // tenants who used it
	failBits                 [tenantWords]atomic.Uint64 // tenants for whom it failed
}

// Name returns the feature's declared name.
func (f *Feature) Name() string { return f.name }

// Owner returns the declared owner.
func (f *Feature) Owner() string { return f.owner }

// Since returns the declared ship date.
func (f *Feature) Since() time.Time { return f.since }

// Description returns the declared description.
func (f *Feature) Description() string { return f.desc }

// Use counts one successful use of the feature. With a context from
// Registry.WithTenant it also marks the tenant as a user today.
func (f *Feature) Use(ctx context.Context) { f.record(ctx, 1, false, 0, false) }

// UseN counts n successful uses (n <= 0 is ignored). A nil *Feature, as
// left by a failed Define, ignores every call.
func (f *Feature) UseN(ctx context.Context, n int64) {
	for n > maxAdd { // a huge n: in chunks that cannot overflow a half of the minute's word
		f.record(ctx, maxAdd, false, 0, false)
		n -= maxAdd
	}
	f.record(ctx, n, false, 0, false)
}

// Fail counts one use that failed for its caller. With a tenant in the
// context the tenant is marked both as a user and as a failing tenant
// today. It costs about twice Use and never allocates; to say why, call
// FailWith instead.
func (f *Feature) Fail(ctx context.Context) { f.record(ctx, 1, true, 0, false) }

// Done counts one use with its outcome and, when latency > 0, how long it
// took (reports show the mean).
func (f *Feature) Done(ctx context.Context, ok bool, latency time.Duration) {
	f.record(ctx, 1, !ok, latency, false)
}

// Track makes every later use of the feature also call record(good) — for
// example an slo objective's recording func (tracker.Record) — so that the
// feature's failures burn an error budget and page. record runs on the
// caller's goroutine inside Use, Fail and Done and must be cheap and
// non-blocking. Track(nil) stops it.
func (f *Feature) Track(record func(good bool)) {
	if f == nil {
		return
	}
	if record == nil {
		f.track.Store(nil)
		return
	}
	f.track.Store(&record)
}

// record counts n uses. refused marks the calls Enabled refused, which
// are not trial results.
func (f *Feature) record(ctx context.Context, n int64, failed bool, latency time.Duration, refused bool) {
	if f == nil || n <= 0 {
		return
	}
	if f.direct { // a fake or user clock: read it, so Advance shows at once
		f.r.refresh()
	}
	e := f.r.epoch.Load()
	// The plain loads (tenant, bitmap, filter) come before the atomic add,
	// which on most CPUs waits for earlier loads: a tenant already marked
	// today — the common case — costs no write and no wait.
	var t *tenant
	if tc, ok := ctx.(*tenantCtx); ok { // the context WithTenant returned: no walk up the chain
		t = &tc.t
	} else if ctx != nil {
		t, _ = ctx.Value(tenantKey).(*tenant)
	}
	var d *dayBucket
	var l *lookPair
	marked := true
	if t != nil {
		d = &f.days[(e>>daySlotShift)&daySlotMask]
		l = &f.look[(e>>lookSlotShift)&(lookSlots-1)]
		w, m := &l.used[t.probe.block], &t.probe.masks // l.used.has(t), written out: has does not inline
		marked = has(&d.bits, t.hash) &&
			w[0].Load()&m[0] == m[0] && w[1].Load()&m[1] == m[1] && w[2].Load()&m[2] == m[2] && w[3].Load()&m[3] == m[3] &&
			(!failed || has(&d.failBits, t.hash) && l.failed.has(t))
	}
	delta := uint64(n)
	if failed {
		delta |= uint64(n) << failShift
	}
	m := &f.minutes[e&minuteMask]
	m.count.Add(delta)
	if latency > 0 {
		m.latNs.Add(int64(latency) * n)
		m.latN.Add(n)
	}
	if !marked {
		mark(&d.bits, t.hash)
		l.used.mark(t)
		if failed {
			mark(&d.failBits, t.hash)
			l.failed.mark(t)
		}
		l.changed()
	}
	if rec := f.track.Load(); rec != nil {
		(*rec)(!failed)
	}
	if o := f.off.Load(); o != nil && !refused { // switched off: this is a trial's outcome
		if failed {
			o.failed.Add(n)
		} else {
			o.ok.Add(n)
		}
	}
}

// has reports whether the tenant's bit is set.
func has(b *[tenantWords]atomic.Uint64, h uint64) bool {
	bit := h & (tenantBits - 1)
	return b[bit>>6].Load()&(uint64(1)<<(bit&63)) != 0
}

// mark sets the tenant's bit, skipping the write when it is already set so
// that busy tenants do not bounce the cache line between cores.
func mark(b *[tenantWords]atomic.Uint64, h uint64) {
	bit := h & (tenantBits - 1)
	w := &b[bit>>6]
	m := uint64(1) << (bit & 63)
	if w.Load()&m == 0 {
		w.Or(m)
	}
}

type ctxKey struct{ _ byte }

// tenantKey is a pointer so that comparing context keys is one word
// comparison (a struct key costs a call per context level).
var tenantKey = &ctxKey{}

// tenant is the keyed hash of a tenant id and where it lands in the
// membership filters, computed once per request.
type tenant struct {
	hash  uint64
	probe probe
}

// tenantCtx is the context WithTenant returns. The hot path recognises it
// with one type comparison; a context derived from it (a cancel, a
// deadline, another value) is searched with Value, which answers the
// tenant for tenantKey and defers every other key to the parent.
type tenantCtx struct {
	context.Context
	t tenant
}

func (c *tenantCtx) Value(key any) any {
	if key == any(tenantKey) {
		return &c.t
	}
	return c.Context.Value(key)
}

// WithTenant returns a context carrying the tenant id, hashed once with the
// registry's secret key; the raw id is not kept. Do this once per request
// and pass the context to Use. An empty id returns ctx unchanged, so a
// request without a tenant header counts uses but no tenant.
func (r *Registry) WithTenant(ctx context.Context, id string) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	if id == "" {
		return ctx
	}
	h := sipHash(r.key, id)
	return &tenantCtx{Context: ctx, t: tenant{hash: h, probe: probeOf(h)}}
}

// driftEntry counts uses of one undeclared name.
type driftEntry struct {
	uses  atomic.Int64
	first atomic.Int64 // Unix minute
	last  atomic.Int64
}

// UseName counts a use by name. A declared name goes to its feature, as Use.
// An undeclared one goes to a bounded table (the least recently used are
// forgotten past the drift size) that reports show as catalog drift. This
// path does a map lookup and, for undeclared names, takes the table's lock.
func (r *Registry) UseName(ctx context.Context, name string) {
	if f, ok := (*r.byName.Load())[name]; ok {
		f.record(ctx, 1, false, 0, false)
		return
	}
	if name == "" {
		return
	}
	if r.direct {
		r.refresh()
	}
	now := r.nowMin.Load()
	e, ok := r.drift.Get(name)
	if !ok {
		e = &driftEntry{}
		e.first.Store(now)
		if prev, found, _ := r.drift.PeekOrAdd(name, e); found {
			e = prev
		}
	}
	e.uses.Add(1)
	e.last.Store(now)
}

// sipHash is SipHash-2-4 of s under key k: a keyed hash, so without the key
// nobody can test guessed tenant ids against the bitmaps.
func sipHash(k [2]uint64, s string) uint64 {
	v0 := k[0] ^ 0x736f6d6570736575
	v1 := k[1] ^ 0x646f72616e646f6d
	v2 := k[0] ^ 0x6c7967656e657261
	v3 := k[1] ^ 0x7465646279746573
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	n := len(s)
	for len(s) >= 8 {
		m := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		v3 ^= m
		round()
		round()
		v0 ^= m
		s = s[8:]
	}
	last := uint64(n) << 56
	for i := len(s) - 1; i >= 0; i-- {
		last |= uint64(s[i]) << (8 * uint(i))
	}
	v3 ^= last
	round()
	round()
	v0 ^= last
	v2 ^= 0xff
	for range 4 {
		round()
	}
	return v0 ^ v1 ^ v2 ^ v3
}
