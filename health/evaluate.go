package health

import (
	"context"
	"fmt"
	"time"

	"github.com/opskit/opskit/release"
)

// item is one line of a probe's answer: a check, or one of the gates.
type item struct {
	name     string
	entry    *entry // nil for a gate
	res      *result
	status   Status
	excluded bool
}

// report is a probe's answer before it is rendered.
type report struct {
	probe    Probe
	status   Status
	items    []item
	excludes []string      // sorted, without repeats: what the request asked to leave out
	matched  uint64        // bit i set: excludes[i] left a check out
	single   bool          // the answer for one check (/readyz/NAME)
	release  *release.Info // what the JSON answer names; nil: nothing
}

// openGate is the result of a gate that is open.
var openGate = &result{}

// evaluate answers probe for every check in it except the excluded ones
// (sorted, without repeats). Background results come from the snapshot;
// on-demand checks are started together and awaited until they finish
// (each within its timeout) or ctx ends. items is scratch space for the
// caller's stack. Gates cannot be excluded. The cost is O(n + k) for n
// checks and k excludes (k <= MaxQueryParams < 64).
func (c *Checker) evaluate(ctx context.Context, probe Probe, excludes []string, items []item) report {
	set := c.set.Load()
	rep := report{probe: probe, items: items[:0], excludes: excludes}
	now := c.clock.Now()
	closed := c.closed.Load()
	if res := c.gateResult(ctx, probe, gateStarted); res != nil && res != openGate {
		rep.items = append(rep.items, item{name: gateStarted, res: res})
	}
	if res := c.gateResult(ctx, probe, gateShutdown); res != nil && res != openGate {
		rep.items = append(rep.items, item{name: gateShutdown, res: res})
	}
	waiting := false
	j := 0 // entries and excludes are both sorted: one merge walk matches them
	for _, e := range set.entries {
		if e.check.Probes&probe == 0 {
			continue
		}
		it := item{name: e.check.Name, entry: e}
		for j < len(excludes) && excludes[j] < e.check.Name {
			j++
		}
		if j < len(excludes) && excludes[j] == e.check.Name {
			it.excluded = true
			rep.matched |= 1 << j
		}
		switch {
		case it.excluded:
		case closed:
			it.res = closedCall.res
		case e.check.Interval > 0:
			it.res = e.current(now)
		default:
			waiting = true
		}
		rep.items = append(rep.items, it)
	}
	if waiting {
		c.runOnDemand(ctx, rep.items)
	}
	rep.status = summarize(rep.items)
	return rep
}

// gateResult is the state of the gate named name on probe: nil if probe
// has no such gate, openGate if it is open, else its failure.
func (c *Checker) gateResult(ctx context.Context, probe Probe, name string) *result {
	if probe != Readiness {
		return nil
	}
	switch name {
	case gateStarted:
		if c.started.Load() {
			return openGate
		}
		if st := c.evaluate(ctx, Startup, nil, nil); st.status.Healthy() {
			c.started.Store(true)
			return openGate
		}
		return &result{err: ErrNotStarted}
	case gateShutdown:
		if c.draining.Load() {
			return &result{err: ErrShuttingDown}
		}
		return openGate
	}
	return nil
}

// evaluateOne answers for the single check or gate named name in probe;
// ok is false if there is none.
func (c *Checker) evaluateOne(ctx context.Context, probe Probe, name string, items []item) (report, bool) {
	rep := report{probe: probe, items: items[:0], single: true}
	if res := c.gateResult(ctx, probe, name); res != nil {
		rep.items = append(rep.items, item{name: name, res: res})
		rep.status = summarize(rep.items)
		return rep, true
	}
	e := c.set.Load().lookup(name, probe)
	if e == nil {
		return report{}, false
	}
	rep.items = append(rep.items, item{name: name, entry: e})
	switch {
	case c.closed.Load():
		rep.items[0].res = closedCall.res
	case e.check.Interval > 0:
		rep.items[0].res = e.current(c.clock.Now())
	default:
		c.runOnDemand(ctx, rep.items)
	}
	rep.status = summarize(rep.items)
	return rep, true
}

// runOnDemand starts (or joins) the runs of the on-demand checks in items
// that have no result yet, then collects their results.
func (c *Checker) runOnDemand(ctx context.Context, items []item) {
	var callsBuf [16]*call
	calls := callsBuf[:0]
	for i := range items {
		it := &items[i]
		if it.excluded || it.entry == nil || it.res != nil || it.entry.check.Interval > 0 {
			calls = append(calls, nil)
			continue
		}
		calls = append(calls, c.startRun(it.entry))
	}
	for i, cl := range calls {
		if cl == nil {
			continue
		}
		if c.testHookWait != nil {
			c.testHookWait()
		}
		select {
		case <-cl.done:
			items[i].res = cl.res
		case <-ctx.Done():
			items[i].res = &result{err: context.Cause(ctx)}
		}
	}
}

// summarize sets each item's status and returns the probe's: fail if a
// critical check or a gate failed or has no result yet, else warn if any
// check failed, else pass.
func summarize(items []item) Status {
	overall := StatusPass
	for i := range items {
		it := &items[i]
		if it.excluded {
			continue
		}
		switch {
		case it.entry == nil && it.res.err == nil: // an open gate
			it.status = StatusPass
		case it.entry == nil: // a closed gate
			it.status = StatusFail
		case it.res == nil && !it.entry.check.NonCritical:
			it.status = StatusUnknown
		case it.res == nil:
			it.status = StatusWarn
		default:
			it.status = it.entry.statusOf(it.res)
		}
		switch it.status {
		case StatusFail, StatusUnknown:
			overall = StatusFail
		case StatusWarn:
			if overall == StatusPass {
				overall = StatusWarn
			}
		}
	}
	return overall
}

// unmatched reports the excludes of rep that left nothing out: gates (which
// cannot be excluded) and names of no check in the probe. It calls fn for
// each, in order.
func (rep *report) unmatched(fn func(name string, gate bool)) {
	for i, name := range rep.excludes {
		switch {
		case rep.matched&(1<<i) != 0:
		case name == gateStarted || name == gateShutdown:
			fn(name, true)
		default:
			fn(name, false)
		}
	}
}

// staleAfter is how old a background result of ch may get before it counts
// as failed.
func staleAfter(ch Check) time.Duration { return staleIntervals*ch.Interval + ch.Timeout }

// Run runs the named check now, or joins its run in flight, and returns
// its failure (nil on pass) once the run ends, within the check's timeout,
// or ctx's error if ctx ends first. It works for background checks too and
// stores the result like any run. It returns an error wrapping ErrNotFound
// for an unknown name and ErrClosed after Shutdown.
func (c *Checker) Run(ctx context.Context, name string) error {
	e := c.set.Load().lookup(name, AllProbes)
	if e == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	cl := c.startRun(e)
	select {
	case <-cl.done:
		return cl.res.err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
