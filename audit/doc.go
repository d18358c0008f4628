// Package audit decides who may act on a running service and keeps a
// tamper-evident record of every action taken.
//
// Every state-changing handler opskit ships (dead-letter requeue and purge,
// feature switches, incident notes, remediation) and every sensitive read
// view asks a [Guard] before it acts and appends one [Record] to a [Sink]
// after. queue, slo and feature take these as plain values, so they do not
// import each other.
//
// A complete program:
//
//	package main
//
//	import (
//		"flag"
//		"log"
//		"net/http"
//		"os"
//		"time"
//
//		"github.com/opskit/opskit/audit"
//	)
//
//	func main() {
//		addr := flag.String("addr", "127.0.0.1:8080", "address to serve on")
//		flag.Parse()
//		key, err := audit.LoadKey("secrets/audit.key")
//		if err != nil {
//			log.Fatal(err)
//		}
//		trail, err := audit.Open("data/audit.jsonl", key)
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer trail.Close()
//		guard := &audit.Guard{
//			Authorize: audit.BearerTokens(audit.Token{Secret: os.Getenv("OPS_TOKEN"), Actor: "operator"}),
//			Sink:      trail,
//			Hosts:     []string{*addr}, // refuse other Host headers (DNS rebinding)
//		}
//		mux := http.NewServeMux()
//		mux.Handle("/audit", trail.Handler(guard))
//		mux.HandleFunc("POST /cache/flush", func(w http.ResponseWriter, r *http.Request) {
//			actor, ok := guard.Allow(w, r, "cache.flush")
//			if !ok {
//				return // 401 or 403 written
//			}
//			err := error(nil) // flush the cache here
//			if lerr := guard.Log(r, actor, "cache.flush", "all", err, ""); lerr != nil {
//				http.Error(w, lerr.Error(), http.StatusInternalServerError)
//				return
//			}
//			w.WriteHeader(http.StatusNoContent)
//		})
//		srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
//		log.Fatal(srv.ListenAndServe())
//	}
//
// # Authorisation
//
// An [Authorizer] is a function of the request and the [Action] asked for
// that names who is acting or refuses, so one deployment can let support
// read while only operators change anything. [BearerTokens] is a ready
// one. A Guard with no Authorizer refuses everyone: nothing opskit ships
// lets a remote caller act by default. [Guard.Allow] also refuses
// cross-origin browser requests with unsafe methods and, with Hosts set,
// requests for a foreign Host (DNS rebinding).
//
// # The log
//
// [Open] returns a [Log]: one JSON line per record, fsynced before Append
// returns, each sealed with an HMAC-SHA256 over the previous record's seal
// and its own bytes (a keyed hash chain) and numbered 1, 2, 3, ... A
// [Reader] verifies a log and reports the first record that does not
// verify as a [*ChainError]: an edited, inserted, removed, reordered or
// re-sealed-without-the-key record. What the chain cannot show: records cut
// from the end (the shorter log is a valid chain; compare [Log.Head] with a
// copy kept elsewhere, or watch the opskit.audit.head metric), and anything
// done by someone who holds the key. The API cannot change or remove a
// record. A last line cut short by a crash is removed when the log is
// opened (its Append never returned); any other damage makes Open fail
// until someone has looked.
//
// # Concurrency and shutdown
//
// Guard is read-only and safe to share. Log methods are safe for
// concurrent use; Appends are serialised, one write and fsync each. A Log
// owns no goroutines: Close only closes the file.
//
// # Files
//
// The log's directory is created 0700 and the log 0600; so is the key file
// LoadKey creates.
//
// # Metrics
//
// opskit.audit.records (counter of appended records),
// opskit.audit.failures (counter of records that could not be appended) and
// opskit.audit.head (gauge, the last sequence number), through
// [WithMeterProvider].
//
// # Errors
//
// [ErrUnauthenticated] (401) and [ErrForbidden] (403) from Authorizers;
// [ErrTampered] matched by every [*ChainError]; [ErrClosed] after Close.
package audit
