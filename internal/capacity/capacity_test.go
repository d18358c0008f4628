package capacity

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitState yields until the slots show busy and waiting (the goroutines
// under test have queued), so that the arrival order is known.
func waitState(t *testing.T, s *Slots, busy, waiting int) {
	t.Helper()
	for i := 0; ; i++ {
		if b, w := s.State(); b == busy && w == waiting {
			return
		}
		if i > 1e6 {
			b, w := s.State()
			t.Fatalf("state busy %d waiting %d, want %d and %d", b, w, busy, waiting)
		}
		runtime.Gosched()
	}
}

// At most the slots run at once, in arrival order; a waiter whose context
// ends gives up; SetSlots applies at once.
func TestSlotsRunInArrivalOrderAndFollowSetSlots(t *testing.T) {
	s, err := New(2, time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if !s.Acquire(ctx) || !s.Acquire(ctx) {
		t.Fatal("two slots not free")
	}
	short, cancel := context.WithCancel(ctx)
	cancel()
	if s.Acquire(short) {
		t.Fatal("a third piece of work got a slot")
	}
	got := make(chan int, 2)
	for i := range 2 {
		go func() {
			if s.Acquire(ctx) {
				got <- i
			}
		}()
		waitState(t, s, 2, i+1)
	}
	s.SetSlots(1)
	s.Release() // busy 1 of 1: nobody starts
	select {
	case i := <-got:
		t.Fatalf("waiter %d started with the slots halved and one still busy", i)
	default:
	}
	s.Release() // busy 0 of 1: the oldest waiter starts
	if i := <-got; i != 0 {
		t.Fatalf("waiter %d started first, want 0", i)
	}
	s.SetSlots(2) // room again: the second starts
	if i := <-got; i != 1 {
		t.Fatalf("got waiter %d, want 1", i)
	}
	s.Release()
	s.Release()
	if b, w := s.State(); b != 0 || w != 0 || len(s.granted) != 0 {
		t.Fatalf("left busy %d, waiting %d, granted %d", b, w, len(s.granted))
	}
}

// A waiter that leaves is taken out of the line; the slot stays free for
// the next one.
func TestWaiterThatLeavesFreesItsPlace(t *testing.T) {
	s, _ := New(1, time.Hour, nil)
	if !s.Acquire(context.Background()) {
		t.Fatal("no slot")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bool)
	go func() { done <- s.Acquire(ctx) }()
	waitState(t, s, 1, 1)
	cancel()
	if <-done {
		t.Fatal("a cancelled waiter got a slot")
	}
	if b, w := s.State(); b != 1 || w != 0 {
		t.Fatalf("busy %d waiting %d after the waiter left, want 1 and 0", b, w)
	}
	s.Release()
	if !s.Acquire(context.Background()) {
		t.Fatal("slot not free after release")
	}
	s.Release()
}

// Serve holds its slot for the service time on the clock: with one slot,
// the second piece of work runs only after the first one's service time.
func TestServeHoldsTheSlotForTheServiceTime(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	s, err := New(1, 50*time.Millisecond, fc)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Capacity(); got != 20 {
		t.Fatalf("Capacity = %v, want 20 a second", got)
	}
	done := make(chan time.Time, 2)
	for range 2 {
		go func() {
			if s.Serve(context.Background()) {
				done <- fc.Now()
			}
		}()
	}
	fc.WaitForTimers(1) // one holds the slot, the other waits in line
	waitState(t, s, 1, 1)
	fc.Advance(50 * time.Millisecond)
	first := <-done
	fc.WaitForTimers(1)
	fc.Advance(50 * time.Millisecond)
	second := <-done
	if d := second.Sub(first); d != 50*time.Millisecond {
		t.Fatalf("second finished %v after the first, want one service time", d)
	}
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		n    int
		d    time.Duration
		want string
	}{{0, time.Second, "slots 0"}, {1, 0, "service time 0s"}, {1, -time.Second, "service time -1s"}} {
		if _, err := New(tc.n, tc.d, nil); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "capacity: ") {
			t.Errorf("New(%d, %v) = %v, want an error naming %q", tc.n, tc.d, err, tc.want)
		}
	}
}
