// Package feature counts which features of a product are used, by how many
// tenants, whether each use worked, for whom it failed and why, and which
// features are rarely or never used, at a cost close to a bare atomic add.
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
//		"github.com/opskit/opskit/feature"
//	)
//
//	func main() {
//		addr := flag.String("addr", "127.0.0.1:8080", "listen address")
//		flag.Parse()
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
//		defer stop()
//
//		reg, err := feature.New(feature.WithDir("data/features"))
//		if err != nil {
//			log.Fatal(err)
//		}
//		since := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
//		export := reg.MustDefine("csv-export", "team-reports", since, "Export any table as CSV")
//		reg.MustDefine("fax", "team-legacy", since, "Send an invoice by fax")
//
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /export", func(w http.ResponseWriter, r *http.Request) {
//			ctx := reg.WithTenant(r.Context(), r.Header.Get("X-Tenant"))
//			if f := r.URL.Query().Get("format"); f != "" && f != "csv" {
//				export.FailWith(ctx, "unsupported format "+f) // a failed use, with its reason
//				http.Error(w, "only csv", http.StatusBadRequest)
//				return
//			}
//			export.Use(ctx) // a use that worked
//			w.Write([]byte("ok\n"))
//		})
//		mux.Handle("GET /features", reg.Handler(feature.Policy{}))
//		srv := &http.Server{Addr: *addr, Handler: mux}
//		go func() {
//			<-ctx.Done() // Ctrl-C: stop serving, then save the last snapshot
//			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//			defer cancel()
//			srv.Shutdown(shutdown)
//		}()
//		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
//			log.Fatal(err)
//		}
//		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//		defer cancel()
//		if err := reg.Shutdown(shutdown); err != nil {
//			log.Print(err)
//		}
//	}
//
// # The catalog
//
// Registry.Define declares a feature with its owner, ship date and
// description and returns a *Feature handle; the declared catalog is the
// denominator of "never used". Names must be non-empty, unique, without
// control characters or surrounding space. Registry.UseName counts by name:
// names that are not declared go to a bounded LRU table and are reported as
// catalog drift.
//
// # The hot path: uses and their outcomes
//
// Feature.Use (a use that worked), Feature.Fail (one that failed),
// Feature.Done (either, with an optional latency) and Feature.UseN do one
// atomic load of the registry's coarse clock and one atomic add into the
// current minute's slot (uses and failures share one word) and, when the
// context carries a tenant (Registry.WithTenant), check that day's tenant
// bitmap and membership filter and write them only the first time the
// tenant is seen that day. They take no lock, read no clock, touch no map
// or channel, never allocate, block or log, and never call OpenTelemetry:
// with a tenant on the context, the ok path costs 1.84 times a bare atomic
// add and the failed path 2.19 times, with no allocation
// (BenchmarkFeatureUseRatio in the benchmarks module: the fastest blocks
// of 1,000 calls, interleaved with blocks of atomic adds, on a loaded
// 2-core host: 10.0 and 11.9 ns against 5.4 ns; the same in its serial and
// parallel runs, whose averages over all blocks swing with the load). The context WithTenant returns is recognised by its type, so
// finding the tenant costs no walk up the context chain. Tenant ids are
// hashed once per request with SipHash-2-4 under a secret key; raw ids are
// never stored.
//
// Feature.FailWith also records why: a bounded table per feature of at most
// MaxReasons normalised reasons (MaxReasonLen bytes; digits-bearing words
// become '#', credentials masked) with counts, first and last seen and the
// trace ids of the OpenTelemetry spans in the contexts. It takes the
// feature's reason lock: 15 to 40 times the cost of Fail, no allocation for
// a known reason (BenchmarkFeatureFailWith). Feature.Track sends every outcome to a
// func(good bool) as well — an slo objective's recorder — so a feature's
// failures burn an error budget and page.
//
// The coarse clock is advanced by the registry's goroutine at every minute
// boundary, and by every read (Stats, Report, Save, metric collection) before
// it reads, so a use racing with a minute boundary may be counted in the
// neighbouring minute, never lost. The coarse clock is kept on the wall
// clock only: with any other clock (WithClock, a *clock.Fake in tests)
// every use reads the clock under the registry's lock, so a use right after
// Advance counts at the new time.
//
// # Kill switch
//
// Feature.Enabled(ctx) asks whether to serve the feature: while it is on,
// one atomic load (2.5 ns, half an atomic add; no allocation; it counts nothing — record the outcome
// with Use, Done or Fail as usual). Feature.Switch turns it off or on
// (Switch{On, Actor, Why, Trial}); every switch is first written to the
// audit sink of WithAudit (action SwitchAction, "feature.switch", target
// the feature's name, detail "off (trial 10 %): why"), and a switch whose
// record cannot be written is not made. While a feature is off, Enabled
// returns false and counts the call as a failed use with the reason
// "switched off" — an objective fed through Track keeps seeing refused
// requests as bad, so switching off cannot hide the signal — except for
// the Trial share of calls (at most MaxTrial, spread evenly) that it lets
// through so recovery can be observed: outcomes recorded while off are the
// trial's results (SwitchState.TrialOK, TrialFailed), which a remediation
// reads from Feature.Switched to decide that the cause has gone.
// Registry.SwitchHandler switches over HTTP (POST name, on, why, trial)
// behind an audit.Guard for SwitchAction, audited with the authenticated
// actor. The switch is kept in the snapshot, so a restart keeps it, and
// reports show switched-off features after the failing ones ("switched off
// by automation at 2025-03-12 10:02 UTC: why").
//
// # Impact
//
// Feature.Impact is a live sentence for alerts and incidents — "orders.bulk
// is failing for 37 ±1 tenants (12 % of its users) since 10:02 UTC; 180
// failed uses; top reason: …" — empty when the feature has not failed in
// the last 15 minutes. "since" is the start of the current failing episode
// (the first failure after 15 minutes without one), kept across midnight
// and restarts while failures continue; reports use the same start.
//
// # Time windows and estimates
//
// Uses and failures are kept per minute for the last hour (live rates,
// Stats) and per UTC day for KeepDays (90) days, with distinct tenants and
// distinct failing tenants per day, first and last seen (to the minute) and
// a total that outlives the window. Distinct tenants are estimated by linear
// counting over 4,096 bits; every report figure carries its standard error:
// about 1% up to 1,000 tenants, 1.3% at 4,096 and 2% at 12,000. Past about
// 15,000 tenants in one window the error grows fast, and from about 20,000
// the figure is marked saturated: measured at 25,000 it is a few per cent
// high on average and single figures can be 25% off (it is not a lower
// bound). Bitmaps of several days or instances are ORed, so a tenant seen on
// two days or by two instances is counted once.
//
// # Is tenant X affected?
//
// For the last LookupDays (8) days each feature also keeps, per day, two
// split-block Bloom filters (8 KiB each) of tenant hashes: who used it and
// for whom it failed. Registry.Tenant hashes a raw tenant id with the key
// and answers per feature and day: "no" (certain), "yes" or "probably
// (p %)". The chance that a tenant who did not use a feature matches
// anyway (FilterFalsePositive, measured): under 0.001 % at 1,000 tenants
// per feature-day, 0.37 % at 5,000, about 50 % at 20,000 — past 5,000
// tenants per feature-day a match says less and the answer says so.
// Registry.SupportHandler serves it (HTML with a form, or JSON) behind an
// audit.Guard for SupportAction ("support.read"), with one audit record per
// lookup whose target is the keyed hash, never the raw id.
//
// # Backfill
//
// Registry.Import adds a day of usage (uses, failures, tenant ids) for any
// of the 90 days kept, so history from logs, or months of generated
// history to try reports on, can be loaded from outside the module; a
// *clock.Fake given to WithClock and advanced day by day works too.
//
// # Snapshots and fleets
//
// With WithDir the registry restores DIR/feature-INSTANCE.snap at start
// (counts attach when each feature is defined), saves it every snapshot
// interval (5 s by default) and on Shutdown, atomically (files 0600,
// directories 0700): a SIGKILL loses at most the uses, outcomes and reasons
// of the last snapshot interval plus the time one save takes (tested with a
// real process killed by SIGKILL). Each instance writes only its own file,
// and holds a lock on its name in the directory, so a second process with
// the same WithInstance name (default: the host name) fails at New instead
// of overwriting the first one's snapshot; reports merge this instance's
// live counts with every other instance's file (counts summed, bitmaps
// ORed), so nothing is counted twice. Instances sharing a directory share
// the tenant key kept in DIR/feature-tenant.key (or given with
// WithTenantKey): processes starting at once on a fresh directory agree on
// one key (it is linked into place, which only the first can do; the
// others read it). A corrupt own snapshot is moved aside to .corrupt and
// logged; an unreadable other instance is named in the report's warnings.
//
// Replicas that share no disk share a fleet.Store instead (WithStore, for
// example the PostgreSQL store of github.com/opskit/opskit/postgres): the
// tenant key is the store's (FleetKeyName), created once by the first
// replica to ask (a replica whose directory already holds a key proposes
// that one, so turning the store on keeps its history consistent; a
// replica whose directory key differs from the fleet's keeps its history
// and its reports warn that a tenant seen before and after may count
// twice until that history leaves the period); each replica publishes its snapshot under its instance
// name (kind FleetKind) every snapshot interval and on Shutdown, restores
// it from the store at start, and takes up kill switches made on other
// replicas at each publish (within one snapshot interval). Report,
// Handler, Stats, Tenant and Impact on any replica merge every replica's
// state: uses and failures are the fleet's exact sums, and distinct
// tenants are estimated over the ORed bitmaps, so a tenant seen by three
// replicas counts once, within the stated error. A store that fails after
// start is logged and shown as a warning on reports; local counts are kept
// and published at the next success. Instance names must differ: a replica
// that finds its row overwritten by another process using the same name
// logs it and says so on its reports.
//
// The per-replica metric opskit.feature.tenants (Prometheus:
// opskit_feature_tenants) cannot be added up or maxed across replicas:
// tenants served by several replicas are counted by each, so on a
// three-replica service summing over-counted the fleet's distinct tenants
// by 49 % and taking the max under-counted them by 49 %. The fleet figure
// comes from /features (Report) of any replica with a store configured.
//
// # Reports
//
// Registry.Report compares a period of Policy.Days days with the period
// before: the days ending today, or with Policy.End the whole UTC days
// before End's day (End on Monday 00:00 UTC and 7 days: Monday to Sunday
// of the week before), with every figure as of that end and the failing
// features those of its last day. Every format opens with the headline — "N % of features rarely or
// never used", rarity relative to the period's active tenants (default:
// fewer than 1 % of them, and always fewer than 3; Policy.RareShare,
// Policy.RareTenants) — and then the features failing now: those whose
// failure ratio or failing tenants rose today against yesterday ("orders.bulk
// is failing for 37 ±0.4 tenants, 12 % of its users (…), since 10:02 UTC;
// top reason: …"). Then a summary, every feature (failing ones first; uses,
// failures, change, tenants and failing tenants each with its error,
// adoption, first and last seen, the trend), never used, rarely used or not
// used in the period (a feature last used before the period is "not used in
// the period", not "never used"), declining, new, catalog drift and a method
// note. The trend is the change per 30 days fitted over the weekly uses of
// the last 8 complete weeks, so a fall of 70 % a month ago, flat since, is
// "down", and a steady decline of 44 % a month reads "down −44 %/month"
// rather than the −12 % of one week against the week before. Report.Write
// renders HTML (self-contained, inline SVG sparklines, every value escaped
// by html/template), Markdown (escaped), CSV (the headline and failing rows
// first, with as many cells as the table; cells that a spreadsheet would
// evaluate are prefixed with an apostrophe) and JSON. Registry.Handler serves
// it with ?format= and ?period=; WithReportFile writes it on a schedule.
//
// # Metrics
//
// Observable instruments, read at collection time: opskit.feature.uses
// ({use}, per feature, zero for unused ones), opskit.feature.tenants
// ({tenant}, per feature and window 1d, 7d, 30d: this replica's tenants
// only; see above for the fleet's) and opskit.feature.drift ({use}).
//
// # Concurrency
//
// Every method is safe for concurrent use. The registry owns one goroutine,
// started by New and stopped by Shutdown, which waits for it until its
// context ends. WithOnSave callbacks run on that goroutine with no lock
// held. Shut the HTTP server down first, then the registry, so the last
// uses reach the final snapshot.
//
// # Defaults
//
// The wall clock, slog.Default(), otel.GetMeterProvider(), no directory and
// no store (no persistence, a random tenant key), no audit sink (switches
// fail), snapshots every 5 seconds, 256 drift
// names, reports over 7 days with a 30-day grace period, rarely used under
// 1 % of the active tenants and always under 3 (10 uses without tenants),
// declining at −30 % a month from at least 20 uses, failing from 5
// failures a day.
//
// # Errors
//
// Bad arguments wrap ErrInvalid and name the field and value; a second
// Define of a name wraps ErrDuplicate; Define after Shutdown wraps ErrClosed; a
// snapshot that fails its checksum or does not parse is a *CorruptError
// matching ErrCorrupt.
package feature
