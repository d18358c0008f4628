// Package slo tracks service level objectives inside the service: exact
// error budgets over rolling windows, the SRE workbook's multi-window
// multi-burn-rate alerts that say IF, DO and SO THAT, incidents that write
// themselves to an auditable log, and Prometheus rules that compute the same
// objectives across a fleet.
//
// A complete program:
//
//	package main
//
//	import (
//		"log"
//		"net/http"
//		"time"
//
//		"github.com/opskit/opskit/slo"
//	)
//
//	func main() {
//		m, err := slo.New(
//			slo.WithIncidentLog("data/incidents.jsonl"),
//			slo.WithSnapshotFile("data/slo.json", time.Minute),
//			slo.WithNotifier(slo.Alertmanager("http://127.0.0.1:9093", slo.AlertmanagerOptions{})),
//		)
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer m.Close()
//		api := m.MustAdd(slo.Objective{
//			Name:    "api",
//			Target:  0.999,
//			Runbook: "https://runbooks.internal/api",
//			Outcome: "customers can place orders",
//		})
//		fast := m.MustAdd(slo.Objective{
//			Name:    "api-latency",
//			Target:  0.99,
//			Latency: []slo.Threshold{{Max: 300 * time.Millisecond}},
//		})
//		mux := http.NewServeMux()
//		mux.Handle("/api/", slo.Middleware(http.NotFoundHandler(), api, fast))
//		mux.Handle("/slo", m.Handler())
//		log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
//	}
//
// # Objectives and recording
//
// An Objective is a name, a target, a rolling period (30 days by default)
// and an indicator: availability (the caller says whether an event was
// good) or latency (good when at most a threshold; several thresholds make
// several series named "<name>:<threshold>"). Monitor.Add validates it and
// returns a Tracker; Record, RecordN, RecordLatency and RecordLatencies
// count events with one atomic load and one or two atomic adds into a ring
// of 10-second buckets for the last hour, and allocate nothing. With the
// real clock they read a time the Monitor refreshes every 50ms instead of
// the system clock. The buckets fold lazily into minute buckets (a day)
// and hour buckets (the period), so every window is an exact sum of events,
// never an average of ratios, at the resolution of its buckets.
//
// # Alerts
//
// DefaultTiers are the workbook's: page at 14.4x over 1h and 5m, page at 6x
// over 6h and 30m, ticket at 3x over 1d and 2h, ticket at 1x over 3d and 6h,
// with windows scaled for periods other than 30 days. A tier fires while
// both windows burn at least its rate and the long window holds MinEvents
// events (10 by default); while a tier fires, slower tiers that would fire
// are Suppressed. budget-exhausted fires when the period's budget is spent.
// Tiers can be replaced (Objective.Tiers) or turned off
// (Objective.DisableTiers); a tier that could never fire (burn rate above
// 1/(1-target)) is a validation error. The Monitor evaluates every 10
// seconds on its own goroutine and whenever Evaluate is called.
//
// # Notifications and incidents
//
// Notifiers (NotifierFunc, Webhook, Alertmanager) each get a bounded queue,
// a goroutine and a rate limiter (1/s, bursts of 20 by default): recording
// and evaluation never wait for them; overflow and failures are counted in
// DeliveryStats and the opskit.slo.notifications metric. A firing alert is
// resent every minute (Repeat) so Alertmanager keeps it active. Each alert
// that fires opens an Incident; a new peak (10% higher burn) updates it and
// the alert clearing resolves it, each change one fsynced line of the
// JSON-lines log (read it with ReadIncidentLog and Incidents). Incidents
// open at a restart are taken up again.
//
// # Fleets
//
// The Monitor exports opskit.slo.events (good and bad per objective), which
// the OpenTelemetry Prometheus exporter shows as opskit_slo_events_total
// {objective, good}. Rules generates recording and alerting rules over that
// counter summed across replicas, equivalent to the in-process alerts.
//
// # Concurrency, defaults and errors
//
// Monitor and Tracker are safe for concurrent use. Close stops the
// goroutines and waits for them, saves the snapshot and closes the log.
// Notifiers are never called with a lock held. Invalid objectives are a
// *ValidationError naming the field and value (errors.Is ErrInvalidObjective);
// duplicates are ErrDuplicate; a damaged snapshot is logged and moved aside
// so the service still starts.
package slo
