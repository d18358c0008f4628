package remedy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/slo"
)

// DefaultMinTrials is Recovery.MinTrials when zero.
const DefaultMinTrials = 10

// Recovery is the independent signal a switched-off feature waits for
// before it is switched back on: a probe of what it depends on, the
// results of its trial share, or both (then both must pass).
type Recovery struct {
	// Probe checks the failing dependency (a health check of the payments
	// API, say); nil error means it is back.
	Probe func(ctx context.Context) error
	// Trial is the share of calls Enabled lets through while the feature
	// is off (feature.Switch.Trial, at most feature.MaxTrial): their
	// outcomes are the signal. Zero: no trial, Probe is required.
	Trial float64
	// MinTrials is how many trial outcomes a check needs since the
	// previous check to judge; zero means DefaultMinTrials. Fewer is "not
	// yet known", never "recovered".
	MinTrials int64
	// MaxFailed is the share of those outcomes that may have failed for
	// the trial to pass, from 0 (the default: none) to below 1.
	MaxFailed float64
}

// SwitchOff is the ready-made action for a feature's kill switch: Do
// switches f off as "automation" (letting r.Trial of the calls through),
// and once r's signal passes, Undo switches it back on. Refused calls
// still count as failed uses of f, so the objective f feeds through
// feature.Feature.Track keeps seeing them as bad: switching the feature
// off does not hide the problem. The registry of f needs feature.WithAudit:
// the switch itself is audited there too (feature.SwitchAction).
//
// A feature a person switched off first is left alone (Do reports
// ErrAlready), and so is one a person switched since (Undo reports
// ErrAlready): automation undoes only its own switch. Mistakes in r are
// reported by Notifier.Add.
func SwitchOff(f *feature.Feature, r Recovery) Action {
	if f == nil {
		return Action{Name: "switch off a nil feature", err: errors.New("SwitchOff: the feature is nil")}
	}
	sw := &switcher{f: f, r: r}
	a := Action{Name: "switch off " + f.Name(), Do: sw.do, Undo: sw.undo, Recovered: sw.recovered, Signal: sw.signal(),
		found: sw.found}
	switch {
	case r.Trial < 0 || r.Trial > feature.MaxTrial:
		a.err = fmt.Errorf("SwitchOff(%s): Recovery.Trial is %g, want 0 to %g", f.Name(), r.Trial, feature.MaxTrial)
	case r.Trial == 0 && r.Probe == nil:
		a.err = fmt.Errorf("SwitchOff(%s): Recovery has neither Probe nor Trial: switching back on needs an independent signal", f.Name())
	case r.MinTrials < 0:
		a.err = fmt.Errorf("SwitchOff(%s): Recovery.MinTrials is %d, want a positive count (0 for %d)", f.Name(), r.MinTrials, DefaultMinTrials)
	case r.MaxFailed < 0 || r.MaxFailed >= 1:
		a.err = fmt.Errorf("SwitchOff(%s): Recovery.MaxFailed is %g, want 0 to below 1", f.Name(), r.MaxFailed)
	}
	if sw.r.MinTrials == 0 {
		sw.r.MinTrials = DefaultMinTrials
	}
	return a
}

// switcher is the state of one SwitchOff action.
type switcher struct {
	f *feature.Feature
	r Recovery

	mu      sync.Mutex // guards the fields below
	since   time.Time  // the Since of automation's switch; zero when none is in effect
	ok, bad int64      // trial outcomes counted by the previous check
}

// signal names the recovery signal, for "undone once ... passes".
func (sw *switcher) signal() string {
	trial := fmt.Sprintf("a trial of %g%% of calls", 100*sw.r.Trial)
	switch {
	case sw.r.Probe != nil && sw.r.Trial > 0:
		return "its probe and " + trial
	case sw.r.Probe != nil:
		return "its probe"
	}
	return trial
}

func (sw *switcher) do(ctx context.Context, a slo.Alert) error {
	if st := sw.f.Switched(); !st.On {
		return fmt.Errorf("%w: %s", ErrAlready, st)
	}
	why := fmt.Sprintf("%s of objective %s (incident %s)", a.Severity, a.Objective, a.Incident)
	if err := sw.f.Switch(ctx, feature.Switch{On: false, Actor: Actor, Why: why, Trial: sw.r.Trial}); err != nil {
		return err
	}
	st := sw.f.Switched()
	sw.mu.Lock()
	sw.since, sw.ok, sw.bad = st.Since, st.TrialOK, st.TrialFailed
	sw.mu.Unlock()
	return nil
}

// found takes up a switch automation made before a restart, or on
// another replica: it is undone after recovery like one made here.
func (sw *switcher) found() (time.Time, bool) {
	st := sw.f.Switched()
	if st.On || st.Actor != Actor {
		return time.Time{}, false
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.since, sw.ok, sw.bad = st.Since, st.TrialOK, st.TrialFailed
	return st.Since, true
}

// ours reports whether the switch in st is still the one do made.
// Requires sw.mu held.
func (sw *switcher) ours(st feature.SwitchState) bool {
	return !st.On && st.Actor == Actor && st.Since.Equal(sw.since)
}

func (sw *switcher) recovered(ctx context.Context) error {
	st := sw.f.Switched()
	sw.mu.Lock()
	if !sw.ours(st) {
		sw.mu.Unlock()
		return nil // taken over: undo reports it and lets go
	}
	ok, bad := st.TrialOK-sw.ok, st.TrialFailed-sw.bad
	sw.ok, sw.bad = st.TrialOK, st.TrialFailed // each check judges the calls since the previous one
	sw.mu.Unlock()
	if sw.r.Trial > 0 {
		if n := ok + bad; n < sw.r.MinTrials || float64(bad) > sw.r.MaxFailed*float64(n) {
			return fmt.Errorf("remedy: %s trial: %d ok, %d failed since the last check (want at least %d, at most %g%% failed)",
				sw.f.Name(), ok, bad, sw.r.MinTrials, 100*sw.r.MaxFailed)
		}
	}
	if sw.r.Probe != nil {
		return sw.r.Probe(ctx)
	}
	return nil
}

func (sw *switcher) undo(ctx context.Context) error {
	st := sw.f.Switched()
	sw.mu.Lock()
	ours := sw.ours(st)
	sw.mu.Unlock()
	if !ours {
		return fmt.Errorf("%w: %s", ErrAlready, st)
	}
	if err := sw.f.Switch(ctx, feature.Switch{On: true, Actor: Actor, Why: "recovered: " + sw.signal() + " passed"}); err != nil {
		return err // still ours: the next check tries again
	}
	sw.mu.Lock()
	sw.since = time.Time{}
	sw.mu.Unlock()
	return nil
}
