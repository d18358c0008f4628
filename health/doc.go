// Package health serves Kubernetes-style probes (/livez, /readyz,
// /startupz, /healthz) from a set of checks, with timeouts that hold,
// panics contained, and a drain step for graceful shutdown.
//
// A complete program:
//
//	package main
//
//	import (
//		"context"
//		"database/sql"
//		"log"
//		"net/http"
//		"os/signal"
//		"syscall"
//		"time"
//
//		"github.com/opskit/opskit/health"
//	)
//
//	func main() {
//		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
//		defer stop()
//		var db *sql.DB // your pool, opened elsewhere
//
//		checker, err := health.New()
//		if err != nil {
//			log.Fatal(err)
//		}
//		checker.MustRegister(
//			health.Check{Name: "db", Func: health.Ping(db), Interval: 5 * time.Second,
//				Probes: health.Readiness},
//			health.Check{Name: "goroutines", Func: health.Goroutines(10000),
//				Probes: health.Liveness},
//		)
//		if err := checker.Start(); err != nil {
//			log.Fatal(err)
//		}
//		defer checker.Close()
//
//		mux := http.NewServeMux()
//		checker.Mount(mux) // /livez /readyz /startupz /healthz and /<probe>/<check>
//		srv := &http.Server{Addr: ":8080", Handler: mux}
//		go func() {
//			<-ctx.Done()
//			// readiness 503 for 5s so the load balancer notices, then shut down
//			_ = checker.DrainAndShutdown(context.Background(), srv, 5*time.Second)
//		}()
//		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
//			log.Fatal(err)
//		}
//	}
//
// # Checks and probes
//
// A [Check] is a name and a func(ctx) error, with a timeout, an optional
// background interval, a criticality and the probes it belongs to.
// Readiness does not include liveness checks unless a check says it
// belongs to both. /healthz reports every check. Liveness and readiness
// fail (with a gate named "started") until the startup checks have passed
// once; [Checker.Drain] adds a failing gate named "shutdown" to readiness.
//
// # HTTP
//
// The answers follow the Kubernetes conventions: "ok" when healthy; with
// ?verbose, or whenever the probe fails, one line per check ("[+]db ok",
// "[-]db failed: reason withheld", "[!]cache warn: ...", "[+]db excluded:
// ok") and a last line "readyz check passed" or "readyz check failed".
// ?exclude=NAME (repeatable) leaves a check out; a name that matches
// nothing is reported in the body. /readyz/NAME answers for one check.
// With an Accept header naming JSON the body is application/health+json:
// a status of pass, warn or fail and a checks object. pass and warn answer
// 200; fail and "no result yet" answer 503. Failure reasons are shown only
// to verbose requests the details authorizer allows (by default, only from
// loopback).
//
// # Concurrency
//
// All methods are safe for concurrent use. Probes never wait on a lock held
// while a check runs: background results are read from an immutable
// snapshot, and an on-demand check has at most one run in flight, shared
// by every probe that asks meanwhile. A run is cut off at its timeout by a
// timer even if the check ignores its context; the check's goroutine keeps
// the in-flight slot until it returns, so a hung check never piles up
// goroutines. Listeners are called outside every lock. [Checker.Close]
// waits for every goroutine the Checker started.
//
// # Defaults
//
// Timeout [DefaultTimeout] (1s); Interval 0 (run when probed); critical;
// Probes [Readiness]. A background result older than 3 intervals plus the
// timeout counts as failed. Options default to otel.GetMeterProvider(),
// slog.Default(), the wall clock and [LoopbackOnly].
//
// # Metrics
//
// opskit.health.check.duration (histogram, s), opskit.health.check.status
// (gauge, 1 for the current status of each check), opskit.health.check.status_changes
// (counter) and opskit.health.draining (gauge). Collection reads stored
// results; it never runs a check.
//
// # Errors
//
// Register returns errors matching [ErrInvalid] (naming the field and
// value), [ErrDuplicate] or [ErrClosed]; Unregister [ErrNotFound]. Run
// failures match [ErrTimeout], [ErrStale], [ErrClosed], or are a
// [*PanicError]; the gates report [ErrNotStarted] and [ErrShuttingDown].
package health
