package clock

import "time"

// Clock tells the time and calls functions later. opskit builds its timers,
// tickers, sleeps and deadlines from these two methods.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once the clock has moved on by d (at once when
	// d <= 0). The real clock calls f in its own goroutine; a fake may call
	// it on the goroutine that moves time. f must not block for long.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started, and reports whether it
	// did so.
	Stop() bool
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

// IsReal reports whether c is the wall clock returned by Real, or nil
// (which every opskit package takes to mean the wall clock). Packages use
// it to take the standard library's faster paths.
func IsReal(c Clock) bool {
	if c == nil {
		return true
	}
	_, ok := c.(realClock)
	return ok
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
