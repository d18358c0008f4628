package clock_test

import (
	"fmt"
	"time"

	"github.com/opskit/opskit/clock"
)

// A component takes a clock.Clock; its test drives a Fake and never sleeps.
func Example() {
	fake := clock.NewFake(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))

	// The component: a reminder that fires unless dismissed.
	var pending clock.Timer
	remind := func(after time.Duration, what string) {
		pending = fake.AfterFunc(after, func() {
			fmt.Println(fake.Now().Format("15:04:05"), what)
		})
	}

	remind(30*time.Minute, "stand-up")
	remind(10*time.Minute, "coffee")
	pending.Stop() // dismissed: the coffee reminder never fires
	fake.Advance(time.Hour)
	fmt.Println("now", fake.Now().Format("15:04:05"))
	// Output:
	// 09:30:00 stand-up
	// now 10:00:00
}

// Due calls run inside Advance, in the order they fall due, each reading
// its own due time; a call may schedule another, which runs in the same
// Advance if it falls due before the target.
func ExampleFake_Advance() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	since := func() time.Duration { return fake.Now().Sub(start) }

	fake.AfterFunc(2*time.Second, func() { fmt.Println("b at", since()) })
	fake.AfterFunc(time.Second, func() {
		fmt.Println("a at", since())
		fake.AfterFunc(2*time.Second, func() { fmt.Println("c at", since()) })
	})
	fake.Advance(10 * time.Second)
	fmt.Println("Advance returned at", since(), "with", fake.Timers(), "pending")
	// Output:
	// a at 1s
	// b at 2s
	// c at 3s
	// Advance returned at 10s with 0 pending
}

// A goroutine under test arms its timer some time after it starts;
// WaitForTimers waits for that, so Advance does not run too early.
func ExampleFake_WaitForTimers() {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	done := make(chan string)
	go func() {
		woke := make(chan struct{})
		fake.AfterFunc(time.Minute, func() { close(woke) })
		<-woke
		done <- "worker woke at " + fake.Now().Format("15:04")
	}()

	fake.WaitForTimers(1)
	fake.Advance(time.Minute)
	fmt.Println(<-done)
	// Output:
	// worker woke at 00:01
}
