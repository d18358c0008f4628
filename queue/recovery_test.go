package queue_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/queue"
)

var bg = context.Background()

// fill opens a queue in dir, enqueues payloads, closes it and returns the
// one segment file's path and the offset where each record starts and
// ends.
func fill(t *testing.T, dir string, payloads ...string) (seg string, offs, ends []int64) {
	t.Helper()
	q, err := queue.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		if _, err := q.Enqueue(bg, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want 1", segs)
	}
	offs, ends, err = queue.RecordOffsets(segs[0])
	if err != nil || len(offs) != len(payloads) {
		t.Fatalf("RecordOffsets = %v, %v; want %d records", offs, err, len(payloads))
	}
	return segs[0], offs, ends
}

// drain receives and acks everything ready and returns the payloads.
func drain(t *testing.T, q *queue.Queue) []string {
	t.Helper()
	var got []string
	for {
		m, err := q.TryReceive(bg, time.Minute)
		if errors.Is(err, queue.ErrEmpty) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m.Payload))
		if err := q.Ack(bg, m); err != nil {
			t.Fatal(err)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTornTailEveryOffset(t *testing.T) {
	dir := t.TempDir()
	seg, offs, ends := fill(t, dir, "alpha", "bravo", "charlie")
	orig, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	last := ends[1]
	for cut := offs[2]; cut < int64(len(orig)); cut++ {
		if err := os.WriteFile(seg, orig[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		q, err := queue.Open(dir)
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		if err := q.Recovered(); err != nil {
			t.Fatalf("cut at %d: Recovered = %v, want nil for a torn tail", cut, err)
		}
		if st, _ := os.Stat(seg); st.Size() != last {
			t.Fatalf("cut at %d: segment is %d bytes after open, want the tail cut to %d", cut, st.Size(), last)
		}
		if _, err := q.Enqueue(bg, []byte("delta")); err != nil {
			t.Fatal(err)
		}
		if got := drain(t, q); !equal(got, []string{"alpha", "bravo", "delta"}) {
			t.Fatalf("cut at %d: got %q", cut, got)
		}
		q.Close()
	}
}

// Records of 12 KiB cross blocks; a flip anywhere in the first chunk of
// the third record (its header or its data) loses that record only, and is
// reported as exactly its bytes.
func TestDamagedRecordsSkipped(t *testing.T) {
	var payloads []string
	for _, c := range "abcde" {
		payloads = append(payloads, strings.Repeat(string(c), 12<<10))
	}
	const h = queue.ChunkHeader
	for _, tc := range []struct {
		name string
		at   int64 // byte of the third record to flip
	}{
		{"data checksum", 1},
		{"length", 4},
		{"chunk type", 6},
		{"header checksum", 8},
		{"id", h + 8},
		{"payload", h + 32 + 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			seg, offs, _ := fill(t, dir, payloads...)
			data, _ := os.ReadFile(seg)
			data[offs[2]+tc.at] ^= 0x5a
			os.WriteFile(seg, data, 0o600)

			q, err := queue.Open(dir)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer q.Close()
			var ce *queue.CorruptError
			if err := q.Recovered(); !errors.Is(err, queue.ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("Recovered = %v, want a CorruptError", err)
			}
			if len(ce.Regions) != 1 || ce.Regions[0].Offset != offs[2] || ce.Regions[0].Length != offs[3]-offs[2] {
				t.Fatalf("regions %+v, want one at %d of %d bytes", ce.Regions, offs[2], offs[3]-offs[2])
			}
			if s, _ := q.Stats(bg); s.Corrupt != 1 {
				t.Fatalf("Stats.Corrupt = %d, want 1", s.Corrupt)
			}
			want := []string{payloads[0], payloads[1], payloads[3], payloads[4]}
			if got := drain(t, q); !equal(got, want) {
				t.Fatalf("got %d payloads, want the damaged message skipped", len(got))
			}
		})
	}
}

func TestDamageAfterOpenNeverDelivered(t *testing.T) {
	dir := t.TempDir()
	seg, offs, _ := fill(t, dir, "good", "bad-one", "fine")
	q, err := queue.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	f, _ := os.OpenFile(seg, os.O_RDWR, 0)
	f.WriteAt([]byte{'X'}, offs[1]+queue.ChunkHeader+32+1)
	f.Close()
	if got := drain(t, q); !equal(got, []string{"good", "fine"}) {
		t.Fatalf("got %q, want the damaged message dropped", got)
	}
	if s, _ := q.Stats(bg); s.Corrupt != 1 || s.Depth != 0 {
		t.Fatalf("Stats = %+v, want Corrupt 1 Depth 0", s)
	}
}

func TestLockAndPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "q")
	q, err := queue.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := queue.Open(dir); !errors.Is(err, queue.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if _, err := q.Enqueue(bg, []byte("x")); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", st.Mode().Perm())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if st, _ := os.Stat(f); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	q2, err := queue.Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	q2.Close()
}
