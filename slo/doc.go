// Package slo tracks service level objectives inside the service: exact
// error budgets over rolling windows, the SRE workbook's multi-window
// multi-burn-rate alerts (one page and one ticket alert per objective)
// that say If, Do and So that, one incident per outage episode written to
// an auditable log, and Prometheus rules that compute the same objectives
// across a fleet.
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
//		"github.com/opskit/opskit/slo"
//	)
//
//	func main() {
//		addr := flag.String("addr", "127.0.0.1:8080", "listen address")
//		flag.Parse()
//		m, err := slo.New(
//			slo.WithIncidentLog("data/incidents.jsonl"),
//			slo.WithSnapshotFile("data/slo.json", 0),
//			slo.WithNotifier(slo.Alertmanager("http://127.0.0.1:9093", slo.AlertmanagerOptions{})),
//		)
//		if err != nil {
//			log.Fatal(err)
//		}
//		api := m.MustAdd(slo.Objective{
//			Name:    "api",
//			Target:  0.999,
//			Runbook: "https://runbooks.example/api",
//			Outcome: "customers can place orders",
//		})
//		fast := m.MustAdd(slo.Objective{
//			Name:    "api-latency",
//			Target:  0.99,
//			Latency: []slo.Threshold{{Max: 300 * time.Millisecond}},
//		})
//		mux := http.NewServeMux()
//		mux.Handle("/slo", m.Handler())
//		mux.Handle("/api/", slo.Middleware(http.NotFoundHandler(), api, fast))
//		srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
//		go func() {
//			stop := make(chan os.Signal, 1)
//			signal.Notify(stop, os.Interrupt)
//			<-stop
//			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//			defer cancel()
//			_ = srv.Shutdown(ctx)
//		}()
//		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
//			log.Fatal(err)
//		}
//		// Stop evaluating, save the snapshot, deliver what is queued: 5s at most.
//		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//		defer cancel()
//		if err := m.Shutdown(ctx); err != nil {
//			log.Print(err)
//		}
//	}
//
// # Objectives and recording
//
// An Objective is a name, a target, a rolling period (30 days by default)
// and an indicator: availability (the caller says whether an event was
// good) or latency (good when at most a threshold; several thresholds make
// several series named "<name>:<threshold>"). Monitor.Add validates it and
// returns a Tracker; Record, RecordN, RecordLatency and RecordLatencies
// count events with one atomic load and one or two atomic adds and
// allocate nothing. On the real clock they read a time the Monitor
// refreshes every 50ms; on any other clock (a clock.Fake in tests) they
// read the clock, so an event recorded right after Advance counts at the
// new time.
//
// # Work that completes later
//
// A queue-backed service should count what the customer saw: each unit of
// work (an order) once, good when it completed within a bound of its
// acceptance, bad when it failed for good or is still not done as the
// bound passes. Tracker.Pending returns a Pending for that: Accept when the
// unit is accepted, Complete when it is done; a unit still pending when
// its bound passes counts bad at that moment, so an outage longer than the
// bound pages while it lasts. Attempts, retries and refusals stay metrics.
//
// # Windows
//
// Events land in 10-second buckets kept for a day, folded lazily into
// minute buckets (a day, or the longest tier window over a day if longer:
// 3 days by default) and hour buckets kept for the period. Every window is
// an exact sum of events, never an average of ratios: a window up to a day
// is exact to 10 seconds (it covers the current partial bucket and whole
// buckets back to its length), a tier window over a day to the minute,
// and the period to the hour at its old edge. Memory: about 470 KB per
// series with the default tiers and period; an evaluation reads whole
// minutes and hours from the coarser buckets (about 15µs per series). On a service younger than its period, Status.Observed
// says how much history there is; budgets and burn rates are those of the
// events that exist, never of imagined good traffic.
//
// # Alerts
//
// DefaultTiers are the workbook's: page at 14.4x over 1h and 5m, page at 6x
// over 6h and 30m, ticket at 3x over 1d and 2h, ticket at 1x over 3d and
// 6h, with windows scaled for periods other than 30 days and named after
// them ("page-1h"; "page-10s" for a one-hour period). A tier holds while
// the error ratio of both its windows is strictly greater than
// BurnRate*(1-Target) (rounded to 12 significant digits, the number the
// generated rules print), the long window holds at least MinEvents events
// (10) and the short one at least MinBadEvents bad events (3), so a few
// failures among a handful of requests cannot page. The objective's page
// alert fires while any page tier holds, its ticket alert while any ticket
// tier holds; the fastest tier that holds is an annotation, never a label,
// so a tier change keeps the alert's identity. The budget being spent
// (Status.BudgetExhausted) is a state, shown on the page and in the
// incident, and notifies nobody. The Monitor evaluates every 10 seconds on
// its own goroutine and whenever Evaluate is called.
//
// # Notifications and incidents
//
// An episode begins when the page or ticket alert starts firing and ends
// when neither fires; it is one Incident, updated as tiers and severities
// change, and sends at most one page and one ticket notification, each
// resolved once (a firing alert is resent every minute as a Repeat, the
// same alert, so Alertmanager keeps it active). Notifications carry the
// labels alertname "SLOBurnRate", objective, severity, source
// "in-process", instance (WithInstance) and the objective's Labels, which
// keep replicas and the rules' alerts (source "rules") apart, and the
// annotations summary, description ("If ..., do: ..., so that ..."),
// runbook_url, tier, incident, the objective's Annotations and, with
// WithRelease, service, version and release (annotations, not labels, so
// an episode spanning a rolling deploy stays one alert); the incident
// records the release it opened under (Incident.Release). An objective's
// Impact hook (for instance (*feature.Feature).Impact) says who the
// failures hurt: called once per evaluation outside the Monitor's locks,
// its text (cut to 300 bytes) is the "impact" annotation, ends the IF
// sentence and is the open incident's Impact; a hook that panics is logged.
// Notifiers (NotifierFunc, Webhook, Alertmanager) each get a bounded queue,
// a goroutine and a rate limiter (1/s, bursts of 20 by default): recording
// and evaluation never wait for them; overflow and failures are counted in
// DeliveryStats and the opskit.slo.notifications metric.
//
// Each incident change is one fsynced line of the JSON-lines incident log
// (version 2 records; version 1 logs stay readable with ReadIncidentLog and
// Incidents). A record torn by a crash is cut before the next append.
// Incidents open at a restart are taken up again. Operators acknowledge an
// incident and add notes (who, when, text) with Ack and Note, or over HTTP
// through IncidentHandler, which refuses cross-site requests, asks an
// audit.Guard's Authorizer for "incident.ack" or "incident.note" and
// appends each attempt to its audit Sink.
//
// # Releases
//
// Every event also counts for a release: the Tracker of Monitor.Add
// records under the process's (WithRelease), and Tracker.ForRelease
// returns a Tracker of the same objective that records under another, such
// as a candidate taking part of the traffic. Each objective counts at most
// MaxReleases (8) releases apart; past that the one whose last event is
// oldest is dropped (never the process's own). Monitor.Releases lists
// them, and Monitor.Verdict compares a candidate with a baseline over the
// same time (since the later of the two began) with release.Compare, a
// sequential test a deploy pipeline may run as often as it likes: go,
// no-go, or not enough data before each release has 500 events (the
// policy is WithVerdictPolicy's). /slo lists each objective's releases
// with their verdicts against the process's release, and
// /slo?objective=X&candidate=Y[&baseline=Z][&format=json] is the verdict
// alone, for pipelines. The events metric carries the release, and Rules
// records each release's error ratio and compares it with the others'.
//
// # Reports
//
// Monitor.Range returns an objective's good and bad events, compliance
// and budget spent between two times: exact sums of the buckets covering
// them, at 10 seconds within the last day, a minute within the minute
// buckets, an hour within the period.
//
// # Restarts and crashes
//
// WithSnapshotFile saves the event history every 10 seconds (at the first
// evaluation after the interval) and on Shutdown, after the evaluation
// loop has stopped; it is restored when objectives are added. A process
// killed with SIGKILL loses the events counted since its last save: at
// most the snapshot interval plus one evaluation interval (20 seconds by
// default). Pending units accepted again after a restart are counted once.
//
// # Fleets
//
// Replicas that share a fleet.Store (WithStore; the PostgreSQL one is in
// module github.com/opskit/opskit/postgres) are one system. Each publishes
// its event history every evaluation and judges the fleet's: Status, the
// page and the alerts read this replica's live counts plus every other
// replica's latest published ones (at most one evaluation interval old),
// each counted once, a stopped replica's for the time it covered, and
// Status.Replicas gives each replica's share. One replica at a time, the
// holder of the lease FleetLease (three evaluation intervals, renewed at
// each), evaluates alerts, notifies and writes incidents to the store's
// log; when it dies another takes over within the lease plus one interval
// (40 seconds by default), takes up the open episode from the log and
// resends its alerts only as Repeats, so the fleet pages once. Fleet
// notifications carry no instance label, so a hand-over keeps an alert's
// identity. Incident ids name the leader that opened them, every record
// the replica that wrote it, and Incident.Replicas the replicas whose own
// events burned; Incidents, Ack, Note and the handlers work on any replica.
// Pending units are counted once for the fleet, by the leader, from what
// every replica accepted and completed. Monitor.Leader tells other code
// whether this replica does the fleet's single-replica work.
//
// The Monitor exports opskit.slo.events (good and bad per objective and
// release, zero from the start), which the OpenTelemetry Prometheus
// exporter shows as opskit_slo_events_total{objective, good, release}. Rules generates recording and
// alerting rules over that counter summed across replicas, with the same
// alert shape and the same arithmetic as the in-process alerts.
//
// # Concurrency, defaults and errors
//
// Monitor, Tracker and Pending are safe for concurrent use. Shutdown stops
// the goroutines and waits for them, but never past its context; it then
// says what it left undone. Notifiers are never called with a lock held.
// Invalid objectives are a *ValidationError naming the field and value
// (errors.Is ErrInvalidObjective); duplicates are ErrDuplicate; a damaged
// snapshot is logged and moved aside so the service still starts. Every
// error message starts with "slo: ".
package slo
