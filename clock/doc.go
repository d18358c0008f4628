// Package clock makes time an input to every opskit package.
//
// Production code passes nothing and gets the wall clock. Tests pass a Fake
// (or any clock of their own, see Clock) and move time by hand, so a test of
// "the page fires after ten minutes of errors" or "the retry waits 30 s"
// runs in microseconds and never sleeps.
//
// A complete program, driving a component of its own on the fake clock:
//
//	package main
//
//	import (
//		"fmt"
//		"time"
//
//		"github.com/opskit/opskit/clock"
//	)
//
//	// lease expires a while after it was taken, unless renewed.
//	type lease struct {
//		c     clock.Clock
//		timer clock.Timer
//	}
//
//	func (l *lease) take(d time.Duration, expired func()) {
//		if l.timer != nil {
//			l.timer.Stop()
//		}
//		l.timer = l.c.AfterFunc(d, expired)
//	}
//
//	func main() {
//		fake := clock.NewFake(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
//		l := &lease{c: fake} // production: &lease{c: clock.Real()}
//		expired := func() { fmt.Println("expired at", fake.Now().Format(time.Kitchen)) }
//		l.take(time.Minute, expired)
//		fake.Advance(50 * time.Second)
//		l.take(time.Minute, expired) // renewed: due at 9:01:50
//		fake.Advance(time.Hour)      // prints "expired at 9:01AM", then returns
//	}
//
// # Clocks of your own
//
// A Clock is deliberately small — the time now, and a function to call
// later — so that any clock can satisfy it. Adapting
// github.com/jonboulle/clockwork or github.com/benbjohnson/clock takes
// three lines, because their timers already have Stop() bool:
//
//	type cw struct{ clockwork.Clock }
//
//	func (c cw) AfterFunc(d time.Duration, f func()) clock.Timer {
//		return c.Clock.AfterFunc(d, f)
//	}
//
// (benchmarks/clock_adapter_test.go drives opskit with both.) opskit
// builds the timers, tickers, sleeps and context deadlines it needs from
// AfterFunc, so one method is all a fake must get right.
//
// # The Fake
//
// Fake runs due calls synchronously inside Advance and Set, in the order
// they fall due, with Now reading each call's due time; when Advance
// returns, everything it fired has returned. Packages that keep a coarse
// cached clock for their hot path refresh it only on the real clock; on any
// other clock they read Now, so the next call after Advance sees the new
// time. WaitForTimers waits, without sleeping, until a goroutine under test
// has armed its timer.
//
// # Defaults
//
// Every opskit option that takes a Clock treats nil as Real. IsReal lets a
// package take the standard library's faster paths on the wall clock.
package clock
