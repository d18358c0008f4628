package feature

import (
	"math/bits"
	"sync/atomic"
)

// The membership filter answers "did tenant X use this feature on day D,
// and did it fail for them?" without keeping tenant ids. It is a split-block
// Bloom filter of keyed tenant hashes: 65,536 bits (8 KiB) per feature, day
// and kind (used, failed), in 256 blocks of 256 bits; a tenant sets one bit
// in each of the eight 32-bit lanes of one block, so a use touches one
// cache line. It never misses a tenant that was marked; it can wrongly
// match a tenant that was not. Measured false-positive rates
// (TestLookupFalsePositiveRate): see FilterFalsePositive.
const (
	bloomBits   = 1 << 16
	bloomWords  = bloomBits / 64
	bloomBlocks = bloomWords / 4
)

// FilterFalsePositive states the membership filter's false-positive rate
// (the chance that a tenant who did not use a feature on a day matches
// anyway) by the number of distinct tenants that used it that day. The
// figures are measured by TestLookupFalsePositiveRate; the support view
// also states, per answer, the chance for the block the tenant falls in.
func FilterFalsePositive(tenants int) float64 {
	switch {
	case tenants <= 1000:
		return 0.00001 // measured 0.0005 %
	case tenants <= 5000:
		return 0.004 // measured 0.37 %
	case tenants <= 20000:
		return 0.5 // measured 49.5 %: at this size a match says little
	}
	return 1
}

// The eight odd multipliers that spread a 32-bit hash over the eight lanes
// (those of the Parquet split-block Bloom filter).
var laneSalts = [8]uint32{0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31}

// probe is where a tenant lands in a filter: the first word of its block and
// the bits to set in each of the block's four words.
type probe struct {
	block uint8 // bloomBlocks is 256: no bounds check
	masks [4]uint64
}

func probeOf(h uint64) probe {
	p := probe{block: uint8(h >> 56)} // 256 blocks: the top 8 bits
	x := uint32(h >> 12)              // skip the bits the tenant bitmap uses
	for i, salt := range laneSalts {
		bit := (x * salt) >> 27
		p.masks[i/2] |= uint64(1) << (bit + 32*uint32(i%2))
	}
	return p
}

type bloom [bloomBlocks][4]atomic.Uint64

// mark sets the tenant's bits, writing only the words that miss some.
func (b *bloom) mark(t *tenant) {
	w := &b[t.probe.block]
	m := &t.probe.masks
	for i := range w {
		if w[i].Load()&m[i] != m[i] {
			w[i].Or(m[i])
		}
	}
}

// has reports whether every bit of the tenant is set.
func (b *bloom) has(t *tenant) bool {
	w, m := &b[t.probe.block], &t.probe.masks
	return w[0].Load()&m[0] == m[0] && w[1].Load()&m[1] == m[1] && w[2].Load()&m[2] == m[2] && w[3].Load()&m[3] == m[3]
}

// word is the filter's i-th 64-bit word.
func (b *bloom) word(i int) *atomic.Uint64 { return &b[i/4][i%4] }

func (b *bloom) reset() {
	for i := range bloomWords {
		b.word(i).Store(0)
	}
}

func (b *bloom) empty() bool {
	for i := range bloomWords {
		if b.word(i).Load() != 0 {
			return false
		}
	}
	return true
}

// lookPair is one day's filters of one feature. dirty is set after a
// mark changed a filter, so a capture copies only the filters that
// changed since the last one.
type lookPair struct {
	used, failed bloom
	dirty        atomic.Bool
}

// changed notes that the pair was marked; the write is skipped when the
// flag is already set.
func (l *lookPair) changed() {
	if !l.dirty.Load() {
		l.dirty.Store(true)
	}
}

// lookCopy is a capture's copy of a lookPair, kept so that the next
// capture can reuse it when the pair has not changed. Guarded by r.mu.
type lookCopy struct {
	day   int64
	valid bool
	state *lookState // nil: both filters empty
}

// copyOf returns the pair's filters as of now for day, reusing the last
// copy when nothing was marked since. The returned state is shared and
// must not be modified. Requires r.mu.
func (c *lookCopy) copyOf(l *lookPair, day int64) *lookState {
	// Clear the flag before copying: a mark racing with the copy sets it
	// again, so the next capture copies again.
	dirty := l.dirty.Load() && l.dirty.Swap(false)
	if dirty || !c.valid || c.day != day {
		c.day, c.valid, c.state = day, true, l.load()
	}
	return c.state
}

// load copies the pair, or returns nil when both are empty.
func (l *lookPair) load() *lookState {
	if l.used.empty() && l.failed.empty() {
		return nil
	}
	s := &lookState{}
	for i := range s.Used {
		s.Used[i] = l.used.word(i).Load()
		s.Failed[i] = l.failed.word(i).Load()
	}
	return s
}

func (l *lookPair) or(s *lookState) {
	defer l.changed()
	for i := range s.Used {
		if w := s.Used[i]; w != 0 {
			l.used.word(i).Or(w)
		}
		if w := s.Failed[i]; w != 0 {
			l.failed.word(i).Or(w)
		}
	}
}

// test reports whether the tenant matches the filter words and, when it
// does, the chance that a tenant who was never marked would match this
// block as well: the product over the eight lanes of the share of bits set.
func test(words *[bloomWords]uint64, p probe) (match bool, falsePositive float64) {
	w := words[int(p.block)*4 : int(p.block)*4+4]
	for i, m := range p.masks {
		if w[i]&m != m {
			return false, 0
		}
	}
	fp := 1.0
	for _, x := range w {
		fp *= float64(bits.OnesCount32(uint32(x))) / 32
		fp *= float64(bits.OnesCount32(uint32(x>>32))) / 32
	}
	return true, fp
}
