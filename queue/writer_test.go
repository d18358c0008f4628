package queue

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Issue 13 item 9: in relaxed mode, asking to fsync a batch that a leader
// has already taken without an fsync (compaction waiting for its copies,
// the periodic sync) must still get an fsync before it returns, and
// without touching the batch the leader is reading (go test -race).
func TestSyncOfTakenBatch(t *testing.T) {
	fs := &FaultFS{}
	q, err := Open(t.TempDir(), WithFaultFS(fs), WithSyncInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.Enqueue(context.Background(), []byte("relaxed")); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var synced bool
	writing := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	fs.SetFail(func(op, name string) error {
		switch op {
		case "write":
			once.Do(func() { close(writing); <-release })
		case "sync":
			mu.Lock()
			synced = true
			mu.Unlock()
		}
		return nil
	})
	q.w.mu.Lock()
	b := q.w.cur
	q.w.mu.Unlock()
	flushed := make(chan error, 1)
	go func() { flushed <- q.w.flush(false) }() // the leader: takes b, no fsync
	<-writing
	waited := make(chan error, 1)
	go func() { waited <- q.w.wait(b, true) }()
	close(release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !synced {
		t.Fatal("wait(b, sync) returned without an fsync after b was taken by a leader that did not sync")
	}
}
