// Package timer builds the timers, tickers, sleeps and deadlines opskit's
// packages need from the two methods of a clock.Clock. On the real clock
// each one is the standard library's own; on any other clock it is made of
// AfterFunc calls, so a fake clock drives it.
package timer

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/opskit/opskit/clock"
)

// Or returns c, or the real clock when c is nil.
func Or(c clock.Clock) clock.Clock {
	if c == nil {
		return clock.Real()
	}
	return c
}

// Timer sends the time on C once, after a duration; like *time.Timer.
type Timer struct {
	real *time.Timer // set on the real clock; everything below is unused then

	clock   clock.Clock
	ch      chan time.Time
	period  time.Duration // > 0 for a Ticker
	mu      sync.Mutex    // guards pending, gen
	pending clock.Timer
	gen     uint64 // bumped by Stop and Reset so a stale call does nothing
}

// New returns a timer that fires after d on c.
func New(c clock.Clock, d time.Duration) *Timer {
	if clock.IsReal(c) {
		return &Timer{real: time.NewTimer(d)}
	}
	t := &Timer{clock: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// C is the channel the time is sent on.
func (t *Timer) C() <-chan time.Time {
	if t.real != nil {
		return t.real.C
	}
	return t.ch
}

// Stop prevents the timer from firing; it reports whether it was armed.
func (t *Timer) Stop() bool {
	if t.real != nil {
		return t.real.Stop()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gen++
	if t.pending == nil {
		return false
	}
	p := t.pending
	t.pending = nil
	return p.Stop()
}

// Reset re-arms the timer for d, discarding a value not yet received
// (Go 1.23 semantics); it reports whether it was armed.
func (t *Timer) Reset(d time.Duration) bool {
	if t.real != nil {
		return t.real.Reset(d)
	}
	active := t.Stop()
	select {
	case <-t.ch:
	default:
	}
	t.arm(d)
	return active
}

func (t *Timer) arm(d time.Duration) { t.armAfter(d, 0) }

// armAfter schedules the next firing after d. With prev > 0 it does so only
// if nothing stopped or reset the timer since the firing of generation prev
// (a ticker re-arming itself), decided under mu so a concurrent Stop wins.
func (t *Timer) armAfter(d time.Duration, prev uint64) {
	t.mu.Lock()
	if prev != 0 && prev != t.gen {
		t.mu.Unlock()
		return
	}
	t.gen++
	gen := t.gen
	t.mu.Unlock()
	// Not under mu: a fake clock runs a call due at once on this goroutine.
	p := t.clock.AfterFunc(d, func() { t.fire(gen) })
	t.mu.Lock()
	if t.gen == gen {
		t.pending = p
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	p.Stop() // stopped or reset meanwhile: this call would do nothing anyway
}

func (t *Timer) fire(gen uint64) {
	t.mu.Lock()
	if gen != t.gen {
		t.mu.Unlock()
		return
	}
	t.pending = nil
	t.mu.Unlock()
	select {
	case t.ch <- t.clock.Now():
	default: // like time.Ticker, drop a tick nobody read
	}
	if t.period > 0 {
		t.armAfter(t.period, gen)
	}
}

// Ticker sends the time on C every period; like *time.Ticker.
type Ticker struct {
	real *time.Ticker // set on the real clock
	t    *Timer
}

// NewTicker returns a ticker with period d on c. A d <= 0 is taken as 1ns
// rather than a panic: library code must not crash on a bad setting.
func NewTicker(c clock.Clock, d time.Duration) *Ticker {
	if d <= 0 {
		d = time.Nanosecond
	}
	if clock.IsReal(c) {
		return &Ticker{real: time.NewTicker(d)}
	}
	t := &Timer{clock: c, ch: make(chan time.Time, 1), period: d}
	t.arm(d)
	return &Ticker{t: t}
}

// C is the channel the ticks are sent on.
func (k *Ticker) C() <-chan time.Time {
	if k.real != nil {
		return k.real.C
	}
	return k.t.ch
}

// Stop turns the ticker off.
func (k *Ticker) Stop() {
	if k.real != nil {
		k.real.Stop()
		return
	}
	k.t.Stop()
}

// Sleep waits d on c; it returns ctx's error if ctx ends first.
func Sleep(ctx context.Context, c clock.Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := New(c, d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WithDeadline returns a copy of parent that ends at deadline as read on
// c, with Err reporting context.DeadlineExceeded then, like
// context.WithDeadline on the wall clock.
func WithDeadline(parent context.Context, c clock.Clock, deadline time.Time) (context.Context, context.CancelFunc) {
	if clock.IsReal(c) {
		return context.WithDeadline(parent, deadline)
	}
	if d, ok := parent.Deadline(); ok && !d.After(deadline) {
		return context.WithCancel(parent)
	}
	inner, cancel := context.WithCancelCause(parent)
	t := c.AfterFunc(deadline.Sub(c.Now()), func() { cancel(context.DeadlineExceeded) })
	return &deadlineCtx{Context: inner, deadline: deadline}, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// WithTimeout is WithDeadline(parent, c, c.Now().Add(d)).
func WithTimeout(parent context.Context, c clock.Clock, d time.Duration) (context.Context, context.CancelFunc) {
	return WithDeadline(parent, c, Or(c).Now().Add(d))
}

type deadlineCtx struct {
	context.Context
	deadline time.Time
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Err() error {
	err := c.Context.Err()
	if err != nil && errors.Is(context.Cause(c.Context), context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	return err
}
