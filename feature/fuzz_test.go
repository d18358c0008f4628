package feature

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
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
	// With outcomes: failures, a failing-tenant bitmap, filters, reasons.
	ds := fs.Days[19000]
	ds.Fails, ds.LatNs, ds.LatN, ds.FirstFail, ds.LastFail = 3, 5e6, 2, 27360000, 27360010
	ds.FailBits[1] = 0x10
	ds.Look = &lookState{}
	ds.Look.Used[7], ds.Look.Failed[1023] = 0xff, 1
	fs.Reasons = []Reason{{Text: "dial # refused", Count: 3, First: time.Unix(1700000000, 0).UTC(), Last: time.Unix(1700000100, 0).UTC(), TraceIDs: []string{"0102030405060708090a0b0c0d0e0f10"}}}
	f.Add(encodeState(st))
	v2 := encodeState(st)                                      // without a switch or episode, v3 differs only in magic and two zero fields
	f.Add(append([]byte(snapMagicV2), v2[len(snapMagic):]...)) // a v2 magic over v3 fields: must fail cleanly
	// With a failing episode and a switch (v3).
	fs.EpStart, fs.EpLast = 28000050, 28000090
	fs.Switch = &SwitchState{Since: time.Unix(1700000050, 123).UTC(), Actor: "automation", Why: "pricing down", Trial: 0.1, TrialOK: 4, TrialFailed: 1, Refused: 40}
	f.Add(encodeState(st))
	f.Add(v1Snapshot())
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

// v1Snapshot is a version-1 snapshot (before outcomes) with one feature-day.
func v1Snapshot() []byte {
	b := []byte(snapMagicV1)
	b = binary.AppendVarint(b, 1700000000)
	b = appendString(b, "old")
	b = binary.AppendUvarint(b, 1)
	for _, s := range []string{"search", "o", "d"} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, 1600000000)
	b = binary.AppendUvarint(b, 12)
	b = binary.AppendVarint(b, 28000000)
	b = binary.AppendVarint(b, 28000100)
	b = binary.AppendUvarint(b, 1) // one day
	b = binary.AppendVarint(b, 19000)
	b = binary.AppendUvarint(b, 12)
	b = appendSparse(b, []uint64{0, 0, 0, 0x8001})
	b = binary.AppendUvarint(b, 0) // no drift
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestVersion1SnapshotsStillDecode: a snapshot written before outcomes
// existed restores its uses and tenants.
func TestVersion1SnapshotsStillDecode(t *testing.T) {
	st, err := decodeState(v1Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	ds := st.Features["search"].Days[19000]
	if ds.Uses != 12 || ds.Bits[3] != 0x8001 || ds.Fails != 0 || ds.Look != nil {
		t.Errorf("decoded day %+v", ds)
	}
}

// TestSnapshotKeepsSwitchAndEpisode: version 3 carries a feature's switch
// and failing episode through encode and decode; a version-2 snapshot
// (without them) still decodes.
func TestSnapshotKeepsSwitchAndEpisode(t *testing.T) {
	st := newState("a", time.Unix(1700000000, 0))
	sw := &SwitchState{Since: time.Unix(1700000050, 123).UTC(), Actor: "automation", Why: "pricing down", Trial: 0.1, TrialOK: 4, TrialFailed: 1, Refused: 40}
	st.Features["x"] = &featState{Name: "x", Since: time.Unix(1600000000, 0).UTC(), Days: map[int64]*dayState{}, EpStart: 28000050, EpLast: 28000090, Switch: sw}
	got, err := decodeState(encodeState(st))
	if err != nil {
		t.Fatal(err)
	}
	if g := got.Features["x"]; *g.Switch != *sw || g.EpStart != 28000050 || g.EpLast != 28000090 {
		t.Errorf("decoded %+v switch %+v", g, g.Switch)
	}
	st.Features["x"].Switch, st.Features["x"].EpStart, st.Features["x"].EpLast = nil, 0, 0
	v3 := encodeState(st)
	body := v3[:len(v3)-4]
	// v3 ends: nreasons(0) episode(0 0) no-switch(0) ndrift(0); v2 has no episode or switch.
	v2 := append([]byte(snapMagicV2), body[len(snapMagic):len(body)-4]...)
	v2 = append(v2, 0)
	v2 = binary.LittleEndian.AppendUint32(v2, crc32.Checksum(v2, castagnoli))
	old, err := decodeState(v2)
	if err != nil {
		t.Fatalf("version 2: %v", err)
	}
	if f := old.Features["x"]; f == nil || f.Switch != nil || f.EpLast != 0 {
		t.Errorf("version 2 decoded %+v", f)
	}
	bad := *sw
	bad.Trial = 0.9
	st.Features["x"].Switch = &bad
	if _, err := decodeState(encodeState(st)); err == nil || !strings.Contains(err.Error(), "switch trial 0.9") {
		t.Errorf("a trial of 0.9 decoded: %v", err)
	}
}
