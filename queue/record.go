package queue

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A record is what the log says about one message. Its body is laid out
// little-endian as
//
//	0  u8   record type
//	1  u8   flags
//	2  u16  dedupe key length
//	4  u32  attempt
//	8  u64  message id
//	16 i64  not-before time, Unix nanoseconds (0: none)
//	24 i64  event time, Unix nanoseconds (for an enqueue: when it was enqueued)
//	32 key, then payload (the rest of the body)
//
// How bodies are framed in a segment file is in frame.go (format 2) and
// legacy.go (format 1, read only).
const (
	bodyHeader  = 32
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
	recSeal                       // the last record of a finished segment (format 2); id: the next segment's name
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

// bodySize is the length of r's body.
func (r *record) bodySize() int { return bodyHeader + len(r.key) + len(r.payload) }

// appendBody appends r's body to dst.
func appendBody(dst []byte, r *record) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, bodyHeader)...)
	h := dst[n:]
	h[0] = byte(r.typ)
	h[1] = r.flags
	binary.LittleEndian.PutUint16(h[2:], uint16(len(r.key)))
	binary.LittleEndian.PutUint32(h[4:], r.attempt)
	binary.LittleEndian.PutUint64(h[8:], r.id)
	binary.LittleEndian.PutUint64(h[16:], uint64(r.notBefore))
	binary.LittleEndian.PutUint64(h[24:], uint64(r.time))
	dst = append(dst, r.key...)
	return append(dst, r.payload...)
}

var (
	// errShort means the bytes end before the record does: a torn tail,
	// or a read that needs more bytes.
	errShort = errors.New("queue: record truncated")
	// errBadRecord means the bytes are not a valid record: a wrong
	// checksum, an impossible length or an unknown type.
	errBadRecord = errors.New("queue: bad record")
)

// decodeBody decodes a record body whose checksum has been verified. It
// never panics.
func decodeBody(b []byte) (record, error) {
	var r record
	if len(b) < bodyHeader {
		return r, errBadRecord
	}
	r.typ = recType(b[0])
	r.flags = b[1]
	keyLen := int(binary.LittleEndian.Uint16(b[2:]))
	if r.typ == 0 || r.typ >= recTypeEnd || keyLen > len(b)-bodyHeader {
		return record{}, errBadRecord
	}
	r.attempt = binary.LittleEndian.Uint32(b[4:])
	r.id = binary.LittleEndian.Uint64(b[8:])
	r.notBefore = int64(binary.LittleEndian.Uint64(b[16:]))
	r.time = int64(binary.LittleEndian.Uint64(b[24:]))
	r.key = b[bodyHeader : bodyHeader+keyLen]
	r.payload = b[bodyHeader+keyLen:]
	return r, nil
}
