package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/opskit/opskit/audit"
	"go.opentelemetry.io/otel/metric"
)

// minTokenLen keeps an operator token from being guessable by hand.
const minTokenLen = 16

// operators guards what changes the service or shows its secrets. Both
// guards refuse cross-site requests and append one record per action to
// the audit trail (audit.jsonl under the data directory, sealed by a
// keyed hash chain whose key is audit.key beside it).
type operators struct {
	admin *audit.Guard // the operator token: dead letters, incidents, /audit
	demo  *audit.Guard // anyone same-origin: the demo's downstream mode
	trail *audit.Log
	log   *slog.Logger
}

// newOperators opens the audit trail, whose records carry releaseID (the
// running release); observe sees every record written to it, after it is
// durable.
func newOperators(dataDir, token, releaseID string, mp metric.MeterProvider, log *slog.Logger, observe func(context.Context, audit.Record)) (*operators, error) {
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
	sink := observedSink{trail, observe}
	return &operators{
		admin: &audit.Guard{Authorize: audit.BearerTokens(audit.Token{Secret: token, Actor: "operator"}), Sink: sink},
		demo: &audit.Guard{Sink: sink, Authorize: func(*http.Request, audit.Action) (string, error) {
			return "demo visitor", nil
		}},
		trail: trail,
		log:   log,
	}, nil
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
