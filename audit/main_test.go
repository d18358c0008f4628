package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testKey = []byte("0123456789abcdef0123456789abcdef")

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openLog opens a log in a fresh directory on a fake clock and closes it
// when the test ends.
func openLog(t *testing.T, opts ...Option) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit", "audit.jsonl")
	l, err := Open(path, testKey, append([]Option{WithClock(clock.NewFake(epoch))}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, path
}

// appendN appends n records with targets "t1".."tn".
func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		rec := Record{Actor: "ann", From: "10.0.0.1:5000", Action: "queue.requeue",
			Target: "t" + itoa(i), Result: "ok"}
		if err := l.Append(context.Background(), rec); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

// readAll verifies the file at path and returns its entries and the error
// that ended the read (nil at a clean end).
func readAll(t *testing.T, path string, key []byte) ([]Entry, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd := NewReader(f, key)
	var out []Entry
	for {
		e, err := rd.Next()
		if err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return out, err
		}
		out = append(out, e)
	}
}
