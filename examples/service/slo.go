package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/slo"
	"go.opentelemetry.io/otel/metric"
)

// objectives are the service's promises. Targets of 99% keep every default
// burn-rate tier meaningful (a tier can fire only below 1/(1-target)).
var (
	fulfilmentObjective = slo.Objective{
		Name:    "order-fulfilment",
		Target:  0.99,
		Runbook: "Check the downstream (/demo/downstream) and the breaker state on /metrics; restore or fail over the downstream. Orders wait in /queue meanwhile; dead letters in /queue/dead need an operator.",
		Outcome: "customers' orders reach fulfilment within the delivery bound (5 minutes) of being placed",
	}
	latencyObjective = slo.Objective{
		Name:    "api-orders-latency",
		Target:  0.99,
		Latency: []slo.Threshold{{Max: 300 * time.Millisecond}},
		Runbook: "Look at the downstream's latency and the retry delays on /metrics; if the downstream is slow, shorten the request path's deadline so orders queue instead of waiting.",
		Outcome: "customers get an answer within 300ms when they place an order",
	}
)

// objectives tracks both: fulfil counts each order once (see fulfilment),
// latency is recorded by middleware on /api/orders.
type objectives struct {
	mon     *slo.Monitor
	fulfil  *fulfilment
	latency *slo.Tracker
}

// newObjectives starts the monitor. cfg.deliveryBound is how long an
// accepted order has to reach the downstream before it counts against
// order-fulfilment; alerts go to the log, and to -alert-webhook and
// -alertmanager when given, labelled with -instance, after auto acted on
// them (remedy.go: one notifier in front of all, so each says what
// automation did).
//
// With a fleet store (-fleet-url) the monitor is one replica of the fleet:
// it publishes its counts under -instance and shows the fleet's; one
// replica at a time (the leader) evaluates the alerts, notifies — without
// an instance label — and writes the incidents into the store, which
// replaces incidents.jsonl. The snapshot file stays: this replica's own
// history.
func newObjectives(cfg config, store fleet.Store, mp metric.MeterProvider, log *slog.Logger, auto *automation) (*objectives, error) {
	notify := []slo.Notifier{slo.NotifierFunc(newIncidentLog(log).notify)}
	if cfg.alertWebhook != "" {
		notify = append(notify, slo.Webhook(cfg.alertWebhook, nil))
	}
	if cfg.alertmanager != "" {
		notify = append(notify, slo.Alertmanager(cfg.alertmanager, slo.AlertmanagerOptions{}))
	}
	opts := []slo.Option{
		slo.WithMeterProvider(mp),
		slo.WithLogger(log),
		slo.WithInstance(cfg.instance),
		slo.WithEvaluationInterval(cfg.evaluateEvery),
		slo.WithRelease(cfg.release), // incidents and notifications name the release
		slo.WithNotifier(auto.notifier(notify...)),
		slo.WithSnapshotFile(filepath.Join(cfg.dataDir, "slo-snapshot.json"), 0), // every 10s: a SIGKILL loses seconds
	}
	if store != nil {
		opts = append(opts, slo.WithStore(store))
	} else {
		opts = append(opts, slo.WithIncidentLog(filepath.Join(cfg.dataDir, "incidents.jsonl")))
	}
	mon, err := slo.New(opts...)
	if err != nil {
		return nil, err
	}
	o := &objectives{mon: mon}
	o.fulfil, err = newFulfilment(mon, cfg.deliveryBound)
	if err == nil {
		o.latency, err = mon.Add(latencyObjective)
	}
	if err != nil {
		_ = mon.Shutdown(context.Background()) // nothing queued yet: returns at once
		return nil, err
	}
	return o, nil
}

// Close shuts the monitor down, bounded: queued notifications get 10 seconds.
func (o *objectives) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return o.mon.Shutdown(ctx)
}

// fulfilment is the customer's view of an order: it counts once against
// order-fulfilment, good when it reached the downstream within the bound
// from acceptance (straight away or from the queue), bad when it became a
// dead letter, was refused (not stored), or was still undelivered as its
// bound passed — counted at that moment, so a long outage burns budget
// while it lasts. Attempts, retries and breaker refusals are not events:
// they are the retry and queue metrics.
type fulfilment struct {
	t *slo.Tracker
	p *slo.Pending

	mu sync.Mutex // guards dead
	// dead holds the orders counted bad as dead letters in this run, so
	// that one an operator requeues is not counted a second time.
	dead map[string]bool
}

// maxDeadRemembered bounds fulfilment.dead; past it a requeued dead letter
// may count twice, which is the lesser harm than unbounded memory.
const maxDeadRemembered = 100_000

func newFulfilment(mon *slo.Monitor, bound time.Duration) (*fulfilment, error) {
	t, err := mon.Add(fulfilmentObjective)
	if err != nil {
		return nil, err
	}
	p, err := t.Pending(bound)
	if err != nil {
		return nil, err
	}
	return &fulfilment{t: t, p: p, dead: map[string]bool{}}, nil
}

// accepted starts order id's clock: it was stored for later delivery at at.
func (f *fulfilment) accepted(id string, at time.Time) { f.p.Accept(id, at) }

// delivered counts order id good, unless its bound passed (then it was
// counted bad already, as the bound passed).
func (f *fulfilment) delivered(id string) { f.p.Complete(id, true) }

// refused counts an order the service could not store: the customer was
// turned away.
func (f *fulfilment) refused(id string) { f.p.Complete(id, false) }

// deadLettered counts order id bad (once) as it becomes a dead letter.
func (f *fulfilment) deadLettered(id string) {
	f.mu.Lock()
	if len(f.dead) < maxDeadRemembered {
		f.dead[id] = true
	}
	f.mu.Unlock()
	f.p.Complete(id, false)
}

// redelivering reports whether a delivery from the queue still counts:
// not for a requeued dead letter (already counted bad). After a restart
// it starts the order's clock again from its enqueue time, so an order
// whose bound passed while the service was down counts late once.
func (f *fulfilment) redelivering(id string, enqueuedAt time.Time) bool {
	f.mu.Lock()
	dead := f.dead[id]
	f.mu.Unlock()
	if !dead {
		f.p.Accept(id, enqueuedAt)
	}
	return !dead
}

// incidentLog writes one structured log line each time an incident opens,
// changes (a severity starts or stops firing, another tier leads) or
// resolves, with its IF, DO and SO THAT, so the person watching the log
// sees what the on-call engineer would be told. It follows the monitor's
// notifications: one page and one ticket alert per episode, each resolved
// once, resent while firing.
type incidentLog struct {
	log *slog.Logger

	mu   sync.Mutex                         // guards open
	open map[string]map[slo.Severity]string // incident id -> firing severity -> leading tier
}

func newIncidentLog(log *slog.Logger) *incidentLog {
	return &incidentLog{log: log, open: map[string]map[slo.Severity]string{}}
}

func (l *incidentLog) notify(_ context.Context, a slo.Alert) error {
	msg, what := l.change(a)
	if msg == "" {
		return nil
	}
	level := slog.LevelWarn
	if a.State == slo.Resolved && msg == "incident resolved" {
		level = slog.LevelInfo
	}
	l.log.Log(context.Background(), level, msg, "incident", a.Incident, "objective", a.Objective,
		"change", what, "severity", a.Severity, "tier", a.Tier,
		"burn_rate_long", a.Numbers.BurnRateLong, "burn_rate_short", a.Numbers.BurnRateShort,
		"budget_remaining", a.Numbers.BudgetRemaining,
		"IF", a.If, "DO", a.Do, "SO_THAT", a.SoThat)
	return nil
}

// change updates what is known of a's incident and says what happened to
// it: "" when nothing did (a resend of the same state).
func (l *incidentLog) change(a slo.Alert) (msg, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	firing, known := l.open[a.Incident]
	if a.State == slo.Resolved {
		if !known {
			return "", ""
		}
		delete(firing, a.Severity)
		if len(firing) > 0 {
			return "incident updated", string(a.Severity) + " resolved"
		}
		delete(l.open, a.Incident)
		return "incident resolved", string(a.Severity) + " resolved"
	}
	if !known {
		l.open[a.Incident] = map[slo.Severity]string{a.Severity: a.Tier}
		if a.Repeat { // open before this process started
			return "incident open", string(a.Severity) + " firing (since " + a.StartsAt.UTC().Format(time.RFC3339) + ")"
		}
		return "incident opened", string(a.Severity) + " firing"
	}
	tier, was := firing[a.Severity]
	firing[a.Severity] = a.Tier
	switch {
	case !was:
		return "incident updated", string(a.Severity) + " firing"
	case tier != a.Tier:
		return "incident updated", "tier " + tier + " -> " + a.Tier
	}
	return "", ""
}
