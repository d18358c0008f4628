package filelock_test

import (
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/internal/filelock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLockIsExclusiveUntilClosed(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no flock")
	}
	path := filepath.Join(t.TempDir(), "sub", "x.lock")
	a, err := filelock.Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filelock.Lock(path); !errors.Is(err, filelock.ErrLocked) {
		t.Fatalf("second Lock: %v, want ErrLocked", err)
	}
	a.Close()
	b, err := filelock.Lock(path)
	if err != nil {
		t.Fatalf("Lock after Close: %v", err)
	}
	b.Close()
}
