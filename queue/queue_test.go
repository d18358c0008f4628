package queue_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
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
	parked := newSignalCtx()
	done := make(chan error, 1)
	go func() { _, err := b.Enqueue(parked, make([]byte, 50)); done <- err }()
	m, err := b.Receive(bg, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The producer checks its context under the queue's lock just before
	// it parks, so once it has, the Ack below must wake it: this is the
	// blocking branch, not a race the Enqueue could win.
	<-parked.checked
	select {
	case err := <-done:
		t.Fatalf("Enqueue into a full queue returned %v without waiting", err)
	default:
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

// signalCtx is a context whose Err, the first time it is called, closes
// checked: a blocking Enqueue calls it when it finds no room.
type signalCtx struct {
	context.Context
	once    sync.Once
	checked chan struct{}
}

func newSignalCtx() *signalCtx {
	return &signalCtx{Context: context.Background(), checked: make(chan struct{})}
}

func (c *signalCtx) Err() error {
	c.once.Do(func() { close(c.checked) })
	return c.Context.Err()
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
	dead, _ := q.DeadLetters(bg, queue.DeadFilter{})
	if len(dead) != 1 || string(dead[0].Payload) != "doomed" || dead[0].Reason != "bad" {
		t.Fatalf("dead letters %+v", dead)
	}
	clk.Advance(time.Hour)
	if got := drain(t, q); !equal(got, []string{"later"}) {
		t.Fatalf("got %q, want the delayed message", got)
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
