package health

import (
	"context"
	"fmt"
	"time"
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
	probe   Probe
	status  Status
	items   []item
	unknown []string // excluded names that match nothing
	single  bool     // the answer for one check (/readyz/NAME)
}

// evaluate answers probe for every check in it except the excluded ones.
// Background results come from the snapshot; on-demand checks are started
// together and awaited until they finish (each within its timeout) or ctx
// ends. items is scratch space for the caller's stack.
func (c *Checker) evaluate(ctx context.Context, probe Probe, excludes []string, items []item) report {
	rep := report{probe: probe, items: items[:0]}
	set := c.set.Load()
	now := c.clock.Now()
	if probe == Liveness || probe == Readiness {
		if !c.started.Load() {
			st := c.evaluate(ctx, Startup, nil, nil)
			if st.status.Healthy() {
				c.started.Store(true)
			} else {
				rep.items = append(rep.items, gate(gateStarted, ErrNotStarted, excludes))
			}
		}
	}
	if probe == Readiness && c.draining.Load() {
		rep.items = append(rep.items, gate(gateShutdown, ErrShuttingDown, excludes))
	}
	waiting := false
	for _, e := range set.entries {
		if e.check.Probes&probe == 0 {
			continue
		}
		it := item{name: e.check.Name, entry: e, excluded: contains(excludes, e.check.Name)}
		if !it.excluded {
			if e.check.Interval > 0 {
				it.res = e.current(now)
			} else {
				waiting = true
			}
		}
		rep.items = append(rep.items, it)
	}
	if waiting {
		c.runOnDemand(ctx, rep.items)
	}
	rep.status = summarize(rep.items)
	if len(excludes) > 0 {
		rep.unknown = unmatched(excludes, rep.items)
	}
	return rep
}

// evaluateOne answers for the single check named name in probe; ok is false
// if there is none.
func (c *Checker) evaluateOne(ctx context.Context, probe Probe, name string, items []item) (report, bool) {
	e := c.set.Load().lookup(name, probe)
	if e == nil {
		return report{}, false
	}
	rep := report{probe: probe, items: append(items[:0], item{name: name, entry: e}), single: true}
	if e.check.Interval > 0 {
		rep.items[0].res = e.current(c.clock.Now())
	} else {
		c.runOnDemand(ctx, rep.items)
	}
	rep.status = summarize(rep.items)
	return rep, true
}

// runOnDemand starts (or joins) the runs of the on-demand checks in items,
// then collects their results.
func (c *Checker) runOnDemand(ctx context.Context, items []item) {
	var callsBuf [16]*call
	calls := callsBuf[:0]
	for i := range items {
		it := &items[i]
		if it.excluded || it.entry == nil || it.entry.check.Interval > 0 {
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

// gate is the item of a gate that is closed.
func gate(name string, err error, excludes []string) item {
	return item{name: name, res: &result{err: err}, excluded: contains(excludes, name)}
}

// summarize sets each item's status and returns the probe's: fail if a
// critical check failed or has no result yet, else warn if any check
// failed, else pass.
func summarize(items []item) Status {
	overall := StatusPass
	for i := range items {
		it := &items[i]
		if it.excluded {
			continue
		}
		switch {
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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unmatched returns the excluded names no item carries, without repeats.
func unmatched(excludes []string, items []item) []string {
	var out []string
	for _, name := range excludes {
		found := contains(out, name)
		for i := 0; i < len(items) && !found; i++ {
			found = items[i].name == name
		}
		if !found {
			out = append(out, name)
		}
	}
	return out
}

// staleAfter is how old a background result of ch may get before it counts
// as failed.
func staleAfter(ch Check) time.Duration { return staleIntervals*ch.Interval + ch.Timeout }

// Run runs the named check now, or joins its run in flight, and returns
// its failure (nil on pass) once the run ends, within the check's timeout,
// or ctx's error if ctx ends first. It works for background checks too and
// stores the result like any run. It returns an error wrapping ErrNotFound
// for an unknown name and ErrClosed after Close.
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
