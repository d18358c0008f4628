// Package feature counts which features of a product are used, by how many
// tenants, and which are never used, at a cost close to a bare atomic add.
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
//			export.Use(reg.WithTenant(r.Context(), r.Header.Get("X-Tenant")))
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
// # The hot path
//
// Feature.Use and Feature.UseN do one atomic load of the registry's coarse
// clock, one atomic add into the current minute's slot and, when the context
// carries a tenant (Registry.WithTenant), one atomic OR into that day's
// 4096-bit tenant bitmap (skipped when the bit is already set). They take no
// lock, read no clock, touch no map or channel, never allocate, block or log,
// and never call OpenTelemetry. Tenant ids are hashed once per request with
// SipHash-2-4 under a secret key; raw ids are never stored.
//
// The coarse clock is advanced by the registry's goroutine at every minute
// boundary, and by every read (Stats, Report, Save, metric collection) before
// it reads, so a use racing with a minute boundary may be counted in the
// neighbouring minute, never lost. The coarse clock is kept on the wall
// clock only: with any other clock (WithClock, a *clock.Fake in tests)
// every use reads the clock under the registry's lock, so a use right after
// Advance counts at the new time.
//
// # Time windows and estimates
//
// Uses are kept per minute for the last hour (live rates, Stats) and per UTC
// day for KeepDays (90) days, together with distinct tenants, first and last
// seen (to the minute) and a total that outlives the window. Distinct tenants
// are estimated by linear counting: the relative standard error is about 1%
// up to 1,000 tenants, 1.3% at 4,096 and 2% at 12,000; past about 20,000
// distinct tenants in one window the figure is a lower bound, marked as
// saturated. Bitmaps of several days or instances are ORed, so a tenant seen
// on two days or by two instances is counted once.
//
// # Snapshots and fleets
//
// With WithDir the registry restores DIR/feature-INSTANCE.snap at start
// (counts attach when each feature is defined), saves it every snapshot
// interval and on Shutdown, atomically (files 0600, directories 0700). Each instance writes only its own file;
// reports merge this instance's live counts with every other instance's
// file (counts summed, bitmaps ORed), so nothing is counted twice. Instances
// sharing a directory must have distinct WithInstance names (default: the
// host name) and share the tenant key kept in DIR/feature-tenant.key (or
// given with WithTenantKey). A corrupt own snapshot is moved aside to
// .corrupt and logged; an unreadable other instance is named in the
// report's warnings.
//
// # Reports
//
// Registry.Report compares a period of Policy.Days days with the period
// before: a summary (declared, used, rarely used, never used, with
// percentages), every feature (uses, change, tenants, adoption, first and
// last seen, daily trend), never used, rarely used, declining, new, catalog
// drift and a method note. Report.Write renders HTML (self-contained, inline
// SVG sparklines, every value escaped by html/template), Markdown (escaped),
// CSV (cells that a spreadsheet would evaluate are prefixed with an
// apostrophe) and JSON. Registry.Handler serves it with ?format= and
// ?period=; WithReportFile writes it to a file on a schedule.
//
// # Metrics
//
// Observable instruments, read at collection time: opskit.feature.uses
// ({use}, per feature, zero for unused ones), opskit.feature.tenants
// ({tenant}, per feature and window 1d, 7d, 30d) and opskit.feature.drift
// ({use}).
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
// The wall clock, slog.Default(), otel.GetMeterProvider(), no directory (no
// persistence, a random tenant key), snapshots every minute, 256 drift
// names, reports over 7 days with a 30-day grace period, rarely used under 3
// tenants (10 uses without tenants), declining at a 30% fall from at least
// 20 uses.
//
// # Errors
//
// Bad arguments wrap ErrInvalid and name the field and value; a second
// Define of a name wraps ErrDuplicate; Define after Shutdown wraps ErrClosed; a
// snapshot that fails its checksum or does not parse is a *CorruptError
// matching ErrCorrupt.
package feature
