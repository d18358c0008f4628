// Package remedy runs actions when an objective's alert fires — switch a
// failing feature off, shed a tenant, fail over — and records what it did,
// so that some incidents need no human and the rest reach one with the
// first step already taken.
//
// A Notifier is an slo.Notifier that wraps the real one (the pager, the
// webhook, Alertmanager). For the first firing notification of an
// episode it runs the actions of the rules that name the alert's
// objective, then rewrites the alert's DO text to say what was done
// automatically and what is left to a human, and passes the alert on:
//
//	DO: done automatically: switch off checkout (10:02:10 UTC); undone
//	automatically once a trial of 5% of calls passes, checked every 10m0s.
//	Left to a human: restore the payments client
//
// Every run — done, failed, skipped by a limit, or what a dry run would
// have done — is a note in the alert's incident (slo.Monitor.Note, by
// "automation") and an audit record (actions remedy.run and remedy.undo,
// actor "automation"). A Rule caps each action's runs per hour and per
// incident; a Repeat notification never runs actions again; DryRun runs
// nothing and says "would switch off checkout" instead.
//
// # Not hiding the signal, not flapping
//
// SwitchOff is the ready-made action for a feature's kill switch
// (feature.Feature.Switch). A switched-off feature's refused calls still
// count as failed uses, so the objective the feature feeds keeps seeing
// them as bad: the page does not go quiet because automation acted. For
// the same reason the alert is no recovery signal — it may resolve because
// the switch stopped the failures, or keep firing on the refusals — so an
// action is undone only after its own, independent signal passes: a probe
// of the failing dependency, or the feature's trial share (a few calls let
// through) succeeding. The signal is asked once every Rule.CheckEvery (10
// minutes by default), whether or not the alert still fires, so a
// persisting cause is asked at most six times an hour and the switch does
// not flap. A trial passes only on the outcomes since the previous check,
// so the feature comes back one to two checks after the cause ends.
//
// Automation undoes only what it did: a feature a person switched off
// first, or switched since, is left alone (ErrAlready). A switch of
// automation's found in effect though this process did not make it — it
// outlived a restart, or the previous leader made it — is taken up within
// a CheckEvery and undone after recovery like one made here.
//
// # Fleets
//
// Only the leader of a fleet (slo.Monitor.Leader, slo.WithStore) notifies,
// so only the leader runs actions; recovery checks and undos run on the
// leader too. A new leader resends an open episode's alerts as Repeats,
// which run nothing again, and takes up the previous leader's switches
// (the feature registry shares them through its fleet store).
//
// # In the kit
//
// remedy joins slo (alerts, incidents) and feature (switches), which do
// not import each other; neither imports remedy. Generic actions need no
// feature: an Action is a name and Do, Undo and Recovered funcs.
//
// # Concurrency, defaults, errors
//
// Do runs on the notifier goroutine of the Monitor, before the alert is
// passed on and within the notification's 10 seconds; Recovered and Undo
// run on the clock's timer, bounded by 10 seconds each. None is called
// under a lock of this package; a panic is a failed run, recorded, and
// does not stop the notifier. Shutdown stops the checks and waits for one
// in flight until its context ends. Metrics (WithMeterProvider), read at
// collection time: opskit.remedy.runs and opskit.remedy.undos by
// objective, action and outcome (done, failed, dry_run, skipped), and
// opskit.remedy.in_effect. Rule zero fields mean: Severity page,
// PerHour 2, PerEpisode 1, CheckEvery 10 minutes. Bad rules are refused by
// Add with an error naming the field and its value. A failed Undo is
// recorded and tried again at the next check. An audit record or incident
// note that cannot be written is logged; it does not undo what was done
// (SwitchOff's switch itself is made only once feature's own audit record
// is written).
//
// A complete program: a failing payments dependency pages, the checkout
// feature is switched off with a 5 % trial, and switched back on once the
// trial succeeds.
//
//	package main
//
//	import (
//		"context"
//		"flag"
//		"log"
//		"net/http"
//		"path/filepath"
//		"time"
//
//		"github.com/opskit/opskit/audit"
//		"github.com/opskit/opskit/feature"
//		"github.com/opskit/opskit/remedy"
//		"github.com/opskit/opskit/slo"
//	)
//
//	func main() {
//		addr := flag.String("addr", "127.0.0.1:8080", "listen address")
//		dir := flag.String("data", "data", "where the audit trail is kept")
//		flag.Parse()
//		started := time.Now()
//		paymentsDown := func() bool { return time.Since(started) < 20*time.Minute } // a simulated outage
//
//		key, err := audit.LoadKey(filepath.Join(*dir, "audit.key"))
//		if err != nil {
//			log.Fatal(err)
//		}
//		trail, err := audit.Open(filepath.Join(*dir, "audit.jsonl"), key)
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer trail.Close()
//		features, err := feature.New(feature.WithAudit(trail))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer features.Shutdown(context.Background())
//		checkout := features.MustDefine("checkout", "team-shop", time.Now(), "Pay for the cart")
//
//		pager := slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
//			log.Printf("%s %s %s: DO: %s", a.Objective, a.Severity, a.State, a.Do)
//			return nil
//		})
//		rem, err := remedy.New(pager, remedy.WithAudit(trail))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer rem.Shutdown(context.Background())
//		err = rem.Add(remedy.Rule{Objective: "checkout", Actions: []remedy.Action{
//			remedy.SwitchOff(checkout, remedy.Recovery{Trial: 0.05}),
//		}})
//		if err != nil {
//			log.Fatal(err)
//		}
//		mon, err := slo.New(slo.WithNotifier(rem))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer mon.Shutdown(context.Background())
//		rem.Attach(mon)
//		tr := mon.MustAdd(slo.Objective{Name: "checkout", Target: 0.99, Runbook: "restore the payments client"})
//		checkout.Track(tr.Record) // failures and refusals of checkout burn its budget
//
//		http.HandleFunc("POST /checkout", func(w http.ResponseWriter, r *http.Request) {
//			if !checkout.Enabled(r.Context()) {
//				http.Error(w, "checkout is switched off for now", http.StatusServiceUnavailable)
//				return
//			}
//			if paymentsDown() {
//				checkout.FailWith(r.Context(), "payments: 502")
//				http.Error(w, "payments unavailable", http.StatusBadGateway)
//				return
//			}
//			checkout.Use(r.Context())
//			w.WriteHeader(http.StatusCreated)
//		})
//		log.Fatal(http.ListenAndServe(*addr, nil))
//	}
package remedy
