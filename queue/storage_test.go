package queue_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// failOnce returns a hook that fails the first call of op on a segment
// with err, and counts the calls it failed.
func failOnce(op string, err error) (func(op, name string) error, *int) {
	var mu sync.Mutex
	n := 0
	return func(o, name string) error {
		mu.Lock()
		defer mu.Unlock()
		if o == op && strings.HasSuffix(name, ".seg") && n == 0 {
			n++
			return err
		}
		return nil
	}, &n
}

// Issue 13 item 1: a dedupe key is taken only when its message is on
// disk. An Enqueue that fails on a full disk leaves no key behind: the
// retry gets the log's error (never ErrDuplicate naming a message that is
// not stored), and after a reopen the key is free and no message has it.
func TestDedupeKeyOnlyAfterDurableCommit(t *testing.T) {
	for _, op := range []string{"write", "sync"} {
		t.Run(op, func(t *testing.T) {
			dir := t.TempDir()
			fs := &queue.FaultFS{}
			q, err := queue.Open(dir, queue.WithFaultFS(fs))
			if err != nil {
				t.Fatal(err)
			}
			fail, _ := failOnce(op, syscall.ENOSPC)
			fs.SetFail(fail)
			if _, err := q.Enqueue(bg, []byte("order 42"), queue.WithDedupeKey("order-42")); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Enqueue on a full disk = %v, want ENOSPC", err)
			}
			id, err := q.Enqueue(bg, []byte("order 42"), queue.WithDedupeKey("order-42"))
			if errors.Is(err, queue.ErrDuplicate) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("retry = %v, %v; want the log's ENOSPC, never ErrDuplicate", id, err)
			}
			if s, _ := q.Stats(bg); s.Depth != 0 || s.Bytes != 0 {
				t.Fatalf("Stats after the failed Enqueue = %+v, want nothing stored", s)
			}
			q.Close()

			q, err = queue.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			got := drain(t, q)
			if _, err := q.Enqueue(bg, []byte("order 42 again"), queue.WithDedupeKey("order-42")); err != nil && len(got) == 0 {
				t.Fatalf("after reopen the key is still taken (%v) but no message is stored", err)
			}
		})
	}
}

// A second Enqueue with the key of one still waiting for its fsync waits
// for the outcome: ErrDuplicate if it committed.
func TestDedupeKeyWhileCommitPending(t *testing.T) {
	fs := &queue.FaultFS{}
	q := open(t, queue.WithFaultFS(fs))
	inSync := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	fs.SetFail(func(op, name string) error {
		if op == "sync" && strings.HasSuffix(name, ".seg") {
			once.Do(func() { close(inSync); <-release })
		}
		return nil
	})
	first := make(chan error, 1)
	go func() { _, err := q.Enqueue(bg, []byte("a"), queue.WithDedupeKey("k")); first <- err }()
	<-inSync
	second := make(chan error, 1)
	go func() { _, err := q.Enqueue(bg, []byte("b"), queue.WithDedupeKey("k")); second <- err }()
	select {
	case err := <-second:
		t.Fatalf("second Enqueue returned %v before the first was on disk", err)
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, queue.ErrDuplicate) {
		t.Fatalf("second Enqueue = %v, want ErrDuplicate", err)
	}
}

// Issue 13 item 2: one failed read during delivery deletes nothing. The
// message stays (others are delivered meanwhile), Stats counts the
// failure, and a reopen finds all three.
func TestTransientReadErrorKeepsMessage(t *testing.T) {
	dir := t.TempDir()
	fs := &queue.FaultFS{}
	clk := clock.NewFake(start)
	q, err := queue.Open(dir, queue.WithFaultFS(fs), queue.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"one", "two", "three"} {
		if _, err := q.Enqueue(bg, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	fail, n := failOnce("read", syscall.EIO)
	fs.SetFail(fail)
	m, err := q.TryReceive(bg, time.Minute)
	if err != nil || string(m.Payload) != "two" || *n != 1 {
		t.Fatalf("TryReceive with one failing read = %v, %v; want message two (the failed one waits)", m, err)
	}
	s, err := q.Stats(bg)
	if err != nil || s.ReadErrors != 1 || s.Depth != 3 || s.Stuck != 0 {
		t.Fatalf("Stats = %+v, %v; want ReadErrors 1, Depth 3, nothing stuck", s, err)
	}
	q.Close()

	q, err = queue.Open(dir, queue.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	clk.Advance(time.Hour)
	if got := drain(t, q); !equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("after reopen got %q, want all three", got)
	}
}

// A message whose reads keep failing is reported stuck (Stats and the
// health check fail) and kept; once reads work it is delivered.
func TestStuckMessageReportedNeverDeleted(t *testing.T) {
	fs := &queue.FaultFS{}
	clk := clock.NewFake(start)
	q := open(t, queue.WithFaultFS(fs), queue.WithClock(clk))
	if _, err := q.Enqueue(bg, []byte("unreadable")); err != nil {
		t.Fatal(err)
	}
	fs.SetFail(func(op, name string) error {
		if op == "read" {
			return syscall.EIO
		}
		return nil
	})
	health := queue.HealthCheck(q, queue.Limits{})
	for i := 1; i <= 5; i++ {
		if _, err := q.TryReceive(bg, time.Minute); !errors.Is(err, queue.ErrEmpty) {
			t.Fatalf("read %d: TryReceive = %v, want ErrEmpty (the message waits)", i, err)
		}
		s, err := q.Stats(bg)
		if s.ReadErrors != int64(i) || s.Depth != 1 {
			t.Fatalf("read %d: Stats = %+v", i, s)
		}
		if stuck := i >= 5; (s.Stuck == 1) != stuck || (err != nil) != stuck || (health(bg) != nil) != stuck {
			t.Fatalf("read %d: Stuck %d, Stats error %v, health %v; want stuck = %v", i, s.Stuck, err, health(bg), stuck)
		}
		clk.Advance(5 * time.Minute)
	}
	fs.SetFail(nil)
	m, err := q.TryReceive(bg, time.Minute)
	if err != nil || string(m.Payload) != "unreadable" || m.Attempt != 1 {
		t.Fatalf("TryReceive once reads work = %+v, %v; want the message, attempt 1", m, err)
	}
	if s, err := q.Stats(bg); err != nil || s.Stuck != 0 {
		t.Fatalf("Stats after the read worked = %+v, %v", s, err)
	}
}

// Issue 13 item 3: Open stays inside its directory.
func TestOpenRefusesSymlinksAndStrays(t *testing.T) {
	t.Run("symlinked segment", func(t *testing.T) {
		dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "precious")
		os.WriteFile(outside, []byte("not a queue segment, do not truncate"), 0o600)
		os.Symlink(outside, filepath.Join(dir, "0000000000000001.seg"))
		if q, err := queue.Open(dir); err == nil {
			q.Close()
			t.Fatal("Open accepted a symlinked segment")
		}
		if b, _ := os.ReadFile(outside); string(b) != "not a queue segment, do not truncate" {
			t.Fatalf("the file outside was changed to %q", b)
		}
	})
	t.Run("fifo segment", func(t *testing.T) {
		dir := t.TempDir()
		syscall.Mkfifo(filepath.Join(dir, "0000000000000001.seg"), 0o600)
		if q, err := queue.Open(dir); err == nil {
			q.Close()
			t.Fatal("Open accepted a FIFO as a segment")
		}
	})
	t.Run("symlinked LOCK is not followed", func(t *testing.T) {
		dir, outside := t.TempDir(), filepath.Join(t.TempDir(), "lock-target")
		os.Symlink(outside, filepath.Join(dir, "LOCK"))
		q, err := queue.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		q.Close()
		if _, err := os.Lstat(outside); !os.IsNotExist(err) {
			t.Fatalf("Open created %s outside its directory", outside)
		}
	})
	t.Run("strays are ignored", func(t *testing.T) {
		dir := t.TempDir()
		q, _ := queue.Open(dir)
		q.Enqueue(bg, []byte("kept"))
		q.Close()
		for _, n := range []string{"0000000000000ABC.seg", "notes.txt", "1.seg", "0000000000000002.seg.bak"} {
			os.WriteFile(filepath.Join(dir, n), []byte("stray"), 0o600)
		}
		q, err := queue.Open(dir)
		if err != nil {
			t.Fatalf("Open with stray files: %v", err)
		}
		defer q.Close()
		if got := drain(t, q); !equal(got, []string{"kept"}) {
			t.Fatalf("got %q", got)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "0000000000000ABC.seg")); string(b) != "stray" {
			t.Fatal("a stray file was changed")
		}
	})
	t.Run("world-writable directory is tightened", func(t *testing.T) {
		dir := t.TempDir()
		os.Chmod(dir, 0o777)
		q, err := queue.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		q.Close()
		if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
			t.Fatalf("directory mode %v after Open, want 0700", st.Mode().Perm())
		}
	})
	t.Run("a process of an older version holding LOCK keeps Open out", func(t *testing.T) {
		dir := t.TempDir()
		f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		if q, err := queue.Open(dir); !errors.Is(err, queue.ErrLocked) {
			if q != nil {
				q.Close()
			}
			t.Fatalf("Open while LOCK is held = %v, want ErrLocked", err)
		}
	})
	t.Run("lock survives LOCK unlink", func(t *testing.T) {
		dir := t.TempDir()
		q, err := queue.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		os.Remove(filepath.Join(dir, "LOCK"))
		if q2, err := queue.Open(dir); !errors.Is(err, queue.ErrLocked) {
			if q2 != nil {
				q2.Close()
			}
			t.Fatalf("second Open after LOCK was unlinked = %v, want ErrLocked", err)
		}
	})
}

// segFiles lists the segment files of dir, oldest first.
func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(segs)
	return segs
}

// fillSegments enqueues n payloads of size bytes with 4 KiB segments and
// returns the payloads.
func fillSegments(t *testing.T, dir string, n, size int) []string {
	t.Helper()
	q, err := queue.Open(dir, queue.WithSegmentSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for i := range n {
		p := fmt.Sprintf("%04d-%s", i, strings.Repeat("x", size))
		ps = append(ps, p)
		if _, err := q.Enqueue(bg, []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	return ps
}

// Issue 13 item 4: only the newest segment may have a torn tail. A cut
// at the end of an older segment is reported, with what was lost.
func TestTailDamageInOlderSegmentReported(t *testing.T) {
	dir := t.TempDir()
	ps := fillSegments(t, dir, 40, 300)
	segs := segFiles(t, dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments, want >= 3", len(segs))
	}
	offs, _, err := queue.RecordOffsets(segs[0])
	if err != nil || len(offs) < 3 {
		t.Fatal(offs, err)
	}
	// The last record is the seal; cut into the last message before it.
	lost := len(offs) - 2
	os.Truncate(segs[0], offs[lost]+10)
	q, err := queue.Open(dir, queue.WithSegmentSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var ce *queue.CorruptError
	if !errors.As(q.Recovered(), &ce) || len(ce.Regions) != 1 || ce.Regions[0].Segment != filepath.Base(segs[0]) ||
		ce.Regions[0].Offset != offs[lost] || ce.Regions[0].Length != 10 {
		t.Fatalf("Recovered = %v, want the cut in %s at %d reported", q.Recovered(), filepath.Base(segs[0]), offs[lost])
	}
	if s, _ := q.Stats(bg); s.Corrupt != 1 {
		t.Fatalf("Stats.Corrupt = %d, want 1", s.Corrupt)
	}
	got := drain(t, q)
	if want := slices.Delete(slices.Clone(ps), lost, lost+1); !equal(got, want) {
		t.Fatalf("got %d messages, want %d (only the cut record lost)", len(got), len(want))
	}
}

// A finished segment cut exactly at a record boundary has lost its seal:
// reported too, though no byte of it is bad.
func TestOlderSegmentCutAtRecordBoundaryReported(t *testing.T) {
	dir := t.TempDir()
	fillSegments(t, dir, 40, 300)
	segs := segFiles(t, dir)
	offs, _, err := queue.RecordOffsets(segs[0])
	if err != nil || len(offs) < 3 {
		t.Fatal(offs, err)
	}
	os.Truncate(segs[0], offs[len(offs)-2])
	q, err := queue.Open(dir, queue.WithSegmentSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var ce *queue.CorruptError
	if !errors.As(q.Recovered(), &ce) || len(ce.Regions) != 1 || ce.Regions[0].Offset != offs[len(offs)-2] || ce.Regions[0].Length != 0 {
		t.Fatalf("Recovered = %v, want %s reported cut short at %d", q.Recovered(), filepath.Base(segs[0]), offs[len(offs)-2])
	}
}

// Issue 13 item 5: a payload holding validly framed records (an enqueue of
// id 999 and an ack of id 1) plus a flipped bit in the header of the
// record carrying it: recovery never replays the inner records.
func TestEmbeddedRecordsNeverReplayed(t *testing.T) {
	// -1 - k damages byte k of the file header (a segment without its
	// magic must not be read as format 1, which resyncs at every byte);
	// 0.. damage the header of the record carrying the payload.
	for flip := int64(-queue.FileHeaderSize - 1); flip < queue.ChunkHeader; flip++ {
		dir := t.TempDir()
		// Records of both formats, framed at many offsets.
		var inner []byte
		for range 20 {
			b, _ := queue.FramedRecord(int64(len(inner)), 999, []byte("never enqueued"))
			inner = append(inner, b...)
			inner = append(inner, queue.FramedAck(int64(len(inner)), 1)...)
			inner = append(inner, queue.V1Record(999, []byte("never enqueued"), false)...)
			inner = append(inner, queue.V1Record(1, nil, true)...)
		}
		seg, offs, _ := fill(t, dir, "one", string(inner), "three")
		data, _ := os.ReadFile(seg)
		switch {
		case flip == -queue.FileHeaderSize-1:
			clear(data[:64])
		case flip < 0:
			data[-1-flip] ^= 0x04
		default:
			data[offs[1]+flip] ^= 0x04
		}
		os.WriteFile(seg, data, 0o600)
		q, err := queue.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			m, err := q.TryReceive(bg, time.Minute)
			if err != nil {
				break
			}
			if m.ID == 999 || bytes.Contains(m.Payload, []byte("never enqueued")) && m.ID != 2 {
				t.Fatalf("flip at header byte %d: delivered id %v, a record from inside a payload", flip, m.ID)
			}
			got = append(got, string(m.Payload))
			q.Ack(bg, m)
		}
		q.Close()
		if flip >= 0 && (len(got) == 0 || got[0] != "one") {
			t.Fatalf("flip at header byte %d: got %d messages, want message one (the embedded ack must not delete it)", flip, len(got))
		}
	}
}

// Issue 13 item 6 and 5 together: damage in the middle of a segment costs
// the records it touches, never the rest of the file.
func TestZeroedBlockInMiddle(t *testing.T) {
	dir := t.TempDir()
	q, err := queue.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ps []string
	for i := range 300 {
		p := fmt.Sprintf("%04d-%s", i, strings.Repeat("y", 500))
		ps = append(ps, p)
		q.Enqueue(bg, []byte(p))
	}
	q.Close()
	seg := segFiles(t, dir)[0]
	data, _ := os.ReadFile(seg)
	clear(data[queue.BlockSize+100 : 2*queue.BlockSize+100])
	os.WriteFile(seg, data, 0o600)
	q, err = queue.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if !errors.Is(q.Recovered(), queue.ErrCorrupt) {
		t.Fatalf("Recovered = %v, want the zeroed block reported", q.Recovered())
	}
	got := drain(t, q)
	if len(got) < 300-2*queue.BlockSize/500 || got[len(got)-1] != ps[299] {
		t.Fatalf("got %d of 300 messages (last %q), want all but those in the zeroed 32 KiB", len(got), got[len(got)-1][:4])
	}
}

// Issue 13 item 7: ids are never given twice, even when compaction has
// deleted every segment that held the old ones. Acking the newest message
// first leaves the segments started by the later acks with no record of
// the highest id.
func TestIDsNeverReusedAfterCompaction(t *testing.T) {
	dir := t.TempDir()
	var maxID queue.ID
	for round := range 3 {
		q, err := queue.Open(dir, queue.WithSegmentSize(4096))
		if err != nil {
			t.Fatal(err)
		}
		var ms []*queue.Message
		for i := range 100 {
			id, err := q.Enqueue(bg, []byte(fmt.Sprintf("r%d-%d", round, i)))
			if err != nil {
				t.Fatal(err)
			}
			if id <= maxID {
				t.Fatalf("round %d: id %v given again (highest before %v)", round, id, maxID)
			}
			maxID = id
		}
		for range 100 {
			m, err := q.TryReceive(bg, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		slices.Reverse(ms)
		for _, m := range ms {
			if err := q.Ack(bg, m); err != nil {
				t.Fatal(err)
			}
		}
		q.Close()
	}
}

// Issue 13 item 7: compaction deletes a head segment only after the acks
// that emptied it are fsynced (relaxed mode: Ack itself does not fsync).
func TestCompactionSyncsAcksBeforeDelete(t *testing.T) {
	dir := t.TempDir()
	fs := &queue.FaultFS{}
	var mu sync.Mutex
	var ops []string
	removed := make(chan struct{}, 1)
	fs.SetFail(func(op, name string) error {
		mu.Lock()
		ops = append(ops, op+" "+name)
		mu.Unlock()
		if op == "remove" {
			select {
			case removed <- struct{}{}:
			default:
			}
		}
		return nil
	})
	clk := clock.NewFake(start)
	q, err := queue.Open(dir, queue.WithFaultFS(fs), queue.WithClock(clk), queue.WithSegmentSize(4096),
		queue.WithSyncInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := range 20 {
		q.Enqueue(bg, []byte(fmt.Sprintf("%02d-%s", i, strings.Repeat("a", 300))))
	}
	mu.Lock()
	mark := len(ops)
	mu.Unlock()
	for range 20 {
		m, err := q.TryReceive(bg, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		q.Ack(bg, m)
	}
	<-removed
	mu.Lock()
	defer mu.Unlock()
	synced := false
	for _, op := range ops[mark:] {
		if strings.HasPrefix(op, "sync ") && strings.HasSuffix(op, ".seg") {
			synced = true
		}
		if strings.HasPrefix(op, "remove ") {
			if !synced {
				t.Fatalf("%s before any fsync of the acks; ops %q", op, ops[mark:])
			}
			return
		}
	}
}

// Issue 13 item 9: a failed periodic fsync in relaxed mode shows in Stats
// and the health check.
func TestRelaxedSyncFailureShows(t *testing.T) {
	fs := &queue.FaultFS{}
	clk := clock.NewFake(start)
	q := open(t, queue.WithFaultFS(fs), queue.WithClock(clk), queue.WithSyncInterval(time.Second))
	if _, err := q.Enqueue(bg, []byte("in memory")); err != nil {
		t.Fatal(err)
	}
	failed := make(chan struct{})
	var once sync.Once
	fs.SetFail(func(op, name string) error {
		if op == "sync" {
			defer once.Do(func() { close(failed) })
			return syscall.EIO
		}
		return nil
	})
	clk.Advance(time.Second)
	<-failed
	var err error
	for err == nil {
		_, err = q.Stats(bg)
		runtime.Gosched()
	}
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("Stats after the failed periodic fsync = %v, want EIO", err)
	}
	if herr := queue.HealthCheck(q, queue.Limits{})(bg); !errors.Is(herr, syscall.EIO) {
		t.Fatalf("health check = %v, want EIO", herr)
	}
}

// Relaxed mode: Close's final flush fsyncs everything enqueued, even with
// producers still running until Close.
func TestRelaxedCloseKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	q, err := queue.Open(dir, queue.WithSyncInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ok []queue.ID
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id, err := q.Enqueue(bg, []byte(fmt.Sprintf("g%d-%d", g, i)))
				if err != nil {
					return
				}
				mu.Lock()
				ok = append(ok, id)
				n := len(ok)
				mu.Unlock()
				if n > 2000 {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q, err = queue.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if s, _ := q.Stats(bg); s.Depth != len(ok) {
		t.Fatalf("after Close and reopen: %d messages, want the %d whose Enqueue returned", s.Depth, len(ok))
	}
}

// Issue 13 item 12: memory comes back after a large backlog drains.
func TestMemoryReturnsAfterDrain(t *testing.T) {
	const n = 100_000
	q := open(t, queue.WithSyncInterval(time.Hour))
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for i := range n {
		if _, err := q.Enqueue(bg, []byte(fmt.Sprintf("m%d", i)), queue.WithDedupeKey(fmt.Sprintf("k%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	full := heap()
	for range n {
		m, err := q.TryReceive(bg, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		q.Ack(bg, m)
	}
	after := heap()
	perMsg := float64(full-before) / n
	t.Logf("heap: %d B before, %d B with %d pending (%.0f B per message), %d B after draining", before, full, n, perMsg, after)
	if after > before+uint64(perMsg*n/10)+4<<20 {
		t.Fatalf("heap after draining is %d B, before was %d B: the index kept %d B of %d B", after, before, after-before, full-before)
	}
}
