// Package filelock takes exclusive advisory locks on files, so that two
// processes (or two owners in one process) cannot both write what only
// one may.
package filelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrLocked reports a lock another holder has.
var ErrLocked = errors.New("held by another owner")

// Lock creates path (mode 0600, parent directories 0700) if needed and
// locks it without waiting. The lock lasts until the returned file is
// closed (or the process exits). A lock held elsewhere — another process,
// or another Lock of the same path in this one — is an error matching
// ErrLocked. Where flock does not exist the lock always succeeds.
func Lock(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := File(f); err != nil {
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// File locks the open file f without waiting, until f is closed: a lock
// held elsewhere is ErrLocked. Where flock does not exist it succeeds.
func File(f *os.File) error { return lock(f) }
