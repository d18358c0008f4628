// Package healthtest helps test code that registers health checks: a
// check whose result the test controls (Switch), a check that blocks until
// the test releases it (Gate), a way to run one check the way a Checker
// runs it (Run), and a one-line probe request (Get).
//
// A complete program (the same calls work in a test):
//
//	package main
//
//	import (
//		"errors"
//		"fmt"
//		"log"
//
//		"github.com/opskit/opskit/health"
//		"github.com/opskit/opskit/health/healthtest"
//	)
//
//	func main() {
//		var db healthtest.Switch // stands in for the real dependency
//		checker, err := health.New()
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer checker.Close()
//		checker.MustRegister(health.Check{Name: "db", Func: db.Func})
//
//		h := checker.Handler(health.Readiness)
//		fmt.Println(healthtest.Get(h, "/readyz").Code) // 200
//		db.Set(errors.New("connection refused"))
//		got := healthtest.Get(h, "/readyz?verbose", healthtest.FromLoopback())
//		fmt.Print(got.Code, "\n", got.Body) // 503, [-]db failed: connection refused ...
//	}
package healthtest
