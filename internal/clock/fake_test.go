package clock_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/opskit/opskit/internal/clock"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeNowMovesOnlyOnAdvance(t *testing.T) {
	c := clock.NewFake(epoch)
	if got := c.Now(); !got.Equal(epoch) {
		t.Fatalf("Now() = %v, want %v", got, epoch)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), epoch.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: Now() = %v, want %v", got, want)
	}
	c.Set(epoch) // backwards is ignored
	if got, want := c.Now(), epoch.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Set backwards: Now() = %v, want %v", got, want)
	}
}

func TestFakeTimerFiresAtDueTime(t *testing.T) {
	c := clock.NewFake(epoch)
	tm := c.NewTimer(time.Second)
	c.Advance(999 * time.Millisecond)
	select {
	case <-tm.C():
		t.Fatal("timer fired early")
	default:
	}
	c.Advance(time.Millisecond)
	select {
	case got := <-tm.C():
		if want := epoch.Add(time.Second); !got.Equal(want) {
			t.Fatalf("timer sent %v, want %v", got, want)
		}
	default:
		t.Fatal("timer did not fire at its due time")
	}
	if c.Timers() != 0 {
		t.Fatalf("Timers() = %d after firing, want 0", c.Timers())
	}
}

func TestFakeTimerStopAndReset(t *testing.T) {
	c := clock.NewFake(epoch)
	tm := c.NewTimer(time.Second)
	if !tm.Stop() {
		t.Fatal("Stop on an armed timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	c.Advance(time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if tm.Reset(time.Minute) {
		t.Fatal("Reset of a stopped timer reported it active")
	}
	c.Advance(time.Minute)
	select {
	case <-tm.C():
	default:
		t.Fatal("reset timer did not fire")
	}
}

func TestFakeTickerFiresEveryPeriodInOrder(t *testing.T) {
	c := clock.NewFake(epoch)
	tk := c.NewTicker(10 * time.Second)
	defer tk.Stop()
	var seen []time.Time
	for i := 0; i < 3; i++ {
		c.Advance(10 * time.Second)
		seen = append(seen, <-tk.C())
	}
	for i, got := range seen {
		if want := epoch.Add(time.Duration(i+1) * 10 * time.Second); !got.Equal(want) {
			t.Errorf("tick %d = %v, want %v", i, got, want)
		}
	}
	tk.Reset(time.Minute)
	c.Advance(30 * time.Second)
	select {
	case <-tk.C():
		t.Fatal("ticker fired before its new period")
	default:
	}
	c.Advance(30 * time.Second)
	if got, want := <-tk.C(), epoch.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("tick after Reset = %v, want %v", got, want)
	}
}

func TestFakeAfterFuncRunsAndSeesDueTime(t *testing.T) {
	c := clock.NewFake(epoch)
	var ran atomic.Int64
	done := make(chan time.Time, 1)
	c.AfterFunc(time.Minute, func() { ran.Add(1); done <- c.Now() })
	c.Advance(2 * time.Minute)
	<-done
	if ran.Load() != 1 {
		t.Fatalf("AfterFunc ran %d times, want 1", ran.Load())
	}
}

func TestFakeZeroDurationTimerFiresAtOnce(t *testing.T) {
	c := clock.NewFake(epoch)
	tm := c.NewTimer(0)
	select {
	case <-tm.C():
	default:
		t.Fatal("zero-duration timer did not fire at once")
	}
}

func TestWaitForTimers(t *testing.T) {
	c := clock.NewFake(epoch)
	woke := make(chan struct{})
	go func() {
		tm := c.NewTimer(time.Hour)
		<-tm.C()
		close(woke)
	}()
	c.WaitForTimers(1)
	c.Advance(time.Hour)
	<-woke
}

func TestRealClockTimerFires(t *testing.T) {
	tm := clock.Real.NewTimer(time.Millisecond)
	<-tm.C()
	if clock.OrReal(nil) != clock.Real {
		t.Fatal("OrReal(nil) is not Real")
	}
	c := clock.NewFake(epoch)
	if clock.OrReal(c) != clock.Clock(c) {
		t.Fatal("OrReal(c) did not return c")
	}
}
