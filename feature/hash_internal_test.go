package feature

import (
	"encoding/binary"
	"math"
	"strconv"
	"testing"
)

// TestSipHashVectors checks sipHash against the reference SipHash-2-4
// vectors (key 00..0f, message 00..len-1).
func TestSipHashVectors(t *testing.T) {
	var kb [16]byte
	for i := range kb {
		kb[i] = byte(i)
	}
	k := [2]uint64{binary.LittleEndian.Uint64(kb[:]), binary.LittleEndian.Uint64(kb[8:])}
	want := map[int]uint64{0: 0x726fdb47dd0e0e31, 1: 0x74f839c593dc67fd, 8: 0x93f5f5799a932462, 15: 0xa129ca6149be45e5}
	for n, w := range want {
		msg := make([]byte, n)
		for i := range msg {
			msg[i] = byte(i)
		}
		if got := sipHash(k, string(msg)); got != w {
			t.Errorf("sipHash(%d bytes) = %#x, want %#x", n, got, w)
		}
	}
}

// TestEstimateAccuracy checks the linear-counting estimate against known
// numbers of distinct tenants, within four standard errors of the method
// (the error the docs state), and that a full bitmap says it saturated.
func TestEstimateAccuracy(t *testing.T) {
	k := [2]uint64{42, 7}
	for _, n := range []int{1, 10, 100, 1000, 4096, 12000} {
		var b [tenantWords]uint64
		for i := range n {
			h := sipHash(k, "tenant-"+strconv.Itoa(i))
			bit := h & (tenantBits - 1)
			b[bit>>6] |= 1 << (bit & 63)
		}
		got, sat := estimate(&b)
		m := float64(tenantBits)
		tt := float64(n) / m
		stderr := math.Sqrt(m*(math.Exp(tt)-tt-1)) / float64(n)
		relErr := math.Abs(float64(got)-float64(n)) / float64(n)
		if relErr > 4*stderr+0.5/float64(n) {
			t.Errorf("n=%d: estimate %d, error %.2f%%, over 4×%.2f%%", n, got, 100*relErr, 100*stderr)
		}
		if sat {
			t.Errorf("n=%d: reported saturated", n)
		}
		t.Logf("n=%d estimate=%d error=%.2f%% (stated standard error %.2f%%)", n, got, 100*relErr, 100*stderr)
	}
	var full [tenantWords]uint64
	for i := range full {
		full[i] = math.MaxUint64
	}
	if _, sat := estimate(&full); !sat {
		t.Error("a full bitmap is not reported as saturated")
	}
}
