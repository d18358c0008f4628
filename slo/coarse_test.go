package slo

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/clock"
)

// The coarse clock's loop stores every tick it receives, trackers read it
// instead of the Monitor's clock, and Shutdown stops the loop. The ticks
// come from the test, so nothing waits for real time.
func TestCoarseClockFollowsItsTicks(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(start)
	m, err := New(WithClock(fc), WithEvaluationInterval(-1), WithLogger(slog.New(slog.DiscardHandler)),
		WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	if m.coarse != nil {
		t.Fatal("a fake clock got a coarse clock")
	}
	m.coarse = new(atomic.Int64)
	ticks := make(chan time.Time)
	stopped := make(chan struct{})
	m.loops.Add(1)
	go m.tickCoarse(ticks, func() { close(stopped) })
	ahead := start.Add(2 * time.Hour)
	ticks <- ahead
	ticks <- ahead // the loop took the first one: it is back in select, the store is done
	if got := m.coarse.Load(); got != ahead.UnixNano() {
		t.Fatalf("coarse time %d, want %d", got, ahead.UnixNano())
	}
	tr := m.MustAdd(Objective{Name: "a", Target: 0.99})
	tr.Record(false) // counted at the coarse time, two hours ahead of the fake clock
	fc.Advance(2 * time.Hour)
	if w, _ := m.Status()[0].Window(time.Hour); w.Total != 1 || w.Bad != 1 {
		t.Errorf("1h window: %d/%d, want the event counted at the coarse time", w.Total, w.Bad)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-stopped
}

// On the real clock New starts the coarse clock; Record lands in the
// current window and Shutdown stops the goroutine (goleak checks).
func TestRealClockRecords(t *testing.T) {
	m, err := New(WithEvaluationInterval(-1), WithLogger(slog.New(slog.DiscardHandler)), WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	if m.coarse == nil {
		t.Fatal("no coarse clock on the real clock")
	}
	tr := m.MustAdd(Objective{Name: "real", Target: 0.99})
	tr.Record(false)
	tr.RecordLatency(time.Millisecond)
	if w, _ := m.Status()[0].Window(5 * time.Minute); w.Total != 2 || w.Bad != 1 {
		t.Errorf("got %d/%d, want 2 events, 1 bad", w.Total, w.Bad)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
