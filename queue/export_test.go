package queue

import (
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"
)

// FaultFS is the real file system with a hook in front of every call the
// queue makes on its files: Fail sees the operation ("open", "read",
// "write", "sync", "truncate", "remove", "syncdir") and the file's base
// name, and returns the error to fail it with, or nil.
type FaultFS struct {
	mu   sync.Mutex
	Fail func(op, name string) error
}

func (f *FaultFS) check(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail == nil {
		return nil
	}
	return f.Fail(op, filepath.Base(name))
}

// SetFail replaces the hook.
func (f *FaultFS) SetFail(fn func(op, name string) error) {
	f.mu.Lock()
	f.Fail = fn
	f.mu.Unlock()
}

// WithFaultFS makes Open use f.
func WithFaultFS(f *FaultFS) Option { return optionFunc(func(c *config) { c.fs = f }) }

func (f *FaultFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	if err := f.check("open", name); err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	fl, err := osFS{}.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{file: fl, fs: f, name: name}, nil
}

func (f *FaultFS) Remove(name string) error {
	if err := f.check("remove", name); err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return osFS{}.Remove(name)
}

func (f *FaultFS) SyncDir(dir string) error {
	if err := f.check("syncdir", dir); err != nil {
		return err
	}
	return osFS{}.SyncDir(dir)
}

type faultFile struct {
	file
	fs   *FaultFS
	name string
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check("read", f.name); err != nil {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: err}
	}
	return f.file.ReadAt(p, off)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.check("write", f.name); err != nil {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: err}
	}
	return f.file.WriteAt(p, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.check("sync", f.name); err != nil {
		return &os.PathError{Op: "sync", Path: f.name, Err: err}
	}
	return f.file.Sync()
}

func (f *faultFile) Truncate(n int64) error {
	if err := f.fs.check("truncate", f.name); err != nil {
		return &os.PathError{Op: "truncate", Path: f.name, Err: err}
	}
	return f.file.Truncate(n)
}

// Framing, for tests that damage files on purpose.
const (
	BlockSize      = blockSize
	FileHeaderSize = fileHeaderSize
	ChunkHeader    = chunkHeader
)

// FramedRecord returns the bytes of an enqueue record for id and payload
// framed at file offset pos, and where the record starts.
func FramedRecord(pos int64, id uint64, payload []byte) ([]byte, int64) {
	return appendFramed(nil, pos, appendBody(nil, &record{typ: recEnqueue, id: id, payload: payload}))
}

// FramedAck returns an ack record for id framed at pos.
func FramedAck(pos int64, id uint64) []byte {
	b, _ := appendFramed(nil, pos, appendBody(nil, &record{typ: recAck, id: id}))
	return b
}

// RecordOffsets returns where each intact record of the segment file at
// path starts and ends.
func RecordOffsets(path string) (offs, ends []int64, err error) {
	f, err := osFS{}.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	s := &segment{path: path, f: f}
	_, err = s.scan(func(r *record, off int64, n int32) {
		offs = append(offs, off)
		ends = append(ends, off+int64(n))
	})
	return offs, ends, err
}

// FileHeader returns a segment header claiming format version v.
func FileHeader(v uint32) []byte {
	h := fileHeader()
	binary.LittleEndian.PutUint32(h[8:], v)
	binary.LittleEndian.PutUint32(h[12:], crc32.Checksum(h[:12], crcTable))
	return h
}

// V1Record returns an enqueue (or, with ack set, an ack) record in format
// 1, the headerless format written before format 2.
func V1Record(id uint64, payload []byte, ack bool) []byte {
	r := record{typ: recEnqueue, id: id, payload: payload}
	if ack {
		r = record{typ: recAck, id: id}
	}
	body := appendBody(nil, &r)
	b := make([]byte, v1Prefix, v1Prefix+len(body))
	binary.LittleEndian.PutUint32(b[0:], uint32(len(body)))
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(body, crcTable))
	return append(b, body...)
}
