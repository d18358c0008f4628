package shedding

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The service runs at most its slots at once, in arrival order, gives up
// a waiter whose context ends, and follows SetSlots at once.
func TestServiceSlots(t *testing.T) {
	s := NewService(2, time.Hour)
	ctx := context.Background()
	if !s.acquire(ctx) || !s.acquire(ctx) {
		t.Fatal("two slots not free")
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if s.acquire(short) {
		t.Fatal("a third request got a slot")
	}
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			if s.acquire(ctx) {
				got <- i
			}
		}()
		for { // wait until it queues, so that the order is known
			s.mu.Lock()
			n := len(s.waiters)
			s.mu.Unlock()
			if n == i+1 {
				break
			}
			runtime.Gosched()
		}
	}
	s.SetSlots(1)
	s.release() // busy 1 of 1: nobody starts
	select {
	case i := <-got:
		t.Fatalf("waiter %d started with the slots halved and one still busy", i)
	default:
	}
	s.release() // busy 0 of 1: the oldest waiter starts
	if i := <-got; i != 0 {
		t.Fatalf("waiter %d started first, want 0", i)
	}
	s.SetSlots(2) // room again: the second starts
	if i := <-got; i != 1 {
		t.Fatalf("got waiter %d, want 1", i)
	}
	s.release()
	s.release()
	if s.busy != 0 || len(s.waiters) != 0 || len(s.granted) != 0 {
		t.Fatalf("left busy %d, waiters %d, granted %d", s.busy, len(s.waiters), len(s.granted))
	}
}

func TestProbesBypassTheSlots(t *testing.T) {
	s := NewService(1, time.Hour)
	if !s.acquire(context.Background()) {
		t.Fatal("no slot")
	}
	for _, p := range []string{"/livez", "/readyz/db", "/metrics"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	if IsProbe("/livezz") || IsProbe("/work") {
		t.Error("IsProbe too broad")
	}
	s.release()
}

func TestMergeAndPercentile(t *testing.T) {
	a := Result{Good: 2, Shed: 1, Capacity: 10, Latencies: []time.Duration{3, 1}}
	b := Result{Good: 1, Failed: 4, ProbesShed: 1, Capacity: 10, Latencies: []time.Duration{2}}
	m := Merge(a, b)
	if m.Good != 3 || m.Shed != 1 || m.Failed != 4 || m.ProbesShed != 1 || m.Goodput() != 0.15 {
		t.Fatalf("merged %+v", m)
	}
	if m.Percentile(0) != 1 || m.Percentile(50) != 2 || m.Percentile(99) != 3 || (Result{}).Percentile(99) != 0 {
		t.Fatalf("percentiles of %v", m.Latencies)
	}
}

func TestFindAndBadRun(t *testing.T) {
	for _, l := range Limiters() {
		if got, err := Find(l.Name); err != nil || got.Name != l.Name {
			t.Errorf("Find(%q): %v", l.Name, err)
		}
	}
	if _, err := Find("nope"); err == nil {
		t.Error("Find of an unknown limiter succeeded")
	}
	if _, err := Measure(context.Background(), NewService(2, time.Millisecond), Limiters()[0], Run{}); err == nil {
		t.Error("Measure without a load succeeded")
	}
}
