package remedy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
	"github.com/opskit/opskit/slo"
)

// ErrClosed is returned by Add after Shutdown.
var ErrClosed = errors.New("remedy: shut down")

// ErrAlready is wrapped by an Action's Do when there was nothing to do
// (a person switched the feature off first), and by its Undo when someone
// else has taken the matter over since.
var ErrAlready = errors.New("remedy: already done")

// checkTimeout bounds one call of Recovered or Undo.
const checkTimeout = 10 * time.Second

// Notifier is an slo.Notifier that runs the actions of its rules when an
// alert fires, records each run in the alert's incident and the audit
// trail, rewrites the alert's DO text to say what was done and what is
// left to a human, and then passes the alert on to the next notifier.
type Notifier struct {
	next  slo.Notifier
	sink  audit.Sink
	clock clock.Clock
	log   *slog.Logger

	ctx     context.Context // ends at Shutdown: recovery checks and undos in flight
	cancel  context.CancelFunc
	metrics metric.Registration
	checks  sync.WaitGroup // recovery checks running

	mu     sync.Mutex // guards everything below and every slot's state
	mon    *slo.Monitor
	slots  map[string][]*slot // by objective, in the order added
	closed bool
}

// slot is one action of one rule with its limits and state; the state is
// guarded by Notifier.mu.
type slot struct {
	rule *Rule
	act  Action

	runs        []time.Time // attempted runs in the last hour, oldest first
	episode     string      // incident of the last attempted run
	episodeRuns int
	busy        bool                // Do, Recovered or Undo is running
	active      bool                // Do succeeded and Undo has not yet
	since       time.Time           // when it became active
	incident    string              // the incident it became active in
	check       clock.Timer         // the next check: of the recovery signal while active, else for a switch to take up
	last        string              // what the last run did, as DO text
	lastIn      string              // the incident of last
	counts      map[[2]string]int64 // outcomes by {"run" or "undo", outcome}, for the metrics
}

// New returns a Notifier that passes every alert on to next (nil: to
// nobody) after acting on it. Give it to slo.New with slo.WithNotifier,
// then Attach the Monitor so runs are noted in its incidents; add rules
// with Add. WithAudit is required.
func New(next slo.Notifier, opts ...Option) (*Notifier, error) {
	var cfg config
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.sink == nil {
		return nil, errors.New("remedy: WithAudit is nil: every run is audited, give the audit sink")
	}
	if cfg.log == nil {
		cfg.log = slog.Default()
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{next: next, sink: cfg.sink, clock: timer.Or(cfg.clock), log: cfg.log,
		ctx: ctx, cancel: cancel, slots: map[string][]*slot{}}
	var err error
	if n.metrics, err = n.newMetrics(cfg.mp); err != nil {
		cancel()
		return nil, err
	}
	return n, nil
}

// Attach names the Monitor whose incidents runs are noted in (with
// Monitor.Note, by "automation"). Until it is called, alerts pass through
// and no action runs: nothing is done that the incident would not show.
//
// From then on, every CheckEvery, a switch of automation's found in
// effect though this process did not make it — one that outlived a
// restart, or that the previous leader of a fleet made — is taken up and
// undone after its recovery signal like one made here (not by a DryRun
// rule). Recovery checks and undos run only while the Monitor is its
// fleet's leader (slo.Monitor.Leader), as runs do.
func (n *Notifier) Attach(m *slo.Monitor) {
	n.mu.Lock()
	n.mon = m
	var all []*slot
	for _, slots := range n.slots {
		all = append(all, slots...)
	}
	n.mu.Unlock()
	for _, s := range all {
		n.takeUp(s)
	}
}

// Add validates r, sets its defaults and adds its actions. An objective
// may have several rules; action names are unique within one objective.
func (n *Notifier) Add(r Rule) error {
	r, err := r.withDefaults()
	if err != nil {
		return err
	}
	added, attached, err := n.add(&r)
	if err == nil && attached {
		for _, s := range added {
			n.takeUp(s)
		}
	}
	return err
}

func (n *Notifier) add(r *Rule) (added []*slot, attached bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, false, ErrClosed
	}
	for _, a := range r.Actions {
		for _, s := range n.slots[r.Objective] {
			if s.act.Name == a.Name {
				return nil, false, fmt.Errorf("remedy: rule %q: action %q is already in another rule of the objective", r.Objective, a.Name)
			}
		}
	}
	for _, a := range r.Actions {
		s := &slot{rule: r, act: a}
		added = append(added, s)
		n.slots[r.Objective] = append(n.slots[r.Objective], s)
	}
	return added, n.mon != nil, nil
}

// Notify implements slo.Notifier. The first firing notification of an
// episode (not a Repeat) runs the actions of the rules its severity
// reaches; every notification of a known objective gets a DO text saying
// what automation did and what is left to a human. Actions that fail or
// panic are recorded as failed; the alert is passed on regardless, and
// Notify returns the next notifier's error.
func (n *Notifier) Notify(ctx context.Context, a slo.Alert) error {
	n.mu.Lock()
	slots := slices.Clone(n.slots[a.Objective])
	n.mu.Unlock()
	if len(slots) > 0 {
		var done []string
		for _, s := range slots {
			if a.State == slo.Firing && !a.Repeat && s.rule.runsOn(a.Severity) {
				n.run(ctx, s, a)
			}
			if d := n.describe(s, a); d != "" {
				done = append(done, d)
			}
		}
		if len(done) > 0 {
			a = rewrite(a, done)
		}
	}
	if n.next == nil {
		return nil
	}
	return n.next.Notify(ctx, a)
}

// run runs s's action for alert a, within its limits, and records what
// happened.
func (n *Notifier) run(ctx context.Context, s *slot, a slo.Alert) {
	name := s.act.Name
	n.mu.Lock()
	skip := n.admit(s, a)
	dry := s.rule.DryRun
	if skip != "" {
		if s.active {
			s.last, s.lastIn = n.inEffect(s), a.Incident
		} else {
			s.last, s.lastIn = fmt.Sprintf("not done automatically: %s (%s)", name, skip), a.Incident
		}
		s.tally(false, outcomeSkipped)
		mon := n.mon
		n.mu.Unlock()
		n.report(ctx, mon, a.Incident, nil, fmt.Sprintf("%s: not run: %s", name, skip),
			slog.LevelWarn, "remedy: action not run", "objective", a.Objective, "action", name, "incident", a.Incident, "why", skip)
		return
	}
	s.busy = true
	mon := n.mon
	n.mu.Unlock()

	where := fmt.Sprintf("objective %s, %s, incident %s", a.Objective, a.Severity, a.Incident)
	if dry {
		n.mu.Lock()
		s.busy, s.last, s.lastIn = false, "dry run, nothing done: would "+name, a.Incident
		s.tally(false, outcomeDryRun)
		n.mu.Unlock()
		n.report(ctx, mon, a.Incident, &audit.Record{Action: ActionRun, Target: name, Result: "dry run", Detail: "would " + name + "; " + where},
			"dry run: would "+name, slog.LevelInfo, "remedy: dry run: would "+name, "objective", a.Objective, "action", name, "incident", a.Incident)
		return
	}
	err := call(ctx, func(ctx context.Context) error { return s.act.Do(ctx, a) })
	at := n.clock.Now()
	n.mu.Lock()
	s.busy = false
	switch {
	case errors.Is(err, ErrAlready):
		s.last, s.lastIn = fmt.Sprintf("not done automatically: %s (%v)", name, err), a.Incident
		s.tally(false, outcomeSkipped)
	case err != nil:
		s.last, s.lastIn = fmt.Sprintf("tried automatically and failed: %s (%v)", name, err), a.Incident
		s.tally(false, outcomeFailed)
	case s.act.Undo != nil:
		s.active, s.since, s.incident = true, at, a.Incident
		s.last, s.lastIn = n.inEffect(s), a.Incident
		s.tally(false, outcomeDone)
		n.restart(s)
	default:
		s.last, s.lastIn = fmt.Sprintf("done automatically: %s (%s)", name, stamp(at)), a.Incident
		s.tally(false, outcomeDone)
	}
	n.mu.Unlock()
	rec := &audit.Record{Action: ActionRun, Target: name, Result: "ok", Detail: where}
	attrs := []any{"objective", a.Objective, "action", name, "incident", a.Incident}
	switch {
	case errors.Is(err, ErrAlready):
		rec.Result = "skipped: " + err.Error()
		n.report(ctx, mon, a.Incident, rec, fmt.Sprintf("%s: nothing to do: %v", name, err),
			slog.LevelInfo, "remedy: nothing to do", append(attrs, "why", err)...)
	case err != nil:
		rec.Result = err.Error()
		n.report(ctx, mon, a.Incident, rec, fmt.Sprintf("%s: failed: %v", name, err),
			slog.LevelError, "remedy: action failed", append(attrs, "err", err)...)
	default:
		text := name + ": done"
		if s.act.Undo != nil {
			text += fmt.Sprintf("; undone once %s passes (checked every %s)", signal(s.act), s.rule.CheckEvery)
		}
		n.report(ctx, mon, a.Incident, rec, text, slog.LevelInfo, "remedy: action done", attrs...)
	}
}

// admit decides whether s runs now for a and, if so, counts the run; it
// returns why not otherwise. Requires mu held.
func (n *Notifier) admit(s *slot, a slo.Alert) string {
	switch {
	case n.closed:
		return "shutting down"
	case n.mon == nil:
		return "no Monitor attached, so the run could not be noted in the incident"
	case !n.mon.Leader():
		return "this replica is not the fleet's leader"
	case s.active:
		return fmt.Sprintf("already in effect since %s (incident %s)", stamp(s.since), s.incident)
	case s.busy:
		return "already running"
	}
	now := n.clock.Now()
	i := 0
	for i < len(s.runs) && now.Sub(s.runs[i]) >= time.Hour {
		i++
	}
	s.runs = s.runs[i:]
	if len(s.runs) >= s.rule.PerHour {
		return fmt.Sprintf("rate limit: %d runs in the last hour, at most %d", len(s.runs), s.rule.PerHour)
	}
	if s.episode != a.Incident {
		s.episode, s.episodeRuns = a.Incident, 0
	}
	if s.episodeRuns >= s.rule.PerEpisode {
		return fmt.Sprintf("cap: %d runs in this incident, at most %d", s.episodeRuns, s.rule.PerEpisode)
	}
	s.runs = append(s.runs, now)
	s.episodeRuns++
	return ""
}

// describe says what s did for the episode of a, for its DO text, or ""
// when it did nothing that concerns a.
func (n *Notifier) describe(s *slot, a slo.Alert) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s.active {
		return n.inEffect(s)
	}
	if s.lastIn == a.Incident {
		return s.last
	}
	return ""
}

// inEffect is the DO text of an action in effect. Requires mu held.
func (n *Notifier) inEffect(s *slot) string {
	return fmt.Sprintf("done automatically: %s (%s); undone automatically once %s passes, checked every %s",
		s.act.Name, stamp(s.since), signal(s.act), s.rule.CheckEvery)
}

// rewrite puts what automation did before what is left to a human, in Do
// and in the description annotation.
func rewrite(a slo.Alert, done []string) slo.Alert {
	human := a.Do
	if human == "" {
		human = "find and remove the cause"
	}
	do := strings.Join(done, "; ") + ". Left to a human: " + human
	ann := make(map[string]string, len(a.Annotations)+1)
	for k, v := range a.Annotations {
		ann[k] = v
	}
	if desc, ok := ann["description"]; ok {
		if old := ", do: " + a.Do; a.Do != "" && strings.Contains(desc, old) {
			ann["description"] = strings.Replace(desc, old, ", do: "+do, 1)
		} else {
			ann["description"] = strings.TrimSuffix(desc, ".") + ". Automation: " + do + "."
		}
	}
	ann["remediation"] = strings.Join(done, "; ")
	a.Annotations, a.Do = ann, do
	return a
}

// report records one outcome: the audit record (when rec is not nil)
// first, as the durable trail, then the note in incident id, then the log
// line, so whoever sees the log line finds the rest. Failures to record
// are logged.
func (n *Notifier) report(ctx context.Context, m *slo.Monitor, id string, rec *audit.Record, note string, level slog.Level, msg string, attrs ...any) {
	if rec != nil {
		rec.Time, rec.Actor, rec.From = n.clock.Now(), Actor, "remedy"
		if err := n.sink.Append(ctx, *rec); err != nil {
			n.log.Error("remedy: audit record not written", "action", rec.Action, "target", rec.Target, "err", err)
		}
	}
	if m != nil && id != "" {
		if err := m.Note(id, Actor, "remedy: "+note); err != nil {
			n.log.Error("remedy: incident note not written", "incident", id, "text", note, "err", err)
		}
	}
	n.log.Log(ctx, level, msg, attrs...)
}

// call runs f, turning a panic into an error.
func call(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("remedy: panic: %v", p)
		}
	}()
	return f(ctx)
}

func signal(a Action) string {
	if a.Signal == "" {
		return "its recovery check"
	}
	return a.Signal
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05 UTC") }
