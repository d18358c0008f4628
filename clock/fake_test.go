package clock_test

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFakeNowMovesOnlyOnAdvanceOrSet(t *testing.T) {
	c := clock.NewFake(epoch)
	if got := c.Now(); !got.Equal(epoch) {
		t.Fatalf("Now() = %v, want %v", got, epoch)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), epoch.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: Now() = %v, want %v", got, want)
	}
	c.Set(epoch.Add(time.Hour))
	if got, want := c.Now(), epoch.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("after Set: Now() = %v, want %v", got, want)
	}
}

func TestFakeNeverMovesBackwards(t *testing.T) {
	c := clock.NewFake(epoch)
	c.Advance(time.Minute)
	ran := false
	c.AfterFunc(time.Second, func() { ran = true })
	c.Set(epoch) // backwards: ignored
	c.Advance(-time.Hour)
	if got, want := c.Now(), epoch.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("after moving backwards: Now() = %v, want %v", got, want)
	}
	if ran || c.Timers() != 1 {
		t.Fatalf("moving backwards ran=%v, Timers()=%d; want the call still pending", ran, c.Timers())
	}
}

func TestFakeRunsDueCallsInDueOrderReadingTheirDueTime(t *testing.T) {
	c := clock.NewFake(epoch)
	type call struct {
		name string
		now  time.Duration // Now() inside the call, relative to epoch
	}
	var got []call
	at := func(name string) func() {
		return func() { got = append(got, call{name, c.Now().Sub(epoch)}) }
	}
	c.AfterFunc(3*time.Second, at("3s"))
	c.AfterFunc(time.Second, at("1s-first"))
	c.AfterFunc(2*time.Second, at("2s"))
	c.AfterFunc(time.Second, at("1s-second")) // same instant: scheduling order
	c.AfterFunc(time.Minute, at("1m"))

	c.Advance(10 * time.Second)
	// got is written only by calls, which ran on this goroutine inside
	// Advance: reading it here without a lock is the claim under test.
	want := []call{{"1s-first", time.Second}, {"1s-second", time.Second}, {"2s", 2 * time.Second}, {"3s", 3 * time.Second}}
	if !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if got, want := c.Now(), epoch.Add(10*time.Second); !got.Equal(want) {
		t.Fatalf("after Advance: Now() = %v, want %v", got, want)
	}
	if c.Timers() != 1 {
		t.Fatalf("Timers() = %d, want 1 (the 1m call)", c.Timers())
	}
}

func TestFakeCallDueExactlyAtTargetRuns(t *testing.T) {
	c := clock.NewFake(epoch)
	ran := 0
	c.AfterFunc(time.Second, func() { ran++ })
	c.Advance(999 * time.Millisecond)
	if ran != 0 {
		t.Fatal("call ran before its due time")
	}
	c.Advance(time.Millisecond)
	if ran != 1 {
		t.Fatalf("call ran %d times at its due time, want 1", ran)
	}
	c.Advance(time.Hour)
	if ran != 1 {
		t.Fatalf("call ran %d times after a later Advance, want 1", ran)
	}
}

func TestFakeStop(t *testing.T) {
	c := clock.NewFake(epoch)
	ran := 0
	tm := c.AfterFunc(time.Second, func() { ran++ })
	other := c.AfterFunc(time.Second, func() { ran += 10 })
	if !tm.Stop() {
		t.Fatal("Stop of a pending call = false, want true")
	}
	if tm.Stop() {
		t.Fatal("second Stop = true, want false")
	}
	c.Advance(time.Hour)
	if ran != 10 {
		t.Fatalf("ran = %d, want 10 (only the call not stopped)", ran)
	}
	if other.Stop() {
		t.Fatal("Stop of a call that has run = true, want false")
	}
}

func TestFakeCallStoppedByAnEarlierCallInTheSameAdvanceDoesNotRun(t *testing.T) {
	c := clock.NewFake(epoch)
	ran := false
	later := c.AfterFunc(2*time.Second, func() { ran = true })
	c.AfterFunc(time.Second, func() {
		if !later.Stop() {
			t.Error("Stop inside a call = false, want true")
		}
	})
	c.Advance(time.Minute)
	if ran {
		t.Fatal("a call stopped during Advance ran")
	}
}

func TestFakeZeroOrNegativeDurationRunsAtOnce(t *testing.T) {
	c := clock.NewFake(epoch)
	for _, d := range []time.Duration{0, -time.Second} {
		ran := false
		tm := c.AfterFunc(d, func() { ran = true })
		if !ran {
			t.Fatalf("AfterFunc(%v) did not run before returning", d)
		}
		if tm.Stop() {
			t.Fatalf("Stop after AfterFunc(%v) ran = true, want false", d)
		}
	}
	if c.Timers() != 0 {
		t.Fatalf("Timers() = %d, want 0", c.Timers())
	}
}

func TestFakeCallSchedulingAnotherDuringAdvance(t *testing.T) {
	c := clock.NewFake(epoch)
	var got []time.Duration
	record := func() { got = append(got, c.Now().Sub(epoch)) }
	c.AfterFunc(time.Second, func() {
		record()
		c.AfterFunc(2*time.Second, func() { // due at 3s: inside this Advance
			record()
			c.AfterFunc(time.Hour, record) // due past it: left pending
		})
	})
	c.AfterFunc(4*time.Second, record)
	c.Advance(5 * time.Second)
	want := []time.Duration{time.Second, 3 * time.Second, 4 * time.Second}
	if !slices.Equal(got, want) {
		t.Fatalf("calls ran at %v, want %v", got, want)
	}
	if c.Timers() != 1 {
		t.Fatalf("Timers() = %d, want 1", c.Timers())
	}
	c.Advance(time.Hour)
	if want := append(want, time.Hour+3*time.Second); !slices.Equal(got, want) {
		t.Fatalf("calls ran at %v, want %v", got, want)
	}
}

func TestFakeCallAdvancingTheClockItself(t *testing.T) {
	c := clock.NewFake(epoch)
	var got []time.Duration
	c.AfterFunc(time.Second, func() { c.Advance(time.Minute) }) // moves to 1m1s
	c.AfterFunc(30*time.Second, func() { got = append(got, c.Now().Sub(epoch)) })
	c.Advance(10 * time.Second)
	if want := []time.Duration{30 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("calls ran at %v, want %v", got, want)
	}
	if got, want := c.Now(), epoch.Add(61*time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v (the nested Advance wins)", got, want)
	}
}

func TestFakeWaitForTimers(t *testing.T) {
	c := clock.NewFake(epoch)
	woke := make(chan time.Time)
	go func() {
		fired := make(chan struct{})
		c.AfterFunc(time.Hour, func() { close(fired) })
		<-fired
		woke <- c.Now()
	}()
	c.WaitForTimers(1) // returns only once the goroutine has armed its call
	c.Advance(time.Hour)
	if got, want := <-woke, epoch.Add(time.Hour); !got.Equal(want) {
		t.Fatalf("woke at %v, want %v", got, want)
	}
	c.WaitForTimers(0) // already satisfied: returns at once
}

func TestFakeWaitForTimersCountsOnlyPendingCalls(t *testing.T) {
	c := clock.NewFake(epoch)
	c.AfterFunc(time.Second, func() {}).Stop()
	c.AfterFunc(time.Second, func() {})
	done := make(chan struct{})
	go func() {
		c.WaitForTimers(2)
		close(done)
	}()
	c.AfterFunc(time.Minute, func() {}) // the second pending call
	<-done
}

func TestZeroFakeIsUsable(t *testing.T) {
	var c clock.Fake
	if !c.Now().IsZero() {
		t.Fatalf("zero Fake Now() = %v, want the zero time", c.Now())
	}
	ran := false
	c.AfterFunc(time.Second, func() { ran = true })
	c.WaitForTimers(1)
	c.Advance(time.Second)
	if !ran {
		t.Fatal("zero Fake did not run a due call")
	}
}

func TestIsReal(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    clock.Clock
		want bool
	}{
		{"nil", nil, true},
		{"Real", clock.Real(), true},
		{"Fake", clock.NewFake(epoch), false},
		{"wrapped Real", wrapped{clock.Real()}, false},
	} {
		if got := clock.IsReal(tc.c); got != tc.want {
			t.Errorf("IsReal(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// wrapped is a clock of a user's own: it must satisfy Clock with no help.
type wrapped struct{ clock.Clock }

func TestRealClock(t *testing.T) {
	c := clock.Real()
	before := time.Now()
	if now := c.Now(); now.Before(before) {
		t.Fatalf("Real().Now() = %v, before time.Now() %v", now, before)
	}
	fired := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(fired) })
	<-fired
	if c.AfterFunc(time.Hour, func() { t.Error("stopped call ran") }).Stop() != true {
		t.Fatal("Stop of a pending real call = false, want true")
	}
}
