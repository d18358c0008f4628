package feature_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/feature"
)

// On a fake clock a use made right after Advance counts at the new time,
// with no read in between to refresh the registry's coarse clock.
func TestUseRightAfterAdvanceCountsAtTheNewTime(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "search", start)
	f.Use(context.Background())
	fc.Advance(2*time.Hour + 30*time.Second)
	f.Use(context.Background())
	r.UseName(context.Background(), "undeclared")
	s := stat(t, r, "search")
	if want := start.Add(2 * time.Hour); !s.LastSeen.Equal(want) {
		t.Errorf("LastSeen = %v, want %v: the use after Advance counted in an old minute", s.LastSeen, want)
	}
	if s.Total != 2 {
		t.Errorf("Total = %d, want 2", s.Total)
	}
	rep, err := r.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Drift) != 1 || !rep.Drift[0].FirstSeen.Equal(start.Add(2*time.Hour)) {
		t.Errorf("drift = %+v, want one name first seen at %v", rep.Drift, start.Add(2*time.Hour))
	}
}

// Shutdown does not wait past its context for a WithOnSave callback that
// hangs, says what it left undone, and finishes when called again.
func TestShutdownIsBoundedByItsContext(t *testing.T) {
	dir := t.TempDir()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	r, fc := newRegistry(t, feature.WithDir(dir), feature.WithSnapshotEvery(time.Minute),
		feature.WithOnSave(func(string, error) {
			select {
			case entered <- struct{}{}:
				<-release // the first callback hangs until the test lets it go
			default:
			}
		}))
	define(t, r, "f", start).Use(context.Background())
	fc.WaitForTimers(1)
	fc.Advance(time.Minute) // the goroutine saves, then hangs in the callback
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.Shutdown(ctx)
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "feature: shutdown:") ||
		!strings.Contains(err.Error(), "final snapshot not written") {
		t.Fatalf("Shutdown with an ended context = %v, want a feature: error wrapping context.Canceled saying what was left", err)
	}
	if _, err := r.Define("late", "o", start, "d"); !errors.Is(err, feature.ErrClosed) {
		t.Errorf("Define after a timed-out Shutdown = %v, want ErrClosed", err)
	}
	close(release)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v, want nil", err)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("third Shutdown = %v, want nil", err)
	}
}

func TestFilesAre0600InDirectories0700(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "data", "features")
	report := filepath.Join(base, "reports", "weekly", "features.html")
	r, _ := newRegistry(t, feature.WithDir(dir))
	define(t, r, "f", start).Use(context.Background())
	if err := r.Save(); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteReportFile(feature.ReportFile{Path: report}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{filepath.Join(base, "data"), 0o700},
		{dir, 0o700},
		{filepath.Join(dir, "feature-test.snap"), 0o600},
		{filepath.Join(base, "reports"), 0o700},
		{filepath.Dir(report), 0o700},
		{report, 0o600},
	} {
		info, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.want)
		}
	}
}

func TestFileErrorsNameThePackage(t *testing.T) {
	dir := t.TempDir()
	r, _ := newRegistry(t, feature.WithDir(filepath.Join(dir, "features")))
	// A file where a directory should be: every write must fail with an
	// error that says it came from feature.
	blocker := filepath.Join(dir, "blocker")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := r.WriteReportFile(feature.ReportFile{Path: filepath.Join(blocker, "r.html")})
	if err == nil || !strings.HasPrefix(err.Error(), "feature: write report file:") {
		t.Errorf("WriteReportFile under a file = %v, want an error starting %q", err, "feature: write report file:")
	}
	if err := os.RemoveAll(filepath.Join(dir, "features")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "features"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Save(); err == nil || !strings.HasPrefix(err.Error(), "feature: save snapshot:") {
		t.Errorf("Save with its directory replaced by a file = %v, want an error starting %q", err, "feature: save snapshot:")
	}
	if err := os.Remove(filepath.Join(dir, "features")); err != nil { // let the cleanup's final save succeed
		t.Fatal(err)
	}
}

// WithTenantKey keeps its own copy: a caller reusing its slice does not
// change the key.
func TestWithTenantKeyCopiesTheKey(t *testing.T) {
	key := []byte("0123456789abcdef")
	opt := feature.WithTenantKey(key)
	copy(key, "ffffffffffffffff")
	a, _ := newRegistry(t, opt)
	b, _ := newRegistry(t, feature.WithTenantKey([]byte("0123456789abcdef")))
	fa, fb := define(t, a, "f", start), define(t, b, "f", start)
	useTenants(a, fa, "t", 30)
	useTenants(b, fb, "t", 30)
	var wa, wb strings.Builder
	if err := a.WriteSnapshot(&wa); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteSnapshot(&wb); err != nil {
		t.Fatal(err)
	}
	if wa.String() != wb.String() {
		t.Error("snapshots differ: the option kept the caller's slice, not a copy")
	}
}
