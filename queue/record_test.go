package queue

import (
	"bytes"
	"strings"
	"testing"
)

func TestFrameRoundTripAcrossBlocks(t *testing.T) {
	in := record{typ: recEnqueue, flags: flagRelocated, attempt: 7, id: 42, notBefore: -5, time: 1 << 60,
		key: []byte("k"), payload: bytes.Repeat([]byte("p"), 3*blockSize)}
	body := appendBody(nil, &in)
	// Every position near a block end, including the ones that pad.
	for _, pos := range []int64{fileHeaderSize, blockSize - 100, blockSize - chunkHeader - 1, blockSize - chunkHeader,
		blockSize - 3, blockSize, 2*blockSize + 5} {
		for _, n := range []int{bodyHeader, 100, len(body)} {
			buf, start := appendFramed(nil, pos, body[:n])
			end := pos + int64(len(buf))
			if want := framedEnd(pos, n); end != want {
				t.Fatalf("pos %d n %d: framed end %d, framedEnd says %d", pos, n, end, want)
			}
			got, err := unframe(buf[start-pos:], start)
			if err != nil || !bytes.Equal(got, body[:n]) {
				t.Fatalf("pos %d n %d: unframe = %d bytes, %v", pos, n, len(got), err)
			}
			for i := range buf {
				if (pos+int64(i))%blockSize == 0 && int64(i) >= start-pos && (buf[i+6] < chFull || buf[i+6] > chLast) {
					t.Fatalf("pos %d n %d: block boundary at %d is not a chunk header", pos, n, pos+int64(i))
				}
			}
		}
	}
	out, err := decodeBody(body)
	if err != nil || out.id != 42 || out.attempt != 7 || out.notBefore != -5 || out.time != 1<<60 ||
		string(out.key) != "k" || len(out.payload) != 3*blockSize || out.flags != flagRelocated {
		t.Fatalf("decodeBody = %+v, %v", out, err)
	}
}

func TestAppendFramedAllocs(t *testing.T) {
	body := appendBody(nil, &record{typ: recEnqueue, id: 1, payload: make([]byte, 1024)})
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf, _ = appendFramed(buf[:0], blockSize-10, body) }); n != 0 {
		t.Fatalf("appendFramed allocates %v times, want 0", n)
	}
}

// A payload holding a validly framed record is data: with any one byte of
// the file flipped, scanning never yields the inner record.
func TestPayloadCannotFoolTheScan(t *testing.T) {
	inner := appendBody(nil, &record{typ: recEnqueue, id: 999, payload: []byte("never enqueued")})
	innerFramed, _ := appendFramed(nil, 0, inner)
	payload := bytes.Repeat(innerFramed, 3)
	file := fileHeader()
	pos := int64(len(file))
	for id := uint64(1); id <= 3; id++ {
		file, _ = appendFramed(file, pos, appendBody(nil, &record{typ: recEnqueue, id: id, payload: payload}))
		pos = int64(len(file))
	}
	for i := fileHeaderSize; i < len(file); i++ {
		data := bytes.Clone(file)
		data[i] ^= 0x01
		_, err := scanV2(bytes.NewReader(data), int64(len(data)), "t", func(r *record, off int64, n int32) {
			if r.id == 999 {
				t.Fatalf("flip at %d: the scan returned the record inside a payload", i)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzScan(f *testing.F) {
	file := fileHeader()
	for id := uint64(1); id <= 3; id++ {
		file, _ = appendFramed(file, int64(len(file)), appendBody(nil, &record{typ: recEnqueue, id: id, key: []byte("key"),
			payload: []byte(strings.Repeat("x", int(id)*20000))}))
	}
	f.Add(file)
	f.Add(file[:100])
	f.Add(fileHeader())
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < fileHeaderSize {
			headerVersion(data)
			return
		}
		var last int64
		res, err := scanV2(bytes.NewReader(data), int64(len(data)), "f", func(r *record, off int64, n int32) {
			if off < last || off+int64(n) > int64(len(data)) || n <= 0 {
				t.Fatalf("record at %d+%d after %d, file %d", off, n, last, len(data))
			}
			last = off + int64(n)
			// What the scan returned reads back alone, the same.
			body, err := unframe(data[off:off+int64(n)], off)
			if err != nil {
				t.Fatalf("record at %d+%d does not unframe: %v", off, n, err)
			}
			again, err := decodeBody(body)
			if err != nil || again.id != r.id || !bytes.Equal(again.payload, r.payload) {
				t.Fatalf("record at %d differs when read alone", off)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.valid > int64(len(data)) {
			t.Fatalf("valid %d past the end %d", res.valid, len(data))
		}
		for _, g := range res.damaged {
			if g.Offset < 0 || g.Length <= 0 || g.Offset+g.Length > int64(len(data)) {
				t.Fatalf("bad region %+v of %d", g, len(data))
			}
		}
		// A format 1 scan of the same bytes never panics either.
		scanV1(data, func(r *record, off, n int) {}, func(off, n int) {})
	})
}

// countingReader counts ReadAt calls and bytes.
type countingReader struct {
	r            *bytes.Reader
	calls, bytes int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls++
	c.bytes += len(p)
	return c.r.ReadAt(p, off)
}

// Issue 13 item 6: skipping a damaged region costs one read of each of its
// blocks, once: 8 MiB of garbage between intact records is read exactly
// once, and the records after it are found.
func TestScanIsLinearInDamage(t *testing.T) {
	file := fileHeader()
	file, _ = appendFramed(file, int64(len(file)), appendBody(nil, &record{typ: recEnqueue, id: 1, payload: []byte("before")}))
	// Damage overwrites what the writer laid out in blocks: the record
	// after it starts at a block boundary.
	garbage := make([]byte, 8<<20+blockSize-len(file)%blockSize)
	for i := range garbage {
		garbage[i] = byte(i*7 + i>>9)
	}
	file = append(file, garbage...)
	file, _ = appendFramed(file, int64(len(file)), appendBody(nil, &record{typ: recEnqueue, id: 2, payload: []byte("after")}))
	cr := &countingReader{r: bytes.NewReader(file)}
	var ids []uint64
	res, err := scanV2(cr, int64(len(file)), "t", func(r *record, off int64, n int32) { ids = append(ids, r.id) })
	if err != nil {
		t.Fatal(err)
	}
	blocks := (len(file) + blockSize - 1) / blockSize
	if cr.calls != blocks || cr.bytes != len(file) {
		t.Fatalf("scan made %d reads of %d bytes, want %d reads of %d (each block once)", cr.calls, cr.bytes, blocks, len(file))
	}
	if len(ids) != 2 || ids[1] != 2 || len(res.damaged) != 1 {
		t.Fatalf("records %v, damage %+v; want both records and one damaged region", ids, res.damaged)
	}
}
