package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The stored form of a record is one line of JSON:
//
//	{"seq":7,"time":"...","actor":"ann","action":"queue.requeue",...,"hash":"<64 hex>"}
//
// hash is HMAC-SHA256, under the log's key, of the previous record's hash
// (32 raw bytes; zeros before the first record) followed by the line as it
// would be without its hash field: the bytes up to `,"hash":` and a closing
// brace. Changing, inserting, deleting or reordering any record breaks the
// chain at that record for anyone holding the key, and seq (1, 2, 3, ...)
// makes the loss of leading records visible. Truncating the tail leaves a
// valid shorter chain: only an anchor kept elsewhere (Log.Head) shows it.

// MaxRecordSize bounds one stored line, so that neither Append nor a reader
// of a damaged file holds more than this much of one record in memory.
const MaxRecordSize = 64 << 10

const (
	hashField = `,"hash":"`
	hashLen   = 2 * sha256.Size
	// tailLen is the length of `,"hash":"<64 hex>"}`.
	tailLen = len(hashField) + hashLen + 2
)

// ErrTampered is matched by every *ChainError: the log is not the one its
// writer produced, or was damaged.
var ErrTampered = errors.New("audit: log does not verify")

// Entry is a record as the log stores it: its position in the chain and
// the chain hash that seals it (hex).
type Entry struct {
	Seq uint64 `json:"seq"`
	Record
	Hash string `json:"hash"`
}

// ChainError reports the first record of a log that does not verify.
type ChainError struct {
	Line   int    // 1-based line number in the file
	Offset int64  // byte offset of the line
	Seq    uint64 // the sequence number the record should carry
	Reason string

	torn bool // the last line of the file, unterminated: a write cut short
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit: record %d (line %d, offset %d): %s", e.Seq, e.Line, e.Offset, e.Reason)
}

// Is makes every ChainError match ErrTampered.
func (e *ChainError) Is(target error) bool { return target == ErrTampered }

// stored is what is hashed: the record with its sequence number.
type stored struct {
	Seq uint64 `json:"seq"`
	Record
}

// seal encodes rec as line number seq following prev, and returns the
// line (ending in '\n') and its hash.
func seal(key []byte, prev [sha256.Size]byte, seq uint64, rec Record) ([]byte, [sha256.Size]byte, error) {
	body, err := json.Marshal(stored{Seq: seq, Record: rec})
	if err != nil {
		return nil, prev, fmt.Errorf("audit: encoding record: %w", err)
	}
	sum := chainHash(key, prev, body)
	line := make([]byte, 0, len(body)+tailLen)
	line = append(line, body[:len(body)-1]...) // drop the closing brace
	line = append(line, hashField...)
	line = hex.AppendEncode(line, sum[:])
	line = append(line, "\"}\n"...)
	return line, sum, nil
}

func chainHash(key []byte, prev [sha256.Size]byte, body []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write(prev[:])
	m.Write(body)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	return sum
}

// Reader reads a log and verifies its chain record by record.
type Reader struct {
	br     *bufio.Reader
	key    []byte
	prev   [sha256.Size]byte
	seq    uint64 // of the last record returned
	line   int
	offset int64  // of the next line
	err    error  // sticky
	body   []byte // scratch
}

// NewReader returns a Reader of the log read from r, verified with key.
func NewReader(r io.Reader, key []byte) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 32<<10), key: key}
}

// resume makes a Reader of a log read from the middle: the next line is
// record seq+1, at offset, chained to prev.
func resume(r io.Reader, key []byte, seq uint64, offset int64, prev [sha256.Size]byte) *Reader {
	rd := NewReader(r, key)
	rd.seq, rd.line, rd.offset, rd.prev = seq, int(seq), offset, prev
	return rd
}

// Next returns the next record once it has verified. At the end of the
// log it returns io.EOF; at the first record that does not verify, a
// *ChainError naming it, and the same error on every later call.
func (r *Reader) Next() (Entry, error) {
	if r.err != nil {
		return Entry{}, r.err
	}
	e, n, err := r.next()
	if err != nil {
		r.err = err
		return Entry{}, err
	}
	r.offset += int64(n)
	return e, nil
}

func (r *Reader) next() (Entry, int, error) {
	line, err := r.readLine()
	if err == io.EOF && len(line) == 0 {
		return Entry{}, 0, io.EOF
	}
	r.line++
	bad := func(torn bool, format string, args ...any) (Entry, int, error) {
		return Entry{}, 0, &ChainError{Line: r.line, Offset: r.offset, Seq: r.seq + 1,
			Reason: fmt.Sprintf(format, args...), torn: torn}
	}
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return bad(false, "line longer than %d bytes", MaxRecordSize)
	case err == io.EOF:
		return bad(true, "last line has no newline (a write cut short)")
	case err != nil:
		return Entry{}, 0, fmt.Errorf("audit: reading line %d: %w", r.line, err)
	}
	n := len(line)
	line = line[:n-1] // the newline
	if len(line) < tailLen+2 || !bytes.HasPrefix(line, []byte(`{"seq":`)) ||
		string(line[len(line)-tailLen:len(line)-tailLen+len(hashField)]) != hashField ||
		string(line[len(line)-2:]) != `"}` {
		return bad(false, "not a sealed record")
	}
	var sum [sha256.Size]byte
	hexSum := line[len(line)-hashLen-2 : len(line)-2]
	if _, err := hex.Decode(sum[:], hexSum); err != nil {
		return bad(false, "hash is not hex")
	}
	r.body = append(append(r.body[:0], line[:len(line)-tailLen]...), '}')
	want := chainHash(r.key, r.prev, r.body)
	if !hmac.Equal(want[:], sum[:]) {
		return bad(false, "hash does not match (record changed, inserted, removed or reordered, or wrong key)")
	}
	var s stored
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return bad(false, "sealed but undecodable: %v", err)
	}
	if s.Seq != r.seq+1 {
		return bad(false, "sequence number %d, want %d", s.Seq, r.seq+1)
	}
	r.seq, r.prev = s.Seq, sum
	return Entry{Seq: s.Seq, Record: s.Record, Hash: string(hexSum)}, n, nil
}

// readLine returns the next line with its newline, at most MaxRecordSize
// bytes; bufio.ErrBufferFull past that (the rest of the line is skipped).
func (r *Reader) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxRecordSize {
			return nil, bufio.ErrBufferFull
		}
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return buf, err
	}
}
