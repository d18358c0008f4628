package audit

import (
	"errors"
	"fmt"
	"os"

	"github.com/opskit/opskit/internal/filelock"
)

// lockFile takes an exclusive advisory lock on f, so that a second process
// (or a second Open in this one) cannot append to the same log and fork
// its chain. The lock goes with the file descriptor when it is closed.
// Where flock does not exist there is no lock: keep one writer per log by
// other means there.
func lockFile(f *os.File) error {
	err := filelock.File(f)
	if errors.Is(err, filelock.ErrLocked) {
		return fmt.Errorf("audit: %s is open for appending elsewhere (one writer per log)", f.Name())
	}
	if err != nil {
		return fmt.Errorf("audit: locking %s: %w", f.Name(), err)
	}
	return nil
}
