// Package component is for tests that need a component from outside Go
// (PostgreSQL, promtool, Alertmanager, Chromium): without it they skip,
// and the skip is said where `go test ./...` would print a bare "ok"
// (it shows a passing package's output only with -v).
//
// A test calls Missing when its component is absent; the package's
// TestMain calls Report after the tests have run. Report prints one line
// per missing component to standard error and, when OPSKIT_SKIP_REPORT
// names a file, appends the lines there, where `make test` reads them.
// Under OPSKIT_REQUIRE_COMPONENTS=1 (CI) Missing fails the test instead.
package component

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

const (
	// RequireEnv set to 1 turns a missing component into a failure.
	RequireEnv = "OPSKIT_REQUIRE_COMPONENTS"
	// ReportEnv names the file Report appends its lines to.
	ReportEnv = "OPSKIT_SKIP_REPORT"
)

var (
	mu      sync.Mutex
	skipped = map[string]*skip{} // by component
)

type skip struct {
	n   int
	how string
}

// Missing skips tb because component (e.g. "PostgreSQL") is not
// available; how says how to provide it. Under OPSKIT_REQUIRE_COMPONENTS=1
// it fails tb instead. Either way tb stops here.
func Missing(tb testing.TB, component, how string) {
	tb.Helper()
	msg := component + " is not available: " + how
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatal(msg + " (" + RequireEnv + "=1 requires it)")
	}
	mu.Lock()
	s := skipped[component]
	if s == nil {
		s = &skip{how: how}
		skipped[component] = s
	}
	s.n++
	mu.Unlock()
	tb.Skip(msg)
}

// Lines returns Report's lines for pkg (e.g. "postgres"), one per
// missing component, sorted: "postgres: SKIPPED 27 tests needing
// PostgreSQL: <how>". None when nothing was skipped.
func Lines(pkg string) []string {
	mu.Lock()
	defer mu.Unlock()
	var out []string
	for c, s := range skipped {
		noun := "tests"
		if s.n == 1 {
			noun = "test"
		}
		out = append(out, fmt.Sprintf("%s: SKIPPED %d %s needing %s: %s", pkg, s.n, noun, c, s.how))
	}
	sort.Strings(out)
	return out
}

// Report prints Lines(pkg) to standard error and appends them to the file
// named by OPSKIT_SKIP_REPORT, if set (created 0600 with its directory).
// Call it from TestMain after m.Run.
func Report(pkg string) {
	lines := Lines(pkg)
	if len(lines) == 0 {
		return
	}
	text := strings.Join(lines, "\n") + "\n"
	fmt.Fprint(os.Stderr, text)
	path := os.Getenv(ReportEnv)
	if path == "" {
		return
	}
	if err := appendFile(path, text); err != nil {
		fmt.Fprintf(os.Stderr, "component: %s=%s: %v\n", ReportEnv, path, err)
	}
}

func appendFile(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text) // one write: O_APPEND keeps lines of concurrent packages whole
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
