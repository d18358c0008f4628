package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/internal/redact"
	"github.com/opskit/opskit/internal/timer"
)

// result is the outcome of one run. Never modified after it is published.
type result struct {
	err      error // nil on pass
	end      time.Time
	duration time.Duration
}

// entry is a registered check and its run state.
type entry struct {
	check Check
	attrs metric.MeasurementOption // {check=name}, built once

	last atomic.Pointer[result] // latest finished run; nil until the first

	mu       sync.Mutex // guards inflight and publishing a call's result
	inflight *call      // the run in flight, until its goroutine returns

	stop     chan struct{} // stops the background loop; guarded by Checker.mu
	loopDone chan struct{} // closed when the loop has returned; guarded by Checker.mu
}

func newEntry(ch Check) *entry {
	return &entry{
		check: ch,
		attrs: metric.WithAttributeSet(attribute.NewSet(attribute.String("check", ch.Name))),
	}
}

// statusOf is the status a result gives this check.
func (e *entry) statusOf(r *result) Status {
	switch {
	case r == nil:
		return StatusUnknown
	case r.err == nil:
		return StatusPass
	case e.check.NonCritical:
		return StatusWarn
	default:
		return StatusFail
	}
}

// call is one run, shared by every probe that asks while it is in flight.
// res is written once, under entry.mu, before done is closed.
type call struct {
	done     chan struct{}
	finished bool // guarded by entry.mu
	res      *result
}

// closedCall is what runs asked for after Close get.
var closedCall = func() *call {
	c := &call{done: make(chan struct{}), res: &result{err: ErrClosed}, finished: true}
	close(c.done)
	return c
}()

// startRun returns the run of e in flight, starting one if there is none.
func (c *Checker) startRun(e *entry) *call {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.inflight != nil {
		return e.inflight
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return closedCall
	}
	c.live += 2 // the run and its timeout timer
	c.active[e.check.Name]++
	c.mu.Unlock()
	cl := &call{done: make(chan struct{})}
	e.inflight = cl
	go c.execute(e, cl)
	return cl
}

// execute runs the check once. The timeout is enforced by a timer on the
// Checker's clock, not by the check: when it fires the run is finished as
// failed even if the check ignores its context, and the check's goroutine
// keeps the in-flight slot until it returns, so a hung check never has more
// than one goroutine. A check that calls runtime.Goexit (t.FailNow, say)
// ends its run as failed, and the next probe runs it again.
func (c *Checker) execute(e *entry, cl *call) {
	defer c.goDone()
	timeout := e.check.Timeout
	start := c.clock.Now()
	ctx, cancel := context.WithCancelCause(c.baseCtx)
	defer cancel(nil)
	if c.realClock { // a deadline the check can see (net.Dialer, database/sql)
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadlineCause(ctx, start.Add(timeout), ErrTimeout)
		defer cancelDeadline()
	}
	deadline := c.clock.AfterFunc(timeout, func() {
		defer c.goDone()
		cancel(ErrTimeout)
		err := fmt.Errorf("%w: %q after %v", ErrTimeout, e.check.Name, timeout)
		c.finish(e, cl, &result{err: err, end: start.Add(timeout), duration: timeout}, false)
	})
	returned := false
	defer func() { // runs on return and on runtime.Goexit alike
		if deadline.Stop() {
			c.goDone()
		}
		c.mu.Lock()
		if c.active[e.check.Name]--; c.active[e.check.Name] <= 0 {
			delete(c.active, e.check.Name)
		}
		c.mu.Unlock()
		if !returned {
			end := c.clock.Now()
			err := fmt.Errorf("health: check %q called runtime.Goexit", e.check.Name)
			c.logger.Error("health: check called runtime.Goexit", slog.String("check", e.check.Name))
			c.finish(e, cl, &result{err: err, end: end, duration: end.Sub(start)}, true)
		}
	}()
	err := c.call(ctx, e)
	returned = true
	if err != nil && errors.Is(context.Cause(ctx), ErrTimeout) {
		// The check noticed its deadline first: report it as the timeout.
		err = fmt.Errorf("%w: %q after %v: %w", ErrTimeout, e.check.Name, timeout, err)
	}
	if deadline.Stop() { // before finish: a timeout must not replace this result
		c.goDone()
	}
	end := c.clock.Now()
	c.finish(e, cl, &result{err: err, end: end, duration: end.Sub(start)}, true)
}

// call runs the check function, turning a panic into a *PanicError.
func (c *Checker) call(ctx context.Context, e *entry) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Check: e.check.Name, Value: v}
			c.logger.Error("health: check panicked", slog.String("check", e.check.Name), slog.Any("panic", v))
		}
	}()
	return e.check.Func(ctx)
}

// finish publishes the first result of cl and then, outside the lock,
// tells metrics and listeners. Later results of the same call are dropped.
// release frees the in-flight slot (the check's goroutine is done) in the
// same critical section, so the next probe starts a fresh run rather than
// joining this finished one, and no newer result can be overwritten.
func (c *Checker) finish(e *entry, cl *call, r *result, release bool) {
	e.mu.Lock()
	if release {
		e.inflight = nil
	}
	if cl.finished {
		e.mu.Unlock()
		return
	}
	cl.finished = true
	cl.res = r
	old := e.last.Swap(r)
	close(cl.done)
	e.mu.Unlock()
	c.metrics.recordRun(e, r)
	if e.check.Probes&Startup != 0 && !c.started.Load() {
		c.noteStartup()
	}
	from, to := e.statusOf(old), e.statusOf(r)
	if from == to {
		return
	}
	c.metrics.recordChange(e, to)
	change := StatusChange{Check: e.check.Name, Old: from, New: to, Err: r.err, Duration: r.duration, Time: r.end}
	level := slog.LevelInfo
	if to != StatusPass {
		level = slog.LevelWarn
	}
	c.logger.Log(context.Background(), level, "health: check status changed",
		slog.String("check", change.Check), slog.String("old", from.String()),
		slog.String("new", to.String()), slog.Any("error", redact.Error(r.err)))
	for _, fn := range c.listeners {
		c.notify(fn, change)
	}
}

// notify calls one listener; a panic is logged, not propagated, so one
// bad listener neither kills the process nor silences the others.
func (c *Checker) notify(fn func(StatusChange), change StatusChange) {
	defer func() {
		if v := recover(); v != nil {
			c.logger.Error("health: status listener panicked", slog.String("check", change.Check), slog.Any("panic", v))
		}
	}()
	fn(change)
}

// noteStartup latches "started" when every startup check has a healthy
// stored result, so a background startup check opens the gate without a
// probe having to ask.
func (c *Checker) noteStartup() {
	now := c.clock.Now()
	for _, e := range c.set.Load().entries {
		if e.check.Probes&Startup != 0 && !e.statusOf(e.current(now)).Healthy() {
			return
		}
	}
	c.started.Store(true)
}

// current is the stored result of e as a probe at now should see it: a
// background result older than staleIntervals intervals (plus the timeout)
// becomes a failure.
func (e *entry) current(now time.Time) *result {
	r := e.last.Load()
	if r == nil || e.check.Interval <= 0 {
		return r
	}
	maxAge := staleAfter(e.check)
	if age := now.Sub(r.end); age > maxAge {
		return &result{err: fmt.Errorf("%w: last result %v old (limit %v)", ErrStale, age, maxAge),
			end: r.end, duration: r.duration}
	}
	return r
}

// loop runs a background check at once and then every interval until stop
// is closed. It never waits longer than the check's timeout for a run.
func (c *Checker) loop(e *entry, stop, done chan struct{}) {
	defer c.goDone()
	defer close(done)
	ticker := timer.NewTicker(c.clock, e.check.Interval)
	defer ticker.Stop()
	for {
		if c.testHookLoop != nil {
			c.testHookLoop()
		}
		select {
		case <-c.startRun(e).done:
		case <-stop:
			return
		}
		select {
		case <-ticker.C():
		case <-stop:
			return
		}
	}
}
