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
//		"flag"
//		"log"
//		"net/http"
//		"os"
//		"os/signal"
//		"syscall"
//		"time"
//
//		"github.com/opskit/opskit/health"
//	)
//
//	func main() {
//		addr := flag.String("addr", "127.0.0.1:8080", "address to serve on")
//		flag.Parse()
//		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
//
//		mux := http.NewServeMux()
//		checker.Mount(mux) // /livez /readyz /startupz /healthz and /<probe>/<check>
//		srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
//		stopped := make(chan struct{})
//		go func() {
//			defer close(stopped)
//			<-ctx.Done()
//			down, cancel := context.WithTimeout(context.Background(), 20*time.Second)
//			defer cancel()
//			// readiness 503 for 3s so the load balancer notices, then shut down
//			if err := checker.DrainAndShutdown(down, srv, 3*time.Second); err != nil {
//				log.Print(err)
//			}
//			if err := checker.Shutdown(down); err != nil {
//				log.Print(err) // names a check that ignored its context
//			}
//		}()
//		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
//			log.Fatal(err)
//		}
//		<-stopped
//	}
//
// # Checks and probes
//
// A [Check] is a name and a func(ctx) error, with a timeout, an optional
// background interval, a criticality and the probes it belongs to.
// Readiness does not include liveness checks unless a check says it
// belongs to both. /healthz reports every check.
//
// Readiness fails, through a gate named "started", until the startup
// checks have passed once; [Checker.Drain] closes a gate named "shutdown"
// on readiness. Liveness has no startup gate: /livez passes while the
// service starts, as the kube-apiserver's does, so a pod without a
// startupProbe is not restarted in a loop while its startup checks run.
// Point the startupProbe at /startupz. Gates cannot be excluded
// (/readyz?exclude=shutdown still fails while draining), and
// /readyz/started and /readyz/shutdown answer for them alone.
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
// 200; fail and "no result yet" answer 503. health serves no HTML; every
// answer carries X-Content-Type-Options: nosniff and Cache-Control: no-store.
//
// Probes answer anyone who can reach them, so a request costs little
// whatever it asks: a query string past [MaxQueryBytes] or
// [MaxQueryParams] answers 400 before it is parsed, and excludes are
// matched in O(n log k) for n checks and k excludes.
//
// # Failure reasons
//
// Reasons are shown only to verbose requests the details policy allows.
// By default that is the local host: a loopback peer with no forwarding
// header (Forwarded, X-Forwarded-For, X-Real-IP, Via and the like), since
// behind a sidecar or reverse proxy on the same host every caller looks
// local. [WithTrustedProxies] lets a request through the listed proxies
// count as local when the client they name is loopback;
// [WithDetailsAuthorizer] hands the decision to an [audit.Authorizer]
// (asked for [DetailsAction]) instead. Shown reasons pass through a
// filter that masks URL passwords and password= values, and the built-in
// checks never put a password in their errors.
//
// # Concurrency
//
// All methods are safe for concurrent use. Probes never wait on a lock held
// while a check runs: background results are read from an immutable
// snapshot, and an on-demand check has at most one run in flight, shared
// by every probe that asks meanwhile. A run is cut off at its timeout by a
// timer even if the check ignores its context; the check's goroutine keeps
// the in-flight slot until it returns, so a hung check never piles up
// goroutines. Listeners are called outside every lock; one that panics
// is logged and does not stop the others. A check that panics or calls
// runtime.Goexit fails that run and runs again next time.
//
// # Shutdown
//
// [Checker.Shutdown] stops the background loops, cancels every run and
// waits for the Checker's goroutines until its context ends; then it
// returns an error naming the checks that ignored their context (their
// goroutines end when they return). From then on every probe fails with
// [ErrClosed]. [Checker.Close] is Shutdown bounded by the longest check
// timeout. A service shuts down in this order: [Checker.DrainAndShutdown]
// (readiness fails, the load balancer notices, the HTTP server stops), then
// the components the checks call, then Checker.Shutdown.
//
// # Defaults
//
// Timeout [DefaultTimeout] (1s); Interval 0 (run when probed); critical;
// Probes [Readiness]. A background result older than 3 intervals plus the
// timeout counts as failed. Options default to otel.GetMeterProvider(),
// slog.Default(), the wall clock and the local-host details policy with no
// trusted proxies. Time is read from the [clock.Clock] given to
// [WithClock]; on a fake clock, intervals, timeouts, staleness and the
// drain delay all follow the test's Advance.
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
// Every message starts with "health: ".
package health
