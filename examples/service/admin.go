package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/fleet"
	"go.opentelemetry.io/otel/metric"
)

// minTokenLen keeps an operator token from being guessable by hand.
const minTokenLen = 16

// operators guards what changes the service or shows its secrets. Both
// guards refuse cross-site requests and append one record per action to
// the audit trail (audit.jsonl under the data directory, sealed by a
// keyed hash chain whose key is audit.key beside it). With a fleet store
// each record also goes to the fleet's one trail (audit.FleetSink, every
// record naming its replica), which /audit then shows.
type operators struct {
	admin *audit.Guard // the operator token: dead letters, incidents, /audit
	demo  *audit.Guard // anyone same-origin: the demo's downstream mode
	trail *audit.Log
	log   *slog.Logger

	store    fleet.Store // nil without a fleet store
	fleetKey []byte      // seals the fleet trail's records
}

// newOperators opens the audit trail, whose records carry releaseID (the
// running release); observe sees every record written to it, after it is
// durable.
//
// With store (nil: none) the fleet trail's sealing key is the store's
// fleetAuditKey, created by the first replica that asks: every replica
// seals and checks with it. It lives beside the records, so the seals
// catch damage and edits by whoever cannot read that table, not by a
// database owner; each replica's hash-chained file stays the
// tamper-evident copy.
func newOperators(dataDir, token, releaseID string, store fleet.Store, instance string, mp metric.MeterProvider, log *slog.Logger, observe func(context.Context, audit.Record)) (*operators, error) {
	key, err := audit.LoadKey(filepath.Join(dataDir, "audit.key"))
	if err != nil {
		return nil, err
	}
	trail, err := audit.Open(filepath.Join(dataDir, "audit.jsonl"), key, audit.WithMeterProvider(mp), audit.WithRelease(releaseID))
	if err != nil {
		return nil, err
	}
	if token == "" {
		log.Warn("no operator token (OPSKIT_OPERATOR_TOKEN or -operator-token): admin routes answer 403 to everyone")
	}
	o := &operators{trail: trail, log: log, store: store}
	var sink audit.Sink = trail
	if store != nil {
		if sink, err = o.fleetSink(trail, instance); err != nil {
			trail.Close()
			return nil, err
		}
	}
	sink = observedSink{sink, observe}
	o.admin = &audit.Guard{Authorize: audit.BearerTokens(audit.Token{Secret: token, Actor: "operator"}), Sink: sink}
	o.demo = &audit.Guard{Sink: sink, Authorize: func(*http.Request, audit.Action) (string, error) {
		return "demo visitor", nil
	}}
	return o, nil
}

// fleetAuditKey names the fleet trail's sealing key in the store.
const fleetAuditKey = "audit.fleet-key"

// fleetSink writes each record to the replica's file trail, then to the
// fleet's trail; an error from either is the append's error.
func (o *operators) fleetSink(file *audit.Log, instance string) (audit.Sink, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	proposed := make([]byte, 32)
	rand.Read(proposed)
	key, err := o.store.Key(ctx, fleetAuditKey, proposed)
	if err != nil {
		return nil, fmt.Errorf("audit: the fleet trail's key: %w", err)
	}
	fs, err := audit.FleetSink(o.store, instance, key)
	if err != nil {
		return nil, err
	}
	o.fleetKey = key
	return bothSinks{file, fs}, nil
}

// handler serves /audit: the fleet's trail with a store, else this
// replica's file.
func (o *operators) handler() http.Handler {
	if o.store != nil {
		return audit.FleetHandler(o.store, o.fleetKey, o.admin)
	}
	return o.trail.Handler(o.admin)
}

// bothSinks appends to both sinks, the first first.
type bothSinks [2]audit.Sink

func (b bothSinks) Append(ctx context.Context, rec audit.Record) error {
	if err := b[0].Append(ctx, rec); err != nil {
		return err
	}
	return b[1].Append(ctx, rec)
}

// record appends the audit record of an action a guard allowed; one that
// cannot be written is logged, since the action already happened.
func (o *operators) record(g *audit.Guard, r *http.Request, actor string, action audit.Action, target string, err error, detail string) {
	if aerr := g.Log(r, actor, action, target, err, detail); aerr != nil {
		o.log.Error("audit record not written", "action", action, "target", target, "err", aerr)
	}
}

func (o *operators) Close() error { return o.trail.Close() }

// observedSink shows each record it writes to observe: the operator
// actions the library's handlers take count as feature uses that way.
type observedSink struct {
	audit.Sink
	observe func(context.Context, audit.Record)
}

func (s observedSink) Append(ctx context.Context, rec audit.Record) error {
	err := s.Sink.Append(ctx, rec)
	if err == nil {
		s.observe(ctx, rec)
	}
	return err
}
