package healthtest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opskit/opskit/health"
	"github.com/opskit/opskit/health/healthtest"
)

// A test of a service's own check: it must fail while its dependency is
// down and report why.
func ExampleSwitch() {
	var downstream healthtest.Switch
	downstream.Set(errors.New("connection refused"))
	c, _ := health.New(health.WithLogger(slog.New(slog.DiscardHandler)))
	defer c.Close()
	c.MustRegister(health.Check{Name: "downstream", NonCritical: true, Func: downstream.Func})
	got := healthtest.Get(c.Handler(health.Readiness), "/readyz?verbose", healthtest.FromLoopback())
	fmt.Println(got.Code)
	fmt.Print(got.Body)
	// Output:
	// 200
	// [!]downstream warn: connection refused
	// readyz check passed with warnings
}

// Run runs one check the way a Checker does, panics turned into errors.
func ExampleRun() {
	fmt.Println(healthtest.Run(func(context.Context) error { return nil }, time.Second))
	fmt.Println(healthtest.Run(func(context.Context) error { panic("bug") }, 0))
	// Output:
	// <nil>
	// health: check "check" panicked: bug
}
