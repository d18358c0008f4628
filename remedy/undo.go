package remedy

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// schedule arms s's next recovery check. Requires mu held.
func (n *Notifier) schedule(s *slot) {
	if n.closed {
		return
	}
	s.check = n.clock.AfterFunc(s.rule.CheckEvery, func() { n.recover(s) })
}

// recover asks s's recovery signal and, once it passes, undoes s.
func (n *Notifier) recover(s *slot) {
	n.mu.Lock()
	if n.closed || !s.active || s.busy {
		n.mu.Unlock()
		return
	}
	mon := n.mon
	if !mon.Leader() {
		n.schedule(s) // the leader checks; this replica may lead later
		n.mu.Unlock()
		return
	}
	s.busy = true
	s.check = nil
	n.checks.Add(1) // before Shutdown's Wait: closed is false under mu
	n.mu.Unlock()
	defer n.checks.Done()

	name := s.act.Name
	if err := n.bounded(s.act.Recovered); err != nil {
		n.mu.Lock()
		s.busy = false
		n.schedule(s)
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
		s.active, s.check = false, nil
		s.last = fmt.Sprintf("done automatically, then taken over: %s (%v)", name, err)
		s.lastIn = incident
	case err != nil:
		n.schedule(s)
	default:
		s.active, s.check = false, nil
		s.last = fmt.Sprintf("done automatically and undone after recovery: %s (%s to %s)", name, stamp(since), stamp(now))
		s.lastIn = incident
	}
	n.mu.Unlock()
	detail := fmt.Sprintf("%s passed; in effect since %s (incident %s)", signal(s.act), stamp(since), incident)
	result := "ok"
	switch {
	case errors.Is(err, ErrAlready):
		result = "skipped: " + err.Error()
		n.log.Info("remedy: taken over, not undone", "action", name, "incident", incident, "why", err)
		n.note(mon, incident, fmt.Sprintf("undo %s: not needed: %v", name, err))
	case err != nil:
		result = err.Error()
		n.log.Error("remedy: undo failed", "action", name, "incident", incident, "err", err)
		n.note(mon, incident, fmt.Sprintf("undo %s: failed: %v; retried at the next check in %s", name, err, s.rule.CheckEvery))
	default:
		n.log.Info("remedy: undone", "action", name, "incident", incident, "after", now.Sub(since))
		n.note(mon, incident, fmt.Sprintf("undo %s: done after %s: %s passed", name, now.Sub(since), signal(s.act)))
	}
	n.audit(ctx, audit.Record{Action: ActionUndo, Target: name, Result: result, Detail: detail})
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
