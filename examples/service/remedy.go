package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/remedy"
	"github.com/opskit/opskit/slo"
)

// storySelfHealing: the bulk pricing service goes down for everyone; the
// page of orders.bulk's objective switches the feature off (a fifth of
// bulk orders still try, as the trial); when pricing is back and the
// trial succeeds, it is switched back on.
const storySelfHealing = "self-healing"

// errBulkPricingDown is why every bulk order fails while the self-healing
// story has the pricing service down.
var errBulkPricingDown = errors.New("bulk pricing service unavailable")

// Remediation modes of -remedy.
const (
	remedyOn     = "on"
	remedyDryRun = "dry-run"
	remedyOff    = "off"
)

// remedyConfig is the command line of the automation.
type remedyConfig struct {
	remedyMode  string        // remedyOn, remedyDryRun or remedyOff
	remedyCheck time.Duration // between two judgements of the trial
}

func (c *remedyConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.remedyMode, "remedy", "", "when orders.bulk's objective pages, automation switches orders.bulk off and back on once a fifth of bulk orders, let through as a trial, succeed: "+
		remedyOn+", "+remedyDryRun+" (say what it would do; nothing switches) or "+remedyOff+"; default "+remedyOn+" for -demo-story "+storySelfHealing+", "+remedyDryRun+" otherwise")
	fs.DurationVar(&c.remedyCheck, "remedy-check", 0, "how often automation judges the trial of a feature it switched off (at most once per this, so a persisting cause does not make it flap); default 10m, 30s for -demo-story "+storySelfHealing)
}

// validate sets the defaults that depend on story and checks the flags.
func (c *remedyConfig) validate(story string) error {
	switch c.remedyMode {
	case "":
		c.remedyMode = remedyDryRun
		if story == storySelfHealing {
			c.remedyMode = remedyOn
		}
	case remedyOn, remedyDryRun, remedyOff:
	default:
		return fmt.Errorf("-remedy %q: want %s, %s or %s", c.remedyMode, remedyOn, remedyDryRun, remedyOff)
	}
	switch {
	case c.remedyCheck == 0 && story == storySelfHealing:
		c.remedyCheck = 30 * time.Second
	case c.remedyCheck == 0:
		c.remedyCheck = remedy.DefaultCheckEvery
	case c.remedyCheck < time.Second:
		return fmt.Errorf("-remedy-check %v: want at least 1s", c.remedyCheck)
	}
	return nil
}

// automation acts on the service's alerts before they are told: when the
// orders.bulk objective pages, orders.bulk is switched off. Refused bulk
// orders still count as failures of orders.bulk (Enabled counts them), so
// the page stays honest; the switch is undone only when the trial share
// succeeds, judged once per -remedy-check. Every run and undo is a note
// in the incident and a record in the audit trail, by "automation".
type automation struct {
	rem  *remedy.Notifier
	tell tellAll // the service's notifiers, told after automation acted
}

// newAutomation builds the automation of cfg for f's features, auditing
// to sink. Give notifier to the Monitor and attach it once it exists.
func newAutomation(cfg config, f *features, sink audit.Sink, mp metric.MeterProvider, log *slog.Logger) (*automation, error) {
	a := &automation{}
	var err error
	if a.rem, err = remedy.New(&a.tell, remedy.WithAudit(sink), remedy.WithMeterProvider(mp), remedy.WithLogger(log)); err != nil {
		return nil, err
	}
	if cfg.remedyMode == remedyOff {
		return a, nil
	}
	// Five trial outcomes between checks, none failed: with the demo's
	// four bulk orders a second, a fifth of them make 24 in 30s.
	err = a.rem.Add(remedy.Rule{
		Objective:  bulkObjective.Name,
		DryRun:     cfg.remedyMode == remedyDryRun,
		CheckEvery: cfg.remedyCheck,
		Actions:    []remedy.Action{remedy.SwitchOff(f.bulkOrder, remedy.Recovery{Trial: 0.2, MinTrials: 5})},
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// notifier returns the slo.Notifier that acts, then tells next, one
// after another (each is bounded by the notification's 10 seconds).
// Called once, before the Monitor starts.
func (a *automation) notifier(next ...slo.Notifier) slo.Notifier {
	a.tell = next
	return a.rem
}

// attach names the Monitor whose incidents record what automation did.
func (a *automation) attach(m *slo.Monitor) { a.rem.Attach(m) }

// Close stops the recovery checks, waiting at most 10 s for one running.
// Close it after the Monitor, whose notifier goroutines call it.
func (a *automation) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return a.rem.Shutdown(ctx)
}

// tellAll is the service's notifiers as one: each is told in turn, and
// their errors are joined.
type tellAll []slo.Notifier

func (t *tellAll) Notify(ctx context.Context, al slo.Alert) error {
	var errs []error
	for _, n := range *t {
		errs = append(errs, n.Notify(ctx, al))
	}
	return errors.Join(errs...)
}

// selfHealing is the story's cause: bulk pricing is down for a phase and
// a half (the page, the switch, failing trials that keep it off), then
// back for good (a whole check of trials succeeds, the switch is undone,
// the page resolves), while the demo's orders keep coming. One episode:
// within it the page is not sent again, so automation does not act again.
func selfHealing(ctx context.Context, a *app) {
	orders := make(chan struct{})
	go func() {
		defer close(orders)
		runDemo(ctx, a.baseURL, a.downstream, a.log)
	}()
	defer func() { <-orders }()
	a.features.bulkDown.Store(true)
	a.log.Info("demo: self-healing story: bulk pricing down", "for", a.cfg.demoPhase*3/2)
	if sleepCtx(ctx, a.cfg.demoPhase*3/2) {
		a.features.bulkDown.Store(false)
		a.log.Info("demo: self-healing story: bulk pricing back")
	}
}

// sleepCtx waits d, or until ctx ends (then it reports false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
