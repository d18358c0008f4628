package feature

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"
)

// FuzzDecodeState feeds arbitrary bytes to the snapshot decoder: it must
// never panic, and what it accepts must encode back to the same bytes.
func FuzzDecodeState(f *testing.F) {
	st := newState("seed", time.Unix(1700000000, 0))
	fs := &featState{Name: "search", Owner: "o", Description: "d", Since: time.Unix(1600000000, 0).UTC(),
		Total: 12, First: 28000000, Last: 28000100, Days: map[int64]*dayState{19000: {Uses: 12}}}
	fs.Days[19000].Bits[3] = 0x8001
	st.Features["search"] = fs
	st.Drift["typo"] = &driftState{Name: "typo", Uses: 2, First: 28000000, Last: 28000001}
	enc := encodeState(st)
	f.Add(enc)
	f.Add(enc[:len(enc)-4]) // the body alone: the fuzzer seals it
	f.Add(encodeState(newState("", time.Unix(0, 0))))
	f.Add([]byte("OPSKITF1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeState(b)
		// Most mutations fail the checksum; seal them so the parser behind it
		// is explored too.
		sealed := binary.LittleEndian.AppendUint32(append([]byte(nil), b...), crc32.Checksum(b, castagnoli))
		got, err := decodeState(sealed)
		if err != nil {
			return
		}
		again := encodeState(got)
		back, err := decodeState(again)
		if err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
		if len(back.Features) != len(got.Features) || len(back.Drift) != len(got.Drift) {
			t.Fatalf("round trip lost entries")
		}
	})
}
