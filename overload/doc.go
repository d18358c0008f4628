// Package overload protects a service from its own overload with an
// adaptive concurrency limit. Past its capacity a service that admits
// everything makes every request wait, and latency climbs for all; a
// limiter that refuses the excess before the work starts keeps the work it
// admits as fast as when unloaded, and keeps the service's goodput near
// its capacity.
//
// The limit is not configured but found: it follows the latency of the
// work that finishes (a gradient against the unloaded latency, which a
// short probe at the minimum limit re-measures every 30 s) and drops
// (timeouts, downstream refusals), in the family of Netflix's
// concurrency-limits and Envoy's adaptive concurrency filter. Work has a
// Priority: under overload Background is refused first, then Normal, then
// Critical; Exempt work (health probes, /metrics) is never refused, so a
// busy replica still answers its probes and still shows its overload.
//
// Two ways in: Limiter.Handler, an http.Handler middleware that answers a
// refused request 503 Service Unavailable with Retry-After (probe paths
// exempt by default, see DefaultPriority), and Acquire with
// Permit.Release or Permit.Drop for any other work:
//
//	p, ok := limiter.Acquire(overload.Normal)
//	if !ok {
//		return errBusy // refused before the work started
//	}
//	defer p.Release()
//
// The admit path allocates nothing and costs about what a buffered-channel
// semaphore does (one compare-and-swap and a clock read; on the real clock
// busy limiters time only a sample of their permits). Metrics
// (opskit.overload.limit, .inflight, .admitted and .shed by priority) are
// read at collection time. A Limiter owns no goroutine; Close only
// unregisters its metrics.
//
// In the kit, overload is a leaf package like health: it imports only the
// public clock, and meets the rest through plain values (its handler wraps
// any http.Handler; its metrics go to any metric.MeterProvider). retry
// protects the services a process calls; overload protects the process
// itself from its callers.
//
// A complete program:
//
//	package main
//
//	import (
//		"flag"
//		"log"
//		"net/http"
//		"strings"
//		"time"
//
//		"github.com/opskit/opskit/overload"
//	)
//
//	func main() {
//		addr := flag.String("addr", "127.0.0.1:8080", "listen address")
//		flag.Parse()
//
//		limiter, err := overload.New()
//		if err != nil {
//			log.Fatal(err)
//		}
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
//			_, _ = w.Write([]byte("ok\n")) // exempt: never refused
//		})
//		mux.HandleFunc("POST /checkout", func(w http.ResponseWriter, r *http.Request) {
//			w.WriteHeader(http.StatusCreated) // critical: refused last
//		})
//		mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
//			time.Sleep(20 * time.Millisecond) // background: refused first
//			_, _ = w.Write([]byte("report\n"))
//		})
//		handler, err := limiter.Handler(mux, overload.WithClassifier(func(r *http.Request) overload.Priority {
//			switch {
//			case strings.HasPrefix(r.URL.Path, "/checkout"):
//				return overload.Critical
//			case strings.HasPrefix(r.URL.Path, "/report"):
//				return overload.Background
//			}
//			return overload.DefaultPriority(r) // probes and /metrics exempt, the rest normal
//		}))
//		if err != nil {
//			log.Fatal(err)
//		}
//		srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
//		log.Fatal(srv.ListenAndServe())
//	}
package overload
