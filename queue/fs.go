package queue

import (
	"fmt"
	"os"
	"syscall"

	"github.com/opskit/opskit/internal/atomicfile"
)

// fsys is the few file-system calls the queue makes on its files. The real
// one is osFS; tests put a wrapper in front that fails chosen calls (EIO on
// a read or an fsync, ENOSPC on a write) to check that no failure loses or
// invents data.
type fsys interface {
	// OpenFile opens a regular file, never following a symbolic link.
	OpenFile(name string, flag int, perm os.FileMode) (file, error)
	Remove(name string) error
	SyncDir(dir string) error
}

// file is an open segment.
type file interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := os.OpenFile(name, flag|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, perm)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("queue: %s is a %v, not a regular file", name, st.Mode().Type())
	}
	return f, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) SyncDir(dir string) error { return atomicfile.SyncDir(dir) }
