package remedy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/internal/timer"
)

// Undo waits for the action's own recovery signal, never for the alert:
// the alert may resolve because the action stopped the failures (a
// switched-off feature fails no more), or keep firing because the
// refusals still count as bad. Either way its state says nothing about
// the cause. So an action in effect stays in effect, through the alert's
// resolution and into later episodes, until Recovered returns nil; it is
// asked once every CheckEvery, so a persisting cause is asked at most
// hour/CheckEvery times an hour and the action does not flap.

// rearm arms s's next check unless one is armed: while s is in effect
// (its recovery check), and for an action that can be found in effect
// without having run here (SwitchOff), always, to take it up. Requires mu
// held.
func (n *Notifier) rearm(s *slot) {
	if n.closed || s.check != nil || !(s.active || s.act.found != nil && !s.rule.DryRun) {
		return
	}
	s.check = n.clock.AfterFunc(s.rule.CheckEvery, func() { n.recover(s) })
}

// restart arms s's next check a whole CheckEvery from now. Requires mu
// held.
func (n *Notifier) restart(s *slot) {
	if s.check != nil {
		s.check.Stop()
		s.check = nil
	}
	n.rearm(s)
}

// takeUp makes s active if its effect is found in place though it did not
// run here, and keeps its checks armed.
func (n *Notifier) takeUp(s *slot) {
	n.mu.Lock()
	look := s.act.found != nil && !s.rule.DryRun && !s.active && !s.busy && !n.closed
	n.mu.Unlock()
	var since time.Time
	var found bool
	if look {
		since, found = s.act.found()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if found && !s.active && !s.busy {
		s.active, s.since, s.incident = true, since, ""
		n.restart(s)
		n.log.Info("remedy: found in effect; undone after its recovery signal", "action", s.act.Name, "since", since)
		return
	}
	n.rearm(s)
}

// recover, every CheckEvery, asks the recovery signal of s in effect and,
// once it passes, undoes s; for s not in effect it looks whether s is
// found in effect.
func (n *Notifier) recover(s *slot) {
	n.mu.Lock()
	s.check = nil
	if n.closed {
		n.mu.Unlock()
		return
	}
	if !s.active || s.busy {
		busy := s.busy
		n.mu.Unlock()
		if !busy {
			n.takeUp(s)
			return
		}
		n.mu.Lock()
		n.rearm(s)
		n.mu.Unlock()
		return
	}
	mon := n.mon
	if mon == nil || !mon.Leader() {
		n.rearm(s) // the leader checks; this replica may lead later
		n.mu.Unlock()
		return
	}
	s.busy = true
	n.checks.Add(1) // before Shutdown's Wait: closed is false under mu
	n.mu.Unlock()
	defer n.checks.Done()

	name := s.act.Name
	if err := n.bounded(s.act.Recovered); err != nil {
		n.mu.Lock()
		s.busy = false
		n.rearm(s)
		n.mu.Unlock()
		n.log.Info("remedy: not recovered yet", "action", name, "signal", signal(s.act), "err", err)
		return
	}
	ctx, cancel := timer.WithTimeout(n.ctx, n.clock, checkTimeout)
	defer cancel()
	err := call(ctx, s.act.Undo)
	now := n.clock.Now()
	n.mu.Lock()
	s.busy = false
	since, incident := s.since, s.incident
	switch {
	case errors.Is(err, ErrAlready):
		s.active = false
		s.last = fmt.Sprintf("done automatically, then taken over: %s (%v)", name, err)
		s.lastIn = incident
		s.tally(true, outcomeSkipped)
	case err != nil:
		s.tally(true, outcomeFailed)
	default:
		s.tally(true, outcomeDone)
		s.active = false
		s.last = fmt.Sprintf("done automatically and undone after recovery: %s (%s to %s)", name, stamp(since), stamp(now))
		s.lastIn = incident
	}
	n.rearm(s)
	n.mu.Unlock()
	detail := fmt.Sprintf("%s passed; in effect since %s", signal(s.act), stamp(since))
	if incident != "" {
		detail += " (incident " + incident + ")"
	}
	rec := &audit.Record{Action: ActionUndo, Target: name, Result: "ok", Detail: detail}
	attrs := []any{"action", name, "incident", incident}
	switch {
	case errors.Is(err, ErrAlready):
		rec.Result = "skipped: " + err.Error()
		n.report(ctx, mon, incident, rec, fmt.Sprintf("undo %s: not needed: %v", name, err),
			slog.LevelInfo, "remedy: taken over, not undone", append(attrs, "why", err)...)
	case err != nil:
		rec.Result = err.Error()
		n.report(ctx, mon, incident, rec, fmt.Sprintf("undo %s: failed: %v; retried at the next check in %s", name, err, s.rule.CheckEvery),
			slog.LevelError, "remedy: undo failed", append(attrs, "err", err)...)
	default:
		n.report(ctx, mon, incident, rec, fmt.Sprintf("undo %s: done after %s: %s passed", name, now.Sub(since), signal(s.act)),
			slog.LevelInfo, "remedy: undone", append(attrs, "after", now.Sub(since))...)
	}
}

// bounded calls f with a context that ends after checkTimeout or at
// Shutdown.
func (n *Notifier) bounded(f func(context.Context) error) error {
	ctx, cancel := timer.WithTimeout(n.ctx, n.clock, checkTimeout)
	defer cancel()
	return call(ctx, f)
}

// Shutdown stops the recovery checks and waits for one in flight, until
// ctx ends; then it cancels its context and returns an error saying so.
// Actions in effect stay in effect (they are logged): undoing them
// without their recovery signal is what remediation must not do.
func (n *Notifier) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	first := !n.closed
	n.closed = true
	var inEffect []string
	for _, slots := range n.slots {
		for _, s := range slots {
			if s.check != nil {
				s.check.Stop()
				s.check = nil
			}
			if s.active {
				inEffect = append(inEffect, s.act.Name)
			}
		}
	}
	n.mu.Unlock()
	if first {
		if err := n.metrics.Unregister(); err != nil {
			n.log.Error("remedy: unregistering metrics", "err", err)
		}
	}
	if len(inEffect) > 0 {
		n.log.Warn("remedy: shutting down with actions in effect", "actions", strings.Join(inEffect, "; "))
	}
	done := make(chan struct{})
	go func() {
		n.checks.Wait()
		close(done)
	}()
	select {
	case <-done:
		n.cancel()
		return nil
	case <-ctx.Done():
		n.cancel() // Recovered and Undo must return when their ctx ends
		return fmt.Errorf("remedy: shutdown: a recovery check or undo was still running, cancelled: %w", ctx.Err())
	}
}
