package queue_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
)

func open(t *testing.T, opts ...queue.Option) *queue.Queue {
	t.Helper()
	q, err := queue.Open(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestFullAndBlock(t *testing.T) {
	q := open(t, queue.WithMaxMessages(2))
	q.Enqueue(bg, []byte("a"))
	q.Enqueue(bg, []byte("b"))
	if _, err := q.Enqueue(bg, []byte("c")); !errors.Is(err, queue.ErrFull) {
		t.Fatalf("Enqueue past the limit = %v, want ErrFull", err)
	}

	b := open(t, queue.WithMaxBytes(100), queue.WithBlockWhenFull())
	b.Enqueue(bg, make([]byte, 50))
	done := make(chan error, 1)
	go func() { _, err := b.Enqueue(bg, make([]byte, 50)); done <- err }()
	m, err := b.Receive(bg, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b.Ack(bg, m) // frees room: the blocked Enqueue goes through
	if err := <-done; err != nil {
		t.Fatalf("blocked Enqueue = %v", err)
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := b.Enqueue(ctx, make([]byte, 50)); !errors.Is(err, context.Canceled) {
		t.Fatalf("blocked Enqueue with a cancelled context = %v", err)
	}
}

func TestBadInput(t *testing.T) {
	q := open(t, queue.WithMaxPayload(10))
	for name, err := range map[string]error{
		"payload": func() error { _, err := q.Enqueue(bg, make([]byte, 11)); return err }(),
		"delay":   func() error { _, err := q.Enqueue(bg, nil, queue.WithDelay(-1)); return err }(),
		"key": func() error {
			_, err := q.Enqueue(bg, nil, queue.WithDedupeKey(string(make([]byte, 2000))))
			return err
		}(),
		"vis": func() error { _, err := q.TryReceive(bg, 0); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := queue.Open(t.TempDir(), queue.WithSegmentSize(1)); err == nil {
		t.Error("tiny segment size accepted")
	}
}

// Many segments fill and empty; all but the active one are deleted, and
// the messages still stored (a delayed one and a dead letter) survive a
// reopen after their segments were compacted away.
func TestCompactionDeletesSegments(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := []queue.Option{queue.WithClock(clk), queue.WithSegmentSize(4096)}
	q, err := queue.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	q.Enqueue(bg, []byte("later"), queue.WithDelay(time.Hour))
	q.Enqueue(bg, []byte("doomed"))
	m, _ := q.TryReceive(bg, time.Minute)
	q.Reject(bg, m, errors.New("bad"))
	for i := range 500 {
		q.Enqueue(bg, fmt.Appendf(nil, "msg-%d-%0100d", i, i))
		m, err := q.TryReceive(bg, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		q.Ack(bg, m)
	}
	q.Close() // waits for the compactor
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) > 3 {
		t.Fatalf("%d segments left after everything was acked, want at most 3", len(segs))
	}
	q, err = queue.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Recovered(); err != nil {
		t.Fatal(err)
	}
	dead, _ := q.DeadLetters(bg, 0)
	if len(dead) != 1 || string(dead[0].Payload) != "doomed" || dead[0].Reason != "bad" {
		t.Fatalf("dead letters %+v", dead)
	}
	clk.Advance(time.Hour)
	if got := drain(t, q); !equal(got, []string{"later"}) {
		t.Fatalf("got %q, want the delayed message", got)
	}
}

func TestWorker(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	q := open(t, queue.WithClock(clk), queue.WithRetryPolicy(retry.Policy{MaxAttempts: 2, Jitter: retry.JitterNone}))
	var mu sync.Mutex
	seen := map[string]int{}
	handled := make(chan struct{}, 10)
	w, err := queue.StartWorker(q, func(ctx context.Context, m *queue.Message) error {
		mu.Lock()
		seen[string(m.Payload)]++
		mu.Unlock()
		defer func() { handled <- struct{}{} }()
		switch string(m.Payload) {
		case "fail":
			return errors.New("downstream down")
		case "reject":
			return queue.Permanent(errors.New("malformed"))
		case "panic":
			panic("boom")
		}
		return nil
	}, queue.WorkerConfig{Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"ok", "fail", "reject", "panic"} {
		q.Enqueue(bg, []byte(p))
	}
	for range 4 {
		<-handled
	}
	waitSettled(t, q, 2, 1) // fail and panic wait for their backoff; reject is dead
	clk.Advance(time.Minute)
	for range 2 {
		<-handled
	}
	waitSettled(t, q, 0, 3)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Err() != nil {
		t.Fatal(w.Err())
	}
	if seen["ok"] != 1 || seen["fail"] != 2 || seen["reject"] != 1 || seen["panic"] != 2 {
		t.Fatalf("deliveries %v", seen)
	}
}

// waitSettled waits until the worker has settled what it handled: the
// handler signals before its Ack or Nack is written.
func waitSettled(t *testing.T, q *queue.Queue, delayed, dead int) {
	t.Helper()
	start := time.Now()
	for {
		s, _ := q.Stats(bg)
		if s.Delayed == delayed && s.Dead == dead && s.InFlight == 0 {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("stats %+v, want Delayed %d Dead %d", s, delayed, dead)
		}
		runtime.Gosched()
	}
}

func TestWorkerStopsOnQueueClose(t *testing.T) {
	q, err := queue.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, _ := queue.StartWorker(q, func(context.Context, *queue.Message) error { return nil }, queue.WorkerConfig{Concurrency: 4})
	q.Close()
	w.Close() // returns: every Receive saw ErrClosed
	if w.Err() != nil {
		t.Fatalf("Err = %v, want nil after a clean close", w.Err())
	}
}

func TestEnqueueAllocs(t *testing.T) {
	q := open(t, queue.WithSyncInterval(time.Hour))
	payload := make([]byte, 1024)
	n := testing.AllocsPerRun(1000, func() { q.Enqueue(bg, payload) })
	if n > 3 {
		t.Fatalf("relaxed Enqueue allocates %v times, want <= 3 (entry, map and heap growth)", n)
	}
}

func BenchmarkEnqueueRelaxed(b *testing.B) {
	q, _ := queue.Open(b.TempDir(), queue.WithSyncInterval(time.Hour))
	defer q.Close()
	payload := make([]byte, 1024)
	b.ReportAllocs()
	for b.Loop() {
		q.Enqueue(bg, payload)
	}
}
