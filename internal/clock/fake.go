package clock

import (
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when Advance or Set is called.
// Timers and tickers due by the new time fire during Advance, in time order;
// AfterFunc callbacks run in their own goroutine, like the real ones.
// WaitForTimers lets a test wait, without sleeping, until the code under
// test has armed the timer it is about to block on.
type Fake struct {
	mu      sync.Mutex // guards now, waiters, armed
	now     time.Time
	waiters []*fakeTimer
	armed   chan struct{} // closed and replaced whenever a timer is armed
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, armed: make(chan struct{})}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves time forward by d, firing everything that falls due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves time to t (never backwards), firing everything that falls due.
// Timers fire one at a time with the clock reading their due time, so a
// ticker due several times during the move fires several times.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		if t.Before(f.now) {
			f.mu.Unlock()
			return
		}
		next := f.nextDueLocked(t)
		if next == nil {
			f.now = t
			f.mu.Unlock()
			return
		}
		f.now = next.due
		fire := next.fireLocked(f)
		f.mu.Unlock()
		fire() // outside the lock: an AfterFunc may read the clock
	}
}

// nextDueLocked returns the earliest timer due at or before t. Requires mu held.
func (f *Fake) nextDueLocked(t time.Time) *fakeTimer {
	var next *fakeTimer
	for _, w := range f.waiters {
		if !w.due.After(t) && (next == nil || w.due.Before(next.due)) {
			next = w
		}
	}
	return next
}

// Timers reports how many timers and tickers are armed.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// WaitForTimers blocks until at least n timers or tickers are armed.
func (f *Fake) WaitForTimers(n int) {
	for {
		f.mu.Lock()
		if len(f.waiters) >= n {
			f.mu.Unlock()
			return
		}
		armed := f.armed
		f.mu.Unlock()
		<-armed
	}
}

// NewTimer returns a fake timer.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// NewTicker returns a fake ticker.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker") // same contract as time.NewTicker
	}
	t := &fakeTimer{clock: f, ch: make(chan time.Time, 1), period: d}
	t.Reset(d)
	return fakeTicker{t}
}

// AfterFunc calls fn in a new goroutine once the fake time reaches now+d.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn}
	t.Reset(d)
	return t
}

type fakeTimer struct {
	clock  *Fake
	ch     chan time.Time
	fn     func()
	period time.Duration // > 0 for tickers; guarded by clock.mu
	due    time.Time     // guarded by clock.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

// fireLocked removes or re-arms t and returns what to do outside the lock.
func (t *fakeTimer) fireLocked(f *Fake) func() {
	now := f.now
	if t.period > 0 {
		t.due = now.Add(t.period)
	} else {
		f.removeLocked(t)
	}
	if t.fn != nil {
		fn := t.fn
		return func() { go fn() }
	}
	return func() {
		select {
		case t.ch <- now:
		default: // like time.Ticker, drop a tick nobody read
		}
	}
}

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removeLocked(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool { return t.reset(d, t.periodOf()) }

func (t *fakeTimer) periodOf() time.Duration {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	return t.period
}

func (t *fakeTimer) reset(d, period time.Duration) bool {
	f := t.clock
	f.mu.Lock()
	t.period = period
	active := f.removeLocked(t)
	if t.ch != nil { // Go 1.23 semantics: Reset discards a stale value
		select {
		case <-t.ch:
		default:
		}
	}
	t.due = f.now.Add(d)
	f.waiters = append(f.waiters, t)
	close(f.armed)
	f.armed = make(chan struct{})
	due := !t.due.After(f.now)
	f.mu.Unlock()
	if due {
		f.Set(f.Now()) // a zero or negative duration fires at once
	}
	return active
}

// removeLocked disarms t and reports whether it was armed. Requires mu held.
func (f *Fake) removeLocked(t *fakeTimer) bool {
	for i, w := range f.waiters {
		if w == t {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.ch }
func (k fakeTicker) Stop()               { k.t.Stop() }
func (k fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset") // same contract as time.Ticker
	}
	k.t.reset(d, d)
}
