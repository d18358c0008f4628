package queue

import (
	"encoding/binary"
	"hash/crc32"
)

// Format 1, written by opskit before format 2, had no file header: a
// segment was a plain sequence of records, each an 8-byte prefix (u32 body
// length, u32 CRC32C of the body) and the body. A payload holding the
// bytes of a valid record could be mistaken for one after damage, and
// resyncing tried every byte offset. Format 1 segments are still read (never
// written): they drain, and compaction copies what they still hold into
// format 2 segments before deleting them.
const v1Prefix = 8

// decodeV1 decodes the format 1 record at the start of buf and returns it
// with its encoded length. It never panics, and never returns a record
// whose checksum does not match.
func decodeV1(buf []byte) (record, int, error) {
	if len(buf) < v1Prefix {
		return record{}, 0, errShort
	}
	body := binary.LittleEndian.Uint32(buf[0:])
	if body < bodyHeader || body > maxBodySize {
		return record{}, 0, errBadRecord
	}
	n := v1Prefix + int(body)
	if len(buf) < n {
		return record{}, 0, errShort
	}
	b := buf[v1Prefix:n]
	if crc32.Checksum(b, crcTable) != binary.LittleEndian.Uint32(buf[4:]) {
		return record{}, 0, errBadRecord
	}
	r, err := decodeBody(b)
	if err != nil {
		return record{}, 0, err
	}
	return r, n, nil
}

// scanV1 walks the format 1 records in data. After a bad record it looks
// for the next offset holding a valid record; if one exists the bytes
// between are reported to bad, otherwise scanning stops. It returns the end
// of the last valid record.
func scanV1(data []byte, good func(r *record, off, n int), bad func(off, n int)) int64 {
	var valid int64
	off := 0
	for off < len(data) {
		r, n, err := decodeV1(data[off:])
		if err == nil {
			good(&r, off, n)
			off += n
			valid = int64(off)
			continue
		}
		next := -1
		for i := off + 1; i+v1Prefix+bodyHeader <= len(data); i++ {
			if _, _, err := decodeV1(data[i:]); err == nil {
				next = i
				break
			}
		}
		if next < 0 {
			break // torn or damaged tail
		}
		bad(off, next-off)
		off = next
	}
	return valid
}
