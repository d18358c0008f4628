package queue

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Format 2 segment files.
//
// A file starts with a 16-byte header: the magic "OPSKITQ\x00", the format
// version (u32) and a CRC32C of those 12 bytes. The file is cut into 32 KiB
// blocks (the header is in the first). A record body is written as one or
// more chunks, each
//
//	0  u32 CRC32C of the data
//	4  u16 data length
//	6  u8  chunk type: full, or first / middle / last of a fragmented body
//	7  u32 CRC32C of bytes 0..6 (the header's own checksum)
//	11     data
//
// A chunk never crosses a block boundary: a body that does not fit is
// fragmented, and when no more than a chunk header is left in a block it
// is zero padding. So every block starts with a chunk header, and payload
// bytes are never read as a header: a reader that meets a chunk whose
// header is bad skips to the next block (LevelDB's log format makes the
// same choice), and one whose header is intact but data is not skips just
// that chunk. Damage costs at most the block it is in plus the records
// that cross it, and skipping it costs one read per damaged block.
const (
	blockSize      = 32 << 10
	chunkHeader    = 11
	fileHeaderSize = 16
	formatVersion  = 2
)

const (
	chFull byte = iota + 1
	chFirst
	chMiddle
	chLast
)

var fileMagic = []byte("OPSKITQ\x00")

var zeros [chunkHeader]byte

// fileHeader returns the header of a format 2 segment.
func fileHeader() []byte {
	h := make([]byte, fileHeaderSize)
	copy(h, fileMagic)
	binary.LittleEndian.PutUint32(h[8:], formatVersion)
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], crcTable))
	return h
}

// headerVersion reads a segment's first bytes: the format version, or 1
// for a file without the magic (format 1 had no header). A header with the
// magic and a bad checksum is an error.
func headerVersion(h []byte) (int, error) {
	if len(h) < len(fileMagic) || !bytes.Equal(h[:len(fileMagic)], fileMagic) {
		return 1, nil
	}
	if len(h) < fileHeaderSize || crc32.Checksum(h[:12], crcTable) != binary.LittleEndian.Uint32(h[12:]) {
		return 0, errBadRecord
	}
	v := int(binary.LittleEndian.Uint32(h[8:]))
	if v < formatVersion {
		return 0, errBadRecord // no version below 2 has a header
	}
	return v, nil
}

// appendFramed appends body, framed, to dst, whose end lands at file offset
// pos, and returns the result and the offset where the record starts
// (after any block padding).
func appendFramed(dst []byte, pos int64, body []byte) ([]byte, int64) {
	if left := blockSize - pos%blockSize; left <= chunkHeader {
		dst = append(dst, zeros[:left]...)
		pos += left
	}
	start := pos
	first := true
	for {
		left := int(blockSize - pos%blockSize)
		take := min(len(body), left-chunkHeader)
		last := take == len(body)
		typ := chMiddle
		switch {
		case first && last:
			typ = chFull
		case first:
			typ = chFirst
		case last:
			typ = chLast
		}
		n := len(dst)
		dst = append(dst, zeros[:]...)
		h := dst[n:]
		binary.LittleEndian.PutUint32(h[0:], crc32.Checksum(body[:take], crcTable))
		binary.LittleEndian.PutUint16(h[4:], uint16(take))
		h[6] = typ
		binary.LittleEndian.PutUint32(h[7:], crc32.Checksum(h[:7], crcTable))
		dst = append(dst, body[:take]...)
		pos += int64(chunkHeader + take)
		body = body[take:]
		if last {
			return dst, start
		}
		first = false
	}
}

// framedEnd returns where a body of n bytes written at pos ends.
func framedEnd(pos int64, n int) int64 {
	if left := blockSize - pos%blockSize; left <= chunkHeader {
		pos += left
	}
	for {
		left := int(blockSize - pos%blockSize)
		take := min(n, left-chunkHeader)
		pos += int64(chunkHeader + take)
		n -= take
		if n == 0 {
			return pos
		}
	}
}

// chunkStatus says what chunkAt found.
type chunkStatus uint8

const (
	chunkOK      chunkStatus = iota
	chunkBadData             // the header is intact (its length can be trusted), the data is not
	chunkBad                 // no intact header here: nothing after it in the block can be trusted
)

// chunkAt parses the chunk at buf[p:], which lies at file offset abs. It
// returns the chunk type, its data, its end in buf and whether it is
// intact.
func chunkAt(buf []byte, p int, abs int64) (typ byte, data []byte, end int, st chunkStatus) {
	left := int(blockSize - abs%blockSize)
	if p+chunkHeader > len(buf) || left <= chunkHeader {
		return 0, nil, 0, chunkBad
	}
	h := buf[p : p+chunkHeader]
	if crc32.Checksum(h[:7], crcTable) != binary.LittleEndian.Uint32(h[7:]) {
		return 0, nil, 0, chunkBad
	}
	n := int(binary.LittleEndian.Uint16(h[4:]))
	end = p + chunkHeader + n
	typ = h[6]
	if chunkHeader+n > left || typ < chFull || typ > chLast {
		return 0, nil, 0, chunkBad
	}
	if end > len(buf) {
		return 0, nil, 0, chunkBad // the file ends inside the chunk
	}
	if crc32.Checksum(buf[p+chunkHeader:end], crcTable) != binary.LittleEndian.Uint32(h[0:]) {
		return typ, nil, end, chunkBadData
	}
	return typ, buf[p+chunkHeader : end], end, chunkOK
}

// unframe reassembles the one record body framed in buf, which starts at
// file offset off and must end where buf does. A body in one chunk aliases
// buf.
func unframe(buf []byte, off int64) ([]byte, error) {
	var body []byte
	started := false
	for p := 0; ; {
		typ, data, end, st := chunkAt(buf, p, off+int64(p))
		if st != chunkOK {
			return nil, errBadRecord
		}
		switch {
		case typ == chFull && !started:
			if end != len(buf) {
				return nil, errBadRecord
			}
			return data, nil
		case typ == chFirst && !started:
			started = true
			body = append(make([]byte, 0, len(buf)), data...)
		case typ == chMiddle && started:
			body = append(body, data...)
		case typ == chLast && started:
			if end != len(buf) {
				return nil, errBadRecord
			}
			return append(body, data...), nil
		default:
			return nil, errBadRecord
		}
		p = end
	}
}

// scanResult says what scanning one segment found.
type scanResult struct {
	version   int
	valid     int64    // end of the last intact record
	damaged   []Region // bad bytes followed by intact records
	headerBad bool     // the file header is damaged: never cut or append to it
}

// scanV2 reads the format 2 segment r of size bytes block by block and
// calls good for every intact record with its offset and framed size. A
// stretch of bad chunks followed by an intact record is reported to bad;
// bytes after the last intact record are left for the caller to judge
// (valid in the result). Reading is linear in the file's size.
func scanV2(r io.ReaderAt, size int64, name string, good func(rec *record, off int64, n int32)) (scanResult, error) {
	res := scanResult{version: formatVersion, valid: fileHeaderSize}
	buf := make([]byte, blockSize)
	var frag []byte
	fragStart, damage := int64(-1), int64(-1)
	markDamage := func(at int64) {
		if damage < 0 {
			damage = at
			if fragStart >= 0 {
				damage = fragStart
			}
		}
		fragStart = -1
	}
	emit := func(body []byte, off, end int64) {
		rec, err := decodeBody(body)
		if err != nil || end-off > maxBodySize {
			markDamage(off)
			return
		}
		if damage >= 0 {
			res.damaged = append(res.damaged, Region{Segment: name, Offset: damage, Length: off - damage})
			damage = -1
		}
		good(&rec, off, int32(end-off))
		res.valid = end
	}
	for bstart := int64(0); bstart < size; bstart += blockSize {
		n := int(min(blockSize, size-bstart))
		if _, err := r.ReadAt(buf[:n], bstart); err != nil {
			return res, fmt.Errorf("queue: segment %s: read at %d: %w", name, bstart, err)
		}
		b := buf[:n]
		p := 0
		if bstart == 0 {
			p = fileHeaderSize
		}
		for p < n && blockSize-p > chunkHeader {
			abs := bstart + int64(p)
			typ, data, end, st := chunkAt(b, p, abs)
			if st == chunkBad {
				markDamage(abs)
				break // resync at the next block
			}
			if st == chunkBadData {
				markDamage(abs)
				p = end
				continue
			}
			switch typ {
			case chFull:
				if fragStart >= 0 {
					markDamage(fragStart)
				}
				emit(data, abs, bstart+int64(end))
			case chFirst:
				if fragStart >= 0 {
					markDamage(fragStart)
				}
				fragStart = abs
				frag = append(frag[:0], data...)
			case chMiddle, chLast:
				if fragStart < 0 {
					markDamage(abs) // a fragment whose start was lost
					break
				}
				frag = append(frag, data...)
				if typ == chLast {
					start := fragStart
					fragStart = -1
					emit(frag, start, bstart+int64(end))
				}
			}
			p = end
		}
	}
	return res, nil
}
