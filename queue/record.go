package queue

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A segment file is a sequence of records, each laid out little-endian as
//
//	0  u32  body length (bytes after this 8-byte prefix)
//	4  u32  CRC32C (Castagnoli) of the body
//	   body:
//	8  u8   record type
//	9  u8   flags
//	10 u16  dedupe key length
//	12 u32  attempt
//	16 u64  message id
//	24 i64  not-before time, Unix nanoseconds (0: none)
//	32 i64  event time, Unix nanoseconds (for an enqueue: when it was enqueued)
//	40 key, then payload (the rest of the body)
//
// There is no file header: a segment's name is the first message id it may
// hold, so an empty file is a valid segment.
const (
	prefixSize  = 8
	bodyHeader  = 32
	headerSize  = prefixSize + bodyHeader
	maxBodySize = 1<<30 - 1 // far above any accepted payload; bounds decoding
	// MaxKeyLen is the longest accepted deduplication key, in bytes.
	MaxKeyLen = 1024
)

// recType says what a record does to the message it names.
type recType uint8

const (
	recEnqueue recType = iota + 1 // a message and its payload (also a relocated copy)
	recAck                        // delivered and done: forget it
	recNack                       // failed delivery: attempt and next not-before time
	recDead                       // moved to the dead letters; payload is the reason
	recRequeue                    // dead letter back to ready with attempts reset
	recPurge                      // dead letter removed
	recLease                      // delivered: attempt counted before the handler ran
	recTypeEnd
)

// flagRelocated marks an enqueue record copied forward by compaction: it is
// a snapshot of a message that already existed, not a new one.
const flagRelocated = 1

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// record is one decoded record. key and payload alias the buffer decoded.
type record struct {
	typ       recType
	flags     uint8
	attempt   uint32
	id        uint64
	notBefore int64
	time      int64
	key       []byte
	payload   []byte
}

// size is the encoded length of r.
func (r *record) size() int { return headerSize + len(r.key) + len(r.payload) }

// appendRecord appends the encoding of r to dst.
func appendRecord(dst []byte, r *record) []byte {
	n := len(dst)
	body := bodyHeader + len(r.key) + len(r.payload)
	dst = append(dst, make([]byte, headerSize)...)
	h := dst[n:]
	binary.LittleEndian.PutUint32(h[0:], uint32(body))
	h[8] = byte(r.typ)
	h[9] = r.flags
	binary.LittleEndian.PutUint16(h[10:], uint16(len(r.key)))
	binary.LittleEndian.PutUint32(h[12:], r.attempt)
	binary.LittleEndian.PutUint64(h[16:], r.id)
	binary.LittleEndian.PutUint64(h[24:], uint64(r.notBefore))
	binary.LittleEndian.PutUint64(h[32:], uint64(r.time))
	dst = append(dst, r.key...)
	dst = append(dst, r.payload...)
	binary.LittleEndian.PutUint32(dst[n+4:], crc32.Checksum(dst[n+prefixSize:], crcTable))
	return dst
}

var (
	// errShort means buf ends before the record does: a torn tail, or a
	// read that needs more bytes.
	errShort = errors.New("queue: record truncated")
	// errBadRecord means the bytes are not a valid record: a wrong
	// checksum, an impossible length or an unknown type.
	errBadRecord = errors.New("queue: bad record")
)

// decodeRecord decodes the record at the start of buf and returns it with
// its encoded length. It never panics, and never returns a record whose
// checksum does not match.
func decodeRecord(buf []byte) (record, int, error) {
	var r record
	if len(buf) < prefixSize {
		return r, 0, errShort
	}
	body := binary.LittleEndian.Uint32(buf[0:])
	if body < bodyHeader || body > maxBodySize {
		return r, 0, errBadRecord
	}
	n := prefixSize + int(body)
	if len(buf) < n {
		return r, 0, errShort
	}
	b := buf[prefixSize:n]
	if crc32.Checksum(b, crcTable) != binary.LittleEndian.Uint32(buf[4:]) {
		return r, 0, errBadRecord
	}
	r.typ = recType(b[0])
	r.flags = b[1]
	keyLen := int(binary.LittleEndian.Uint16(b[2:]))
	if r.typ == 0 || r.typ >= recTypeEnd || keyLen > len(b)-bodyHeader {
		return record{}, 0, errBadRecord
	}
	r.attempt = binary.LittleEndian.Uint32(b[4:])
	r.id = binary.LittleEndian.Uint64(b[8:])
	r.notBefore = int64(binary.LittleEndian.Uint64(b[16:]))
	r.time = int64(binary.LittleEndian.Uint64(b[24:]))
	r.key = b[bodyHeader : bodyHeader+keyLen]
	r.payload = b[bodyHeader+keyLen:]
	return r, n, nil
}
