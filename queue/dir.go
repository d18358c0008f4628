package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/opskit/opskit/internal/filelock"
)

// dirLock holds a queue directory: an flock on the directory itself, so
// the lock holds whatever happens to the files in it, and one on its LOCK
// file, which is what opskit versions before format 2 lock, so that an
// older process is kept out during an upgrade too.
type dirLock struct {
	dir, file *os.File
}

func (l *dirLock) Close() error {
	if l.file != nil {
		l.file.Close()
	}
	return l.dir.Close()
}

// flockNB takes an exclusive flock on f without waiting.
func flockNB(f *os.File, dir string) error {
	if err := filelock.File(f); err != nil {
		if errors.Is(err, filelock.ErrLocked) {
			return fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return fmt.Errorf("queue: lock %s: %w", dir, err)
	}
	return nil
}

// openDir creates dir (and its parents, mode 0700) if needed, takes it
// from any group or other user that could write to it (mode 0700), and
// locks it.
func openDir(dir string, log *slog.Logger) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("queue: open directory: %w", err)
	}
	l := &dirLock{dir: d}
	if err := flockNB(d, dir); err != nil {
		l.Close()
		return nil, err
	}
	st, err := d.Stat()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		// Another user who can write here can plant or swap segments.
		if err := d.Chmod(0o700); err != nil {
			l.Close()
			return nil, fmt.Errorf("queue: directory %s has mode %v and cannot be made private: %w", dir, perm, err)
		}
		log.Warn("queue: directory was writable by other users; mode set to 0700", "dir", dir, "was", perm.String())
	}
	// The older versions' lock file, never followed if it is a link.
	f, err := os.OpenFile(filepath.Join(dir, legacyLock), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o600)
	if err == nil {
		if fst, serr := f.Stat(); serr != nil || !fst.Mode().IsRegular() {
			f.Close()
		} else {
			l.file = f
			if err := flockNB(f, dir); err != nil {
				l.Close()
				return nil, err
			}
		}
	}
	return l, nil
}

// legacyLock is the lock file of opskit versions before format 2.
const legacyLock = "LOCK"

// listSegments returns the bases of the segment files in dir, in order. A
// segment name that is a symbolic link or not a regular file fails (the
// queue would read or cut a file outside its directory); other files are
// not the queue's and are logged and left alone.
func listSegments(dir string, log *slog.Logger) ([]uint64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	var bases []uint64
	for _, de := range des {
		n := de.Name()
		b, ok := parseSegName(n)
		switch {
		case ok && !de.Type().IsRegular():
			return nil, fmt.Errorf("queue: segment %s in %s is a %v, not a regular file; refusing to open", n, dir, de.Type())
		case ok:
			bases = append(bases, b)
		case n == legacyLock && de.Type().IsRegular():
		default:
			log.Warn("queue: ignoring a file that is not a segment", "dir", dir, "file", n)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// parseSegName returns the base of a segment file name: exactly 16 lower
// case hex digits and ".seg".
func parseSegName(n string) (uint64, bool) {
	h, ok := strings.CutSuffix(n, segSuffix)
	if !ok || len(h) != 16 || strings.ToLower(h) != h {
		return 0, false
	}
	b, err := strconv.ParseUint(h, 16, 64)
	return b, err == nil
}
