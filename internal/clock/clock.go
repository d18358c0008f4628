// Package clock makes time an input. Production code takes a Clock and uses
// Real; tests use a Fake whose time moves only when the test advances it, so
// no test sleeps to wait for time to pass.
package clock

import "time"

// Clock is the subset of package time that opskit's components use.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends the current time on C after d.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that sends on C every d; d must be > 0.
	NewTicker(d time.Duration) Ticker
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a *time.Timer seen through an interface.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// Ticker is a *time.Ticker seen through an interface.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	Reset(d time.Duration)
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }

// OrReal returns c, or Real when c is nil, so options can default cheaply.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}
