package queue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
)

// deadLines keeps the "message dead-lettered" log records.
type deadLines struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *deadLines) Enabled(context.Context, slog.Level) bool { return true }
func (h *deadLines) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *deadLines) WithGroup(string) slog.Handler            { return h }
func (h *deadLines) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "queue: message dead-lettered" {
		h.mu.Lock()
		h.recs = append(h.recs, r)
		h.mu.Unlock()
	}
	return nil
}

func (h *deadLines) lines() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]slog.Record(nil), h.recs...)
}

// Dead-lettering is logged, but a storm of dead letters is not a storm of
// log lines: a burst of 5, then one a minute saying how many went
// unlogged.
func TestDeadLetteringLogIsRateLimited(t *testing.T) {
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	logs := &deadLines{}
	q := open(t, queue.WithClock(clk), queue.WithLogger(slog.New(logs)))
	reject := func(n int) {
		t.Helper()
		for range n {
			if _, err := q.Enqueue(bg, []byte("poison")); err != nil {
				t.Fatal(err)
			}
			m, err := q.TryReceive(bg, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Reject(bg, m, errors.New("bad input")); err != nil {
				t.Fatal(err)
			}
		}
	}
	reject(20)
	if n := len(logs.lines()); n != 5 {
		t.Fatalf("%d lines for 20 dead letters at once, want 5", n)
	}
	clk.Advance(time.Minute)
	reject(1)
	lines := logs.lines()
	if len(lines) != 6 {
		t.Fatalf("%d lines after a minute and one more, want 6", len(lines))
	}
	var unlogged int64 = -1
	lines[5].Attrs(func(a slog.Attr) bool {
		if a.Key == "unlogged_before" {
			unlogged = a.Value.Int64()
		}
		return true
	})
	if unlogged != 15 {
		t.Fatalf("unlogged_before = %d, want 15", unlogged)
	}
	if s, _ := q.Stats(bg); s.DeadLettered != 21 || s.Dead != 21 {
		t.Fatalf("Stats = %+v, want all 21 counted", s)
	}
}
