package remedy

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/slo"
)

// Defaults of a Rule's zero fields.
const (
	DefaultPerHour    = 2                // runs of one action in any rolling hour
	DefaultPerEpisode = 1                // runs of one action per incident
	DefaultCheckEvery = 10 * time.Minute // between two recovery checks of one action
)

// Actor is who remediation acts as, in incident notes and audit records.
const Actor = "automation"

// Audit actions of remediation, recorded with Actor "automation".
const (
	ActionRun  audit.Action = "remedy.run"  // an action ran, failed, or would have run (dry run)
	ActionUndo audit.Action = "remedy.undo" // an action was undone after its recovery signal
)

// Action is one thing automation does when an alert fires, and how it is
// undone. Do and Undo run outside every lock of this package; a panic in
// either counts as its failure.
type Action struct {
	// Name says what Do does, as a verb phrase: "switch off checkout".
	// Notes, audit records and the alert's DO text quote it. Required.
	Name string
	// Do acts on alert a. ctx is the notification's (it ends within 10
	// seconds), and the alert goes on to the next notifier only after Do
	// returns, so Do should be a quick change of state, not a long job. An
	// error wrapping ErrAlready says there was nothing to do (a person did
	// it first): noted, not counted a failure, and nothing to undo.
	// Required.
	Do func(ctx context.Context, a slo.Alert) error
	// Undo reverses Do; nil for an action that needs no undoing. An error
	// wrapping ErrAlready says someone else has taken the matter over: the
	// action is no longer automation's to undo.
	Undo func(ctx context.Context) error
	// Recovered is the independent signal Undo waits for: it returns nil
	// once the cause is gone (a probe of the failing dependency, or a trial
	// share that succeeds). It must not be the alert itself: the alert may
	// resolve because Do stopped the failures, or keep firing because the
	// refusals Do causes still count as bad. Required with Undo; ctx ends
	// within 10 seconds.
	Recovered func(ctx context.Context) error
	// Signal names Recovered in texts: "a probe of payments". Empty means
	// "its recovery check".
	Signal string

	err error // a mistake of the constructor (SwitchOff), reported by Add
	// found reports whether Do's effect is in place though this Notifier
	// did not run it (before a restart, or on another replica), and since
	// when; set by SwitchOff.
	found func() (since time.Time, ok bool)
}

// Rule names the actions to run when an objective's alert fires.
type Rule struct {
	// Objective is the slo objective whose alert runs Actions. Required.
	Objective string
	// Severity is the lowest severity that runs them: slo.Page (the
	// default when empty) runs them on a page only, slo.Ticket on a ticket
	// or a page.
	Severity slo.Severity
	// Actions run in order, each on its own limits. At least one.
	Actions []Action
	// DryRun runs nothing: each run is noted in the incident, logged and
	// audited as what would have been done ("would switch off checkout"),
	// and counts against the limits as a run would.
	DryRun bool
	// PerHour caps the runs of each action in any rolling hour; zero means
	// DefaultPerHour.
	PerHour int
	// PerEpisode caps the runs of each action in one incident; zero means
	// DefaultPerEpisode.
	PerEpisode int
	// CheckEvery is the time between two calls of an action's Recovered
	// while it is in effect, so a persisting cause is asked at most
	// hour/CheckEvery times an hour and nothing flaps; zero means
	// DefaultCheckEvery.
	CheckEvery time.Duration
}

// withDefaults returns r with its zero fields set, or an error naming the
// first bad field and its value.
func (r Rule) withDefaults() (Rule, error) {
	bad := func(field string, value any, want string) error {
		return fmt.Errorf("remedy: rule %q: %s is %v, want %s", r.Objective, field, value, want)
	}
	switch {
	case r.Objective == "":
		return r, bad("Objective", `""`, "the name of an slo objective")
	case r.Severity != "" && r.Severity != slo.Page && r.Severity != slo.Ticket:
		return r, bad("Severity", fmt.Sprintf("%q", r.Severity), `slo.Page, slo.Ticket or ""`)
	case len(r.Actions) == 0:
		return r, bad("Actions", "empty", "at least one action")
	case r.PerHour < 0:
		return r, bad("PerHour", r.PerHour, "a positive count (0 for the default)")
	case r.PerEpisode < 0:
		return r, bad("PerEpisode", r.PerEpisode, "a positive count (0 for the default)")
	case r.CheckEvery < 0:
		return r, bad("CheckEvery", r.CheckEvery, "a positive duration (0 for the default)")
	}
	seen := map[string]bool{}
	for i, a := range r.Actions {
		field := fmt.Sprintf("Actions[%d]", i)
		switch {
		case a.err != nil:
			return r, fmt.Errorf("remedy: rule %q: %s: %w", r.Objective, field, a.err)
		case a.Name == "":
			return r, bad(field+".Name", `""`, "what the action does, such as \"switch off checkout\"")
		case seen[a.Name]:
			return r, bad(field+".Name", fmt.Sprintf("%q", a.Name), "a name no other action of the rule has")
		case a.Do == nil:
			return r, bad(field+".Do", "nil", "the function that acts")
		case a.Undo != nil && a.Recovered == nil:
			return r, bad(field+".Recovered", "nil", "the independent recovery signal Undo waits for")
		}
		seen[a.Name] = true
	}
	if r.Severity == "" {
		r.Severity = slo.Page
	}
	if r.PerHour == 0 {
		r.PerHour = DefaultPerHour
	}
	if r.PerEpisode == 0 {
		r.PerEpisode = DefaultPerEpisode
	}
	if r.CheckEvery == 0 {
		r.CheckEvery = DefaultCheckEvery
	}
	return r, nil
}

// runsOn reports whether an alert of severity sev runs the rule's actions.
func (r *Rule) runsOn(sev slo.Severity) bool {
	return sev == slo.Page || (sev == slo.Ticket && r.Severity == slo.Ticket)
}

// Option configures New.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	sink  audit.Sink
	clock clock.Clock
	log   *slog.Logger
	mp    metric.MeterProvider
}

// WithAudit is the audit trail every run and undo is appended to, with
// Actor "automation". Required: automation acts only on the record.
func WithAudit(s audit.Sink) Option { return optionFunc(func(c *config) { c.sink = s }) }

// WithClock sets the clock of rate limits and recovery checks. Default:
// the real clock.
func WithClock(c clock.Clock) Option { return optionFunc(func(cfg *config) { cfg.clock = c }) }

// WithMeterProvider sets where the metrics go: opskit.remedy.runs and
// opskit.remedy.undos by objective, action and outcome, and
// opskit.remedy.in_effect, read at collection time. Default:
// otel.GetMeterProvider().
func WithMeterProvider(p metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.mp = p })
}

// WithLogger sets where runs, skips and failures are logged. Default:
// slog.Default().
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.log = l }) }
