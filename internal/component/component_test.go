package component

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func reset() {
	mu.Lock()
	skipped = map[string]*skip{}
	mu.Unlock()
}

func TestMissingSkipsCountsAndReports(t *testing.T) {
	t.Setenv(RequireEnv, "")
	reset()
	t.Cleanup(reset)
	for range 3 {
		t.Run("pg", func(t *testing.T) { Missing(t, "PostgreSQL", "set OPSKIT_POSTGRES_URL") })
	}
	t.Run("promtool", func(t *testing.T) { Missing(t, "promtool", "put it on PATH") })
	want := []string{
		"pkg: SKIPPED 1 test needing promtool: put it on PATH",
		"pkg: SKIPPED 3 tests needing PostgreSQL: set OPSKIT_POSTGRES_URL",
	}
	got := Lines("pkg")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("Lines = %q; want %q", got, want)
	}
	path := filepath.Join(t.TempDir(), "sub", "skipped")
	t.Setenv(ReportEnv, path)
	Report("pkg")
	Report("pkg")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "SKIPPED"); n != 4 {
		t.Errorf("report file has %d lines after two Reports, want 4:\n%s", n, b)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report file mode = %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestNothingSkippedReportsNothing(t *testing.T) {
	reset()
	path := filepath.Join(t.TempDir(), "skipped")
	t.Setenv(ReportEnv, path)
	Report("pkg")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Report with no skips created %s (%v)", path, err)
	}
}

// A test that cannot run without its component must fail under
// OPSKIT_REQUIRE_COMPONENTS=1 (seen through a fake testing.TB, since the
// failure is the outcome).
func TestRequiredComponentFails(t *testing.T) {
	reset()
	ft := &fakeTB{TB: t}
	t.Setenv(RequireEnv, "1")
	func() {
		defer func() { recover() }()
		Missing(ft, "PostgreSQL", "set OPSKIT_POSTGRES_URL")
	}()
	if !ft.failed || ft.skipped {
		t.Errorf("under %s=1: failed=%v skipped=%v; want failed only", RequireEnv, ft.failed, ft.skipped)
	}
	if len(Lines("pkg")) != 0 {
		t.Error("a failed requirement was counted as a skip")
	}
}

// fakeTB records Fatal and Skip without stopping the real test.
type fakeTB struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Fatal(args ...any) { f.failed = true; panic("fatal") }
func (f *fakeTB) Skip(args ...any)  { f.skipped = true; panic("skip") }
