// Package audittest offers what tests of audited handlers need: a Recorder,
// an audit.Sink that keeps records in memory so a test can check that an
// action left exactly one record, and what it says.
//
// A complete program (the same calls work in a test):
//
//	package main
//
//	import (
//		"fmt"
//		"net/http"
//		"net/http/httptest"
//
//		"github.com/opskit/opskit/audit"
//		"github.com/opskit/opskit/audit/audittest"
//	)
//
//	func main() {
//		var sink audittest.Recorder
//		guard := &audit.Guard{
//			Authorize: audit.BearerTokens(audit.Token{Secret: "s3cret-operator-token", Actor: "ann"}),
//			Sink:      &sink,
//		}
//		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			actor, ok := guard.Allow(w, r, "queue.purge")
//			if !ok {
//				return
//			}
//			guard.Log(r, actor, "queue.purge", "all", nil, "")
//		})
//		r := httptest.NewRequest(http.MethodPost, "/purge", nil)
//		r.Header.Set("Authorization", "Bearer s3cret-operator-token")
//		h.ServeHTTP(httptest.NewRecorder(), r)
//		for _, rec := range sink.Records() {
//			fmt.Println(rec.Actor, rec.Action, rec.Result) // ann queue.purge ok
//		}
//	}
package audittest
