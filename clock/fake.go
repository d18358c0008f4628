package clock

import (
	"sync"
	"time"
)

// Fake is a Clock whose time moves only when Advance or Set is called.
//
// Calls due by the new time run during Advance, one at a time, in the
// order they fall due, on the goroutine that called Advance, each with the
// clock reading its due time. When Advance returns, every call it fired has
// returned, and every later Now reads the new time.
//
// A goroutine that is about to wait on the clock arms its timer a moment
// after the test starts it; WaitForTimers lets the test wait for that
// without sleeping.
//
// A Fake is safe for concurrent use, but time should be moved by one
// goroutine at a time: two concurrent Advance calls may run due calls
// concurrently. A due call may itself call Advance, AfterFunc or Stop. The
// zero Fake reads the zero time.
type Fake struct {
	mu      sync.Mutex // guards now, pending, armed, seq
	now     time.Time
	pending []*fakeTimer
	armed   chan struct{} // closed and replaced whenever a call is scheduled; nil until needed
	seq     uint64        // orders calls due at the same instant
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start}
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves time forward by d, running every call that falls due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves time to t, running every call that falls due. Time never moves
// backwards: a t before the current time is ignored.
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
		f.removeLocked(next)
		fn := next.fn
		f.mu.Unlock()
		fn() // outside the lock: the call may read the clock or schedule more
	}
}

// nextDueLocked returns the earliest call due at or before t. Requires mu held.
func (f *Fake) nextDueLocked(t time.Time) *fakeTimer {
	var next *fakeTimer
	for _, w := range f.pending {
		if w.due.After(t) {
			continue
		}
		if next == nil || w.due.Before(next.due) || (w.due.Equal(next.due) && w.seq < next.seq) {
			next = w
		}
	}
	return next
}

// Timers reports how many calls are scheduled and not yet run or stopped.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending)
}

// WaitForTimers blocks until at least n calls are scheduled (and not yet
// run or stopped), so a test can advance time only once the goroutine under
// test has armed its timer.
func (f *Fake) WaitForTimers(n int) {
	for {
		f.mu.Lock()
		if len(f.pending) >= n {
			f.mu.Unlock()
			return
		}
		armed := f.armedLocked()
		f.mu.Unlock()
		<-armed
	}
}

// AfterFunc schedules fn to run when the fake time reaches now+d, on the
// goroutine that moves time there. With d <= 0 it runs at once, on the
// calling goroutine, before AfterFunc returns; the Timer returned then
// reports false from Stop.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	t := &fakeTimer{clock: f, fn: fn}
	f.mu.Lock()
	if d <= 0 {
		f.mu.Unlock()
		fn()
		return t
	}
	f.seq++
	t.seq = f.seq
	t.due = f.now.Add(d)
	f.pending = append(f.pending, t)
	if f.armed != nil {
		close(f.armed)
		f.armed = nil
	}
	f.mu.Unlock()
	return t
}

// armedLocked returns the channel closed when the next call is scheduled.
// Requires mu held.
func (f *Fake) armedLocked() chan struct{} {
	if f.armed == nil {
		f.armed = make(chan struct{})
	}
	return f.armed
}

type fakeTimer struct {
	clock *Fake
	fn    func()
	due   time.Time // guarded by clock.mu
	seq   uint64    // guarded by clock.mu
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	return t.clock.removeLocked(t)
}

// removeLocked unschedules t and reports whether it was scheduled.
// Requires mu held.
func (f *Fake) removeLocked(t *fakeTimer) bool {
	for i, w := range f.pending {
		if w == t {
			f.pending = append(f.pending[:i], f.pending[i+1:]...)
			return true
		}
	}
	return false
}
