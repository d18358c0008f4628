package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/report"
)

// reports writes the weekly ops report under <data>/reports (one HTML,
// Markdown and JSON file per ISO week, written when the week ends, missed
// weeks caught up at start) from the service's own records, and serves it
// at /report behind the operator token. With a fleet store only the
// leader writes.
type reports struct {
	w *report.Writer
}

// newReports gathers the sources: the objectives (compliance, releases and
// verdicts; fleet-wide with a store), the incidents and the audit trail
// (this replica's files, or the fleet's logs in the store), the order
// queue and the features.
func newReports(cfg config, a *app, q queue.Backend, store fleet.Store, log *slog.Logger) (*reports, error) {
	key, err := audit.LoadKey(filepath.Join(cfg.dataDir, "audit.key"))
	if err != nil {
		return nil, err
	}
	mon := a.objectives.mon
	incidents := report.IncidentLog(filepath.Join(cfg.dataDir, "incidents.jsonl"))
	trail := report.AuditLog(filepath.Join(cfg.dataDir, "audit.jsonl"), key)
	if store != nil { // the fleet's incident log and audit trail, in the store
		incidents, trail = report.IncidentFleet(store), report.AuditFleet(store, a.ops.fleetKey)
	}
	src := report.Sources{
		Objectives: mon,
		Incidents:  incidents,
		Audit:      trail,
		Queue:      q,
		Features:   a.features.reg,
		Release:    cfg.release,
	}
	loc, err := time.LoadLocation(cfg.reportLocation)
	if err != nil {
		return nil, fmt.Errorf("-report-location %q: %w", cfg.reportLocation, err)
	}
	opts := []report.Option{report.WithLogger(log), report.WithLocation(loc), report.WithLeader(mon.Leader)}
	if cfg.reportWebhook != "" {
		opts = append(opts, report.WithWebhook(report.Webhook{URL: cfg.reportWebhook}))
	}
	w, err := report.New(filepath.Join(cfg.dataDir, "reports"), src, opts...)
	if err != nil {
		return nil, err
	}
	return &reports{w: w}, nil
}

// checkReportWebhook accepts an empty URL or an http(s) one.
func checkReportWebhook(s string) error {
	if u, err := url.Parse(s); s != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return fmt.Errorf("-report-webhook %q: want an http(s) URL", s)
	}
	return nil
}

// Close stops the schedule and any webhook delivery, within 10 seconds.
func (r *reports) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.w.Shutdown(ctx)
}
