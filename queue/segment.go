package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

const segSuffix = ".seg"

// segment is one file of the log. Its name, in hex, is greater than every
// older segment's: the id of the enqueue that started it, or the previous
// name plus one when a record about an older message started it. Appends
// only ever go to the newest segment.
type segment struct {
	base uint64
	path string
	f    *os.File
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

// openSegment opens (creating when create is set) the segment file.
func openSegment(dir string, base uint64, create bool) (*segment, error) {
	p := filepath.Join(dir, segName(base))
	flag := os.O_RDWR
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(p, flag, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: open segment: %w", err)
	}
	s := &segment{base: base, path: p, f: f}
	s.refs.Store(1)
	return s, nil
}

func (s *segment) acquire() { s.refs.Add(1) }

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.f.Close()
	}
}

// name is the file name, for messages.
func (s *segment) name() string { return filepath.Base(s.path) }

// listSegments returns the bases of the segment files in dir, in order.
func listSegments(dir string) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	var bases []uint64
	for _, de := range des {
		n := de.Name()
		if !strings.HasSuffix(n, segSuffix) || de.IsDir() {
			continue
		}
		b, err := strconv.ParseUint(strings.TrimSuffix(n, segSuffix), 16, 64)
		if err != nil {
			continue // not ours
		}
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// Region is a damaged stretch of a segment that recovery skipped.
type Region struct {
	Segment string // file name
	Offset  int64
	Length  int64
}

// CorruptionError reports the damaged regions found when the queue was
// opened. It matches ErrCorrupt. Records inside a region were lost or, if
// they were acks, their messages may be delivered again.
type CorruptionError struct {
	Regions []Region
}

func (e *CorruptionError) Error() string {
	var n int64
	for _, r := range e.Regions {
		n += r.Length
	}
	first := e.Regions[0]
	return fmt.Sprintf("queue: %d damaged region(s), %d bytes skipped; first in segment %s at offset %d",
		len(e.Regions), n, first.Segment, first.Offset)
}

func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// scanResult says what scanning one segment found.
type scanResult struct {
	valid   int64    // offset after the last valid record: the file is cut here
	damaged []Region // bad bytes followed by valid records
}

// scanSegment calls fn for every valid record of the segment, in order,
// with its offset. A bad stretch followed by a valid record is skipped and
// reported; a bad stretch with nothing valid after it is a torn tail.
func scanSegment(s *segment, fn func(r *record, off int64)) (scanResult, error) {
	var res scanResult
	st, err := s.f.Stat()
	if err != nil {
		return res, fmt.Errorf("queue: segment %s: %w", s.name(), err)
	}
	size := st.Size()
	if size == 0 {
		return res, nil
	}
	if size != int64(int(size)) {
		return res, fmt.Errorf("queue: segment %s: too large (%d bytes)", s.name(), size)
	}
	data, err := syscall.Mmap(int(s.f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return res, fmt.Errorf("queue: segment %s: mmap: %w", s.name(), err)
	}
	defer syscall.Munmap(data)
	scanBytes(data, func(r *record, off int) { fn(r, int64(off)) }, func(off, n int) {
		res.damaged = append(res.damaged, Region{Segment: s.name(), Offset: int64(off), Length: int64(n)})
	}, &res.valid)
	return res, nil
}

// scanBytes walks records in data. After a bad record it looks for the next
// offset holding a valid record; if one exists the bytes between are
// reported to bad, otherwise scanning stops. *valid is set to the end of
// the last valid record.
func scanBytes(data []byte, good func(r *record, off int), bad func(off, n int), valid *int64) {
	off := 0
	for off < len(data) {
		r, n, err := decodeRecord(data[off:])
		if err == nil {
			good(&r, off)
			off += n
			*valid = int64(off)
			continue
		}
		next := resync(data, off+1)
		if next < 0 {
			return // torn or damaged tail
		}
		bad(off, next-off)
		off = next
	}
}

// resync returns the first offset at or after from where a valid record
// starts, or -1.
func resync(data []byte, from int) int {
	for i := from; i+headerSize <= len(data); i++ {
		if _, _, err := decodeRecord(data[i:]); err == nil {
			return i
		}
	}
	return -1
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

// readRecord reads and checks the record at off.
func (s *segment) readRecord(off int64, size int32) (record, []byte, error) {
	buf := make([]byte, size)
	if _, err := s.f.ReadAt(buf, off); err != nil {
		return record{}, nil, fmt.Errorf("queue: segment %s: read at %d: %w", s.name(), off, err)
	}
	r, n, err := decodeRecord(buf)
	if err != nil || n != int(size) {
		return record{}, nil, fmt.Errorf("queue: segment %s: damaged record at offset %d: %w", s.name(), off, errBadRecord)
	}
	return r, buf, nil
}

// lockDir takes an exclusive, non-blocking flock on dir/LOCK.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("queue: lock %s: %w", dir, err)
	}
	return f, nil
}
