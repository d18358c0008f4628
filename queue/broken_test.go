package queue_test

import (
	"bytes"
	"errors"
	"os/signal"
	"syscall"
	"testing"

	"github.com/opskit/opskit/queue"
)

// TestWriteFailureShowsInStatsAndHealth makes the disk refuse a write (a
// file-size limit, so the write fails with EFBIG) and checks that the
// failure is not only Enqueue's: Stats and the health check report it.
func TestWriteFailureShowsInStatsAndHealth(t *testing.T) {
	q := open(t)
	if _, err := q.Enqueue(bg, []byte("fits")); err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("cannot read the file-size limit: %v", err)
	}
	signal.Ignore(syscall.SIGXFSZ) // write returns EFBIG instead of killing us
	defer signal.Reset(syscall.SIGXFSZ)
	limit := old
	limit.Cur = 4096
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Skipf("cannot lower the file-size limit: %v", err)
	}
	_, err := q.Enqueue(bg, bytes.Repeat([]byte("x"), 8192))
	syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	if err == nil {
		t.Fatal("Enqueue past the file-size limit succeeded")
	}
	if _, serr := q.Stats(bg); serr == nil || !errors.Is(serr, syscall.EFBIG) {
		t.Errorf("Stats after the failed write = %v, want the write error", serr)
	}
	if herr := queue.HealthCheck(q, queue.Limits{})(bg); herr == nil {
		t.Error("health check passes on a log that refuses writes")
	}
	if _, err := q.Enqueue(bg, []byte("small")); err == nil {
		t.Error("Enqueue after a failed write succeeded; the log state is unknown")
	}
}
