// Package slorules puts opskit's generated Prometheus rules side by side
// with Sloth's for the same objective: the same scenarios in promtool
// (when each pages, how often) and the cost of evaluating them in a real
// Prometheus over 30 days of five instances' data.
package slorules

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

// TestMain deletes the benchmark's data set after the runs and checks
// for leaked goroutines.
func TestMain(m *testing.M) {
	code := m.Run()
	removeData()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// need returns the path of a command the comparison runs, or skips (or,
// when CI sets OPSKIT_REQUIRE_COMPONENTS=1, fails) with a clear message.
func need(tb testing.TB, name, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " not installed (Debian package " + pkg + "): skipping the rules side-by-side"
		if os.Getenv("OPSKIT_REQUIRE_COMPONENTS") == "1" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return p
}
