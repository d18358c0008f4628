package queue

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

const segSuffix = ".seg"

// segment is one file of the log. Its name, in hex, is greater than every
// older segment's, and no message enqueued after it was started has a
// lower id: it is the higher of the next id and the previous name plus
// one. Appends only ever go to the newest segment.
type segment struct {
	base    uint64
	path    string
	f       file
	version int // on-disk format: formatVersion, or 1 for a read-only legacy file
	// size is where the next append lands; guarded by writer.mu.
	size int64
	// written is how many bytes have reached the file (maybe not yet
	// fsynced); readers flush before reading beyond it.
	written atomic.Int64
	// live is the record bytes of stored messages whose record is here;
	// guarded by Queue.mu.
	live int64
	// refs counts the log's own reference plus readers in progress; the
	// last release closes the file. A compacted segment is unlinked at
	// once (open descriptors still read it) and closed when unused.
	refs atomic.Int32
}

func segName(base uint64) string { return fmt.Sprintf("%016x%s", base, segSuffix) }

// openSegment opens an existing segment file.
func openSegment(fs fsys, dir string, base uint64) (*segment, error) {
	p := filepath.Join(dir, segName(base))
	f, err := fs.OpenFile(p, os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: open segment: %w", err)
	}
	s := &segment{base: base, path: p, f: f}
	s.refs.Store(1)
	return s, nil
}

// createSegment creates a format 2 segment holding only its header, not
// yet fsynced (the writer syncs it, and the directory, with the first
// batch written to it).
func createSegment(fs fsys, dir string, base uint64) (*segment, error) {
	p := filepath.Join(dir, segName(base))
	f, err := fs.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: create segment: %w", err)
	}
	s := &segment{base: base, path: p, f: f, version: formatVersion}
	s.refs.Store(1)
	if err := s.writeHeader(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// writeHeader writes a format 2 header over an empty file.
func (s *segment) writeHeader() error {
	if _, err := s.f.WriteAt(fileHeader(), 0); err != nil {
		return fmt.Errorf("queue: write segment %s: %w", s.name(), err)
	}
	s.version = formatVersion
	s.size = fileHeaderSize
	s.written.Store(fileHeaderSize)
	return nil
}

func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.f.Close()
	}
}

// name is the file name, for messages.
func (s *segment) name() string { return filepath.Base(s.path) }

// Region is a damaged stretch of a segment that recovery skipped: the
// records in it are lost (an enqueue: its message; an ack: its message may
// be delivered again). Length 0 means the segment was cut short at
// Offset: it lacks the seal a finished segment ends with, and how much
// followed is unknown.
type Region struct {
	Segment string // file name
	Offset  int64
	Length  int64
}

// CorruptError reports the damaged regions found when the queue was
// opened. It matches ErrCorrupt.
type CorruptError struct {
	Regions []Region
}

func (e *CorruptError) Error() string {
	var n int64
	for _, r := range e.Regions {
		n += r.Length
	}
	first := e.Regions[0]
	what := "damaged"
	if first.Length == 0 {
		what = "cut short"
	}
	return fmt.Sprintf("queue: %d damaged region(s), %d bytes skipped (the records in them are lost); first in segment %s at offset %d (%s)",
		len(e.Regions), n, first.Segment, first.Offset, what)
}

func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// scan calls fn for every intact record of the segment, in order, with its
// offset and size, and reports the damaged regions and where the intact
// records end. It sets the segment's version from its header.
func (s *segment) scan(fn func(r *record, off int64, n int32)) (scanResult, error) {
	st, err := s.f.Stat()
	if err != nil {
		return scanResult{}, fmt.Errorf("queue: segment %s: %w", s.name(), err)
	}
	size := st.Size()
	if size == 0 {
		return scanResult{}, nil
	}
	h := make([]byte, min(size, fileHeaderSize))
	if _, err := s.f.ReadAt(h, 0); err != nil {
		return scanResult{}, fmt.Errorf("queue: segment %s: read header: %w", s.name(), err)
	}
	v, err := headerVersion(h)
	if err == nil && v == 1 && !s.startsWithV1Record(size) {
		// No magic, and not a format 1 file either (those start with an
		// intact record): a format 2 file whose header is damaged.
		// Reading it as format 1 would try every offset, payloads too.
		err = errBadRecord
	}
	switch {
	case err != nil:
		// The magic is there but the rest of the header is not intact:
		// read the blocks anyway and report the header.
		v = formatVersion
	case v > formatVersion:
		return scanResult{}, fmt.Errorf("queue: segment %s has on-disk format version %d; this opskit reads versions 1 to %d (upgrade opskit to open this queue)",
			s.name(), v, formatVersion)
	}
	s.version = v
	if v == 1 {
		return s.scanV1(size, fn)
	}
	res, serr := scanV2(s.f, size, s.name(), fn)
	if err != nil {
		res.damaged = append([]Region{{Segment: s.name(), Length: fileHeaderSize}}, res.damaged...)
		res.headerBad = true
	}
	return res, serr
}

// startsWithV1Record reports whether the file starts with an intact format
// 1 record.
func (s *segment) startsWithV1Record(size int64) bool {
	var p [v1Prefix]byte
	if size < v1Prefix+bodyHeader {
		return false
	}
	if _, err := s.f.ReadAt(p[:], 0); err != nil {
		return false
	}
	n := v1Prefix + int64(binary.LittleEndian.Uint32(p[:]))
	if n > size || n > v1Prefix+maxBodySize {
		return false
	}
	buf := make([]byte, n)
	if _, err := s.f.ReadAt(buf, 0); err != nil {
		return false
	}
	_, _, err := decodeV1(buf)
	return err == nil
}

// scanV1 reads a whole format 1 segment and scans it.
func (s *segment) scanV1(size int64, fn func(r *record, off int64, n int32)) (scanResult, error) {
	data := make([]byte, size)
	if _, err := s.f.ReadAt(data, 0); err != nil {
		return scanResult{}, fmt.Errorf("queue: segment %s: read: %w", s.name(), err)
	}
	res := scanResult{version: 1}
	res.valid = scanV1(data, func(r *record, off, n int) { fn(r, int64(off), int32(n)) }, func(off, n int) {
		res.damaged = append(res.damaged, Region{Segment: s.name(), Offset: int64(off), Length: int64(n)})
	})
	return res, nil
}

// truncate cuts the segment to n bytes and syncs it.
func (s *segment) truncate(n int64) error {
	if err := s.f.Truncate(n); err != nil {
		return fmt.Errorf("queue: truncate segment %s: %w", s.name(), err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("queue: sync segment %s: %w", s.name(), err)
	}
	return nil
}

// readRecord reads and checks the record at off. An error wrapping
// errBadRecord means the bytes were read and are not the record (proven
// damage); any other error is the read's own.
func (s *segment) readRecord(off int64, size int32) (record, error) {
	buf := make([]byte, size)
	if _, err := s.f.ReadAt(buf, off); err != nil {
		return record{}, fmt.Errorf("queue: segment %s: read at %d: %w", s.name(), off, err)
	}
	var r record
	var err error
	if s.version == 1 {
		var n int
		r, n, err = decodeV1(buf)
		if err == nil && n != int(size) {
			err = errBadRecord
		}
	} else {
		var body []byte
		if body, err = unframe(buf, off); err == nil {
			r, err = decodeBody(body)
		}
	}
	if err != nil {
		return record{}, fmt.Errorf("queue: segment %s: damaged record at offset %d: %w", s.name(), off, errBadRecord)
	}
	return r, nil
}
