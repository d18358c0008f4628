// Package report writes the weekly ops report stakeholders read —
// service levels met, incidents and how long they took to resolve, the
// pages and tickets they sent, the maintenance operators performed, the
// releases that ran and their verdicts, the retry queue and feature usage —
// from what the service already records, as a page a mail client shows,
// Markdown and JSON, once per ISO week, with catch-up after restarts.
//
// A complete program:
//
//	package main
//
//	import (
//		"context"
//		"flag"
//		"log"
//		"net/http"
//		"os"
//		"os/signal"
//		"time"
//
//		"github.com/opskit/opskit/audit"
//		"github.com/opskit/opskit/report"
//		"github.com/opskit/opskit/slo"
//	)
//
//	func main() {
//		addr := flag.String("addr", "127.0.0.1:8080", "listen address")
//		flag.Parse()
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//		defer stop()
//
//		key := []byte(os.Getenv("AUDIT_KEY") + "a key of at least 32 bytes, kept elsewhere")
//		trail, err := audit.Open("data/audit.log", key)
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer trail.Close()
//		m, err := slo.New(slo.WithIncidentLog("data/incidents.jsonl"), slo.WithSnapshotFile("data/slo.json", 0))
//		if err != nil {
//			log.Fatal(err)
//		}
//		api := m.MustAdd(slo.Objective{Name: "api", Target: 0.999})
//
//		// Every week ending Monday 00:00 UTC, into data/reports/2026-W49.html, .md, .json.
//		weekly, err := report.New("data/reports", report.Sources{
//			Objectives: m,
//			Incidents:  report.IncidentLog("data/incidents.jsonl"),
//			Audit:      report.AuditLog("data/audit.log", key),
//		})
//		if err != nil {
//			log.Fatal(err)
//		}
//		guard := &audit.Guard{Sink: trail, Authorize: audit.BearerTokens(audit.Token{
//			Secret: os.Getenv("REPORT_TOKEN"), Actor: "stakeholders", Actions: []audit.Action{report.ReadAction}})}
//		mux := http.NewServeMux()
//		mux.Handle("/report", weekly.Handler(guard))
//		mux.Handle("/api/", slo.Middleware(http.NotFoundHandler(), api))
//		srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
//		go func() {
//			<-ctx.Done() // Ctrl-C
//			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//			defer cancel()
//			srv.Shutdown(shutdown)
//		}()
//		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
//			log.Fatal(err)
//		}
//		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//		defer cancel()
//		if err := weekly.Shutdown(shutdown); err != nil {
//			log.Print(err)
//		}
//		if err := m.Shutdown(shutdown); err != nil {
//			log.Print(err)
//		}
//	}
//
// # Sources
//
// A report reads Sources, each optional: a nil source makes its section
// say "not configured" rather than show a zero. The sources are the
// methods opskit's types already have — a *slo.Monitor for the objectives
// (Status, and Range for exact counts over the week and over the period
// ending with it; Releases and Verdict for the releases), a queue.Backend
// for the queue (Stats), a *feature.Registry for the features (Report) —
// and readers of the logs: IncidentLog (the slo incident log holds every
// incident; a Monitor keeps only the last 50) and AuditLog (the audit
// trail, verified against its key), or for a fleet sharing a fleet.Store,
// IncidentFleet and AuditFleet (the fleet's incident log and audit trail:
// with a *slo.Monitor made WithStore, the report is fleet-wide). Tests
// pass fakes.
//
// A source that fails does not stop the report: its section has Status
// Failed and says why, with the figures read before the failure. Every
// figure is a record's or a sum of records'; what a source does not record
// is said, not invented:
//
//   - Compliance: the week [Monday 00:00, next Monday 00:00) and the
//     objective's period ending with it, as slo.Monitor.Range sums them
//     (its bucket edges are shown); a period older than the history kept is
//     noted on the objective.
//   - Incidents: opened in the week, resolved in it, or open across it;
//     duration and time to resolve are Resolved-Started, time to
//     acknowledge Ack-Started.
//   - Notifications: the pages and tickets of the incidents opened in the
//     week (an episode sends at most one of each).
//   - Maintenance: the audit records of the week; reads (actions ending in
//     ".read") are counted, the others listed (at most MaxListed).
//   - Releases: the running release; the release ids the week's incidents
//     and audit records name; each objective's releases with events in the
//     week and the verdict of each against the running one (counts since
//     each release was first counted, not only the week's).
//   - Queue: a queue counts from when it was opened, so accepted,
//     delivered, retried and dead-lettered for the week are the difference
//     of the counters a Writer samples at the week's start (or its own
//     start, later in the week) and end in one process run; a week whose
//     start this run did not see says "not recorded". The backlog (depth,
//     oldest age, dead letters held) is as of the report.
//   - Features: the registry's report (Policy.End) of exactly the week's
//     days. The registry counts per UTC day, so the section covers the 7
//     whole UTC days ending at the last UTC midnight at or before the
//     week's end: in a UTC report the week itself; in another zone days
//     offset by the zone (Europe/Berlin: Sunday to Saturday UTC, all of them
//     over when the week ends), and the section says so in its note. While
//     the week runs, its UTC days up to today. Failing features are those
//     of the period's last day against the day before.
//
// # Schedule
//
// New creates the directory (0700) and a state file, and writes at once
// every week that ended since the last one written there — or since the
// week of the first start — at most WithCatchUp (8) of the newest; then
// it writes each week Settle (a minute) after it ends, in three files
// (0600, replaced atomically). A week starts Monday 00:00 UTC, or in WithLocation's zone.
// A week is written once: the state records the last one, so a restart
// neither skips a week nor writes one twice. With WithLeader only the
// fleet's leader writes (pass slo.Monitor.Leader); the others ask again
// every minute. WithWebhook POSTs each week's JSON (retried with a retry.Policy,
// within a bound; a week not delivered stays in the state and is tried
// again an hour later and after a restart).
//
// # Serving
//
// Writer.Handler serves /report behind an audit.Guard for ReadAction
// ("report.read"), and audits every report it serves: the last week
// written, a given week (?week=2026-W49) or the week so far
// (?week=current), as ?format=html, md or json. Bad parameters get a 400
// naming them.
//
// # Formats
//
// HTML is one self-contained page made for mail clients: layout tables,
// inline styles only, no script, no image, no link, every value escaped;
// tables scroll sideways on a phone. Markdown escapes every value. JSON
// has stable snake_case field names (a release keeps release.Info's
// health-check names: serviceId, version, releaseId); durations are given in seconds
// (fields ending in _seconds), and a budget overspent by a target of 1 (no
// bad event allowed) is -1.
//
// # Concurrency and shutdown
//
// A Writer's passes run on its clock's timers, one at a time; its webhook
// deliveries on one goroutine. Shutdown stops both and waits for what is
// running, up to its context. Sources are called without any of the
// Writer's locks held.
package report
