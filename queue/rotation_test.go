package queue_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
)

// TestRotationBySettlementRecordsKeepsLogOrder settles old messages (acks
// carry the id of the message they settle, which is older than the newest
// segment) in an order that makes those small records start new segments.
// The queue must keep writing, and after a reopen every acked message must
// stay gone: a segment that sorted before the enqueues it settles would
// bring them back.
func TestRotationBySettlementRecordsKeepsLogOrder(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := []queue.Option{queue.WithClock(clk), queue.WithSegmentSize(4096)}
	q, err := queue.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("p"), 900) // four records to a segment
	const n = 40
	for range n {
		if _, err := q.Enqueue(bg, payload); err != nil {
			t.Fatal(err)
		}
	}
	var leased []*queue.Message
	for range n {
		m, err := q.TryReceive(bg, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		leased = append(leased, m)
	}
	// Ack from the newest message back, keeping the oldest: the acks of
	// ids that are segment names fall where a segment fills up.
	for i := n - 1; i >= 1; i-- {
		if err := q.Ack(bg, leased[i]); err != nil {
			t.Fatalf("ack %d of %d: %v", n-i, n-1, err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q, err = queue.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	st, err := q.Stats(bg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Depth != 1 {
		t.Fatalf("depth after reopen = %d, want 1 (the one message not acked)", st.Depth)
	}
	clk.Advance(2 * time.Hour) // its lease ended with the old process
	m, err := q.TryReceive(bg, time.Minute)
	if err != nil || m.ID != leased[0].ID {
		t.Fatalf("after reopen received %v, %v; want message %v", m, err, leased[0].ID)
	}
}
