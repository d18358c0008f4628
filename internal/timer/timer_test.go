package timer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTimerFiresOnAdvance(t *testing.T) {
	c := clock.NewFake(epoch)
	tm := timer.New(c, time.Minute)
	c.Advance(59 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("fired before its time")
	default:
	}
	c.Advance(time.Second)
	select {
	case got := <-tm.C():
		if want := epoch.Add(time.Minute); !got.Equal(want) {
			t.Fatalf("fired with %v, want %v", got, want)
		}
	default:
		t.Fatal("did not fire when due")
	}
	if tm.Stop() {
		t.Fatal("Stop after firing reported an armed timer")
	}
}

func TestTimerResetAndStop(t *testing.T) {
	c := clock.NewFake(epoch)
	tm := timer.New(c, time.Second)
	if !tm.Reset(time.Hour) {
		t.Fatal("Reset of an armed timer reported it idle")
	}
	c.Advance(time.Minute)
	select {
	case <-tm.C():
		t.Fatal("old deadline fired after Reset")
	default:
	}
	if !tm.Stop() {
		t.Fatal("Stop of an armed timer reported it idle")
	}
	c.Advance(2 * time.Hour)
	select {
	case <-tm.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if c.Timers() != 0 {
		t.Fatalf("Timers() = %d after Stop, want 0", c.Timers())
	}
}

func TestTickerFiresEachPeriod(t *testing.T) {
	c := clock.NewFake(epoch)
	k := timer.NewTicker(c, 10*time.Second)
	defer k.Stop()
	var got []time.Time
	for i := 0; i < 3; i++ {
		c.Advance(10 * time.Second)
		got = append(got, <-k.C())
	}
	for i, g := range got {
		if want := epoch.Add(time.Duration(i+1) * 10 * time.Second); !g.Equal(want) {
			t.Fatalf("tick %d at %v, want %v", i, g, want)
		}
	}
	k.Stop()
	c.Advance(time.Minute)
	select {
	case <-k.C():
		t.Fatal("stopped ticker ticked")
	default:
	}
}

func TestSleepWaitsForTheClockOrContext(t *testing.T) {
	c := clock.NewFake(epoch)
	done := make(chan error, 1)
	go func() { done <- timer.Sleep(context.Background(), c, time.Hour) }()
	c.WaitForTimers(1)
	c.Advance(time.Hour)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v, want nil", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- timer.Sleep(ctx, c, time.Hour) }()
	c.WaitForTimers(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep after cancel = %v, want context.Canceled", err)
	}
}

func TestWithDeadlineOnFakeClock(t *testing.T) {
	c := clock.NewFake(epoch)
	ctx, cancel := timer.WithTimeout(context.Background(), c, time.Minute)
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || !d.Equal(epoch.Add(time.Minute)) {
		t.Fatalf("Deadline() = %v, %v", d, ok)
	}
	c.Advance(59 * time.Second)
	if ctx.Err() != nil {
		t.Fatalf("ended early: %v", ctx.Err())
	}
	c.Advance(time.Second)
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v, want DeadlineExceeded", ctx.Err())
	}

	ctx2, cancel2 := timer.WithTimeout(context.Background(), c, time.Minute)
	cancel2()
	if !errors.Is(ctx2.Err(), context.Canceled) {
		t.Fatalf("cancelled: Err() = %v, want Canceled", ctx2.Err())
	}
}

func TestRealClockPaths(t *testing.T) {
	tm := timer.New(nil, time.Millisecond)
	<-tm.C()
	k := timer.NewTicker(clock.Real(), time.Millisecond)
	<-k.C()
	k.Stop()
	ctx, cancel := timer.WithTimeout(context.Background(), clock.Real(), time.Millisecond)
	defer cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err() = %v", ctx.Err())
	}
	if err := timer.Sleep(context.Background(), nil, time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// A ticker stopped while another goroutine advances the clock stays
// stopped: its re-arming checks, under the timer's lock, that no Stop came
// since the firing (a stress test: the window it guards is a few
// instructions wide).
func TestTickerStoppedDuringAdvanceStaysStopped(t *testing.T) {
	for i := 0; i < 200; i++ {
		c := clock.NewFake(epoch)
		k := timer.NewTicker(c, time.Second)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Advance(time.Second)
		}()
		k.Stop()
		<-done
		select { // drain a tick sent before Stop won
		case <-k.C():
		default:
		}
		c.Advance(time.Hour)
		select {
		case <-k.C():
			t.Fatalf("round %d: stopped ticker ticked", i)
		default:
		}
		if n := c.Timers(); n != 0 {
			t.Fatalf("round %d: %d calls still scheduled after Stop", i, n)
		}
	}
}
