package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	in := record{typ: recEnqueue, flags: flagRelocated, attempt: 7, id: 42, notBefore: -5, time: 1 << 60,
		key: []byte("k"), payload: []byte("hello")}
	buf := appendRecord([]byte("prefix"), &in)
	out, n, err := decodeRecord(buf[6:])
	if err != nil || n != in.size() {
		t.Fatalf("decode = %d, %v; want %d, nil", n, err, in.size())
	}
	if out.typ != in.typ || out.flags != in.flags || out.attempt != in.attempt || out.id != in.id ||
		out.notBefore != in.notBefore || out.time != in.time || string(out.key) != "k" || string(out.payload) != "hello" {
		t.Fatalf("decode = %+v, want %+v", out, in)
	}
	for cut := range n {
		if _, _, err := decodeRecord(buf[6 : 6+cut]); !errors.Is(err, errShort) && !errors.Is(err, errBadRecord) {
			t.Fatalf("decode of %d of %d bytes = %v, want an error", cut, n, err)
		}
	}
}

func TestAppendRecordAllocs(t *testing.T) {
	r := record{typ: recEnqueue, id: 1, payload: make([]byte, 1024)}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = appendRecord(buf[:0], &r) }); n != 0 {
		t.Fatalf("appendRecord allocates %v times, want 0", n)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, &record{typ: recEnqueue, id: 1, key: []byte("key"), payload: []byte("payload")}))
	f.Add(appendRecord(nil, &record{typ: recAck, id: 9}))
	f.Add(appendRecord(nil, &record{typ: recDead, id: 3, payload: []byte("reason")})[:20])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, n, err := decodeRecord(data)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with length %d", err, n)
			}
			return
		}
		if n < headerSize || n > len(data) {
			t.Fatalf("length %d outside [%d, %d]", n, headerSize, len(data))
		}
		if crc32.Checksum(data[prefixSize:n], crcTable) != binary.LittleEndian.Uint32(data[4:]) {
			t.Fatal("returned a record whose checksum does not match")
		}
		if r.typ == 0 || r.typ >= recTypeEnd {
			t.Fatalf("returned unknown type %d", r.typ)
		}
		if again := appendRecord(nil, &r); !bytes.Equal(again, data[:n]) {
			t.Fatal("re-encoding differs from the bytes decoded")
		}
		// Scanning any bytes never panics and only yields valid records.
		var valid int64
		scanBytes(data, func(r *record, off int) {}, func(off, n int) {
			if off < 0 || n <= 0 || off+n > len(data) {
				t.Fatalf("bad region %d+%d of %d", off, n, len(data))
			}
		}, &valid)
	})
}
