//go:build unix

package audit

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on f, so that a second process
// (or a second Open in this one) cannot append to the same log and fork
// its chain. The lock goes with the file descriptor when it is closed.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("audit: %s is open for appending elsewhere (one writer per log)", f.Name())
	}
	if err != nil {
		return fmt.Errorf("audit: locking %s: %w", f.Name(), err)
	}
	return nil
}
