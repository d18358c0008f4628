package feature_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/feature"
)

func TestSnapshotRestoreOnRestart(t *testing.T) {
	dir := t.TempDir()
	r1, fc := newRegistry(t, feature.WithDir(dir))
	f := define(t, r1, "billing", start.Add(-40*24*time.Hour))
	useTenants(r1, f, "t", 20)
	advance(r1, fc, time.Minute)
	r1.UseName(context.Background(), "legacy-export")
	if err := r1.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "feature-test.snap")); err != nil {
		t.Fatalf("no snapshot after Shutdown: %v", err)
	}

	// Same instance, same directory: the counts come back when the feature is
	// declared again, and new uses add to them.
	r2, fc2 := newRegistry(t, feature.WithDir(dir))
	fc2.Set(start.Add(2 * time.Minute))
	f2 := define(t, r2, "billing", start.Add(-40*24*time.Hour))
	useTenants(r2, f2, "t", 5) // known tenants: the distinct count stays 20
	s := stat(t, r2, "billing")
	if s.Total != 25 || s.Today != 25 || s.TenantsToday != 20 {
		t.Errorf("restored stat = %+v, want 25 uses by 20 tenants", s)
	}
	if !s.FirstSeen.Equal(start) {
		t.Errorf("first seen %v, want %v", s.FirstSeen, start)
	}
	rep, err := r2.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Drift) != 1 || rep.Drift[0].Name != "legacy-export" {
		t.Errorf("drift after restart = %+v", rep.Drift)
	}
	if len(rep.Instances) != 1 {
		t.Errorf("instances = %v, want only this one (its own file is not merged twice)", rep.Instances)
	}
}

func TestUndeclaredRestoredFeatureIsKept(t *testing.T) {
	dir := t.TempDir()
	r1, _ := newRegistry(t, feature.WithDir(dir))
	define(t, r1, "retired", start).UseN(context.Background(), 3)
	r1.Shutdown(context.Background())
	r2, _ := newRegistry(t, feature.WithDir(dir))
	r2.Shutdown(context.Background()) // "retired" not declared in this run: its counts must survive
	r3, _ := newRegistry(t, feature.WithDir(dir))
	define(t, r3, "retired", start)
	if s := stat(t, r3, "retired"); s.Total != 3 {
		t.Errorf("total = %d, want 3 carried through a run that did not declare it", s.Total)
	}
}

func TestMergeInstances(t *testing.T) {
	dir := t.TempDir()
	a, _ := newRegistry(t, feature.WithDir(dir), feature.WithInstance("a"))
	b, _ := newRegistry(t, feature.WithDir(dir), feature.WithInstance("b"))
	fa := define(t, a, "search", start.Add(-60*24*time.Hour))
	fb := define(t, b, "search", start.Add(-60*24*time.Hour))
	define(t, b, "only-b", start.Add(-60*24*time.Hour)).Use(context.Background())
	useTenants(a, fa, "shared", 10)
	useTenants(b, fb, "shared", 10) // the same tenants: counted once
	useTenants(b, fb, "b-only", 5)
	a.UseName(context.Background(), "typo")
	b.UseName(context.Background(), "typo")
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}
	// a reports its live counts plus b's file; a's own file is never read.
	for range 2 {
		if err := a.Save(); err != nil {
			t.Fatal(err)
		}
		rep, err := a.Report(feature.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(rep.Instances, ",") != "a,b" {
			t.Errorf("instances = %v", rep.Instances)
		}
		var search feature.FeatureReport
		for _, f := range rep.Features {
			if f.Name == "search" {
				search = f
			}
		}
		if search.Uses != 25 || search.Tenants != 15 {
			t.Errorf("merged search: %d uses by %d tenants, want 25 by 15", search.Uses, search.Tenants)
		}
		if len(rep.Drift) != 1 || rep.Drift[0].Uses != 2 {
			t.Errorf("merged drift = %+v, want typo ×2", rep.Drift)
		}
	}
}

func TestCorruptSnapshotIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "feature-test.snap")
	if err := os.WriteFile(path, []byte("OPSKITF1 garbage that fails the checksum"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "feature-other.snap"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := newRegistry(t, feature.WithDir(dir), feature.WithLogger(discardLogger()))
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Errorf("corrupt snapshot not moved aside: %v", err)
	}
	rep, err := r.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "feature-other.snap") {
		t.Errorf("warnings = %q, want the unreadable other instance named", rep.Warnings)
	}
}

func TestWriteSnapshotDecodeErrors(t *testing.T) {
	r, _ := newRegistry(t)
	define(t, r, "x", start).Use(r.WithTenant(context.Background(), "t"))
	var buf bytes.Buffer
	if err := r.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := buf.Bytes()
	bad := append([]byte{}, good...)
	bad[len(bad)/2] ^= 0xff
	for name, data := range map[string][]byte{"good": good, "flipped": bad, "short": good[:5]} {
		if err := os.WriteFile(filepath.Join(dir, "feature-"+name+".snap"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r2, _ := newRegistry(t, feature.WithDir(dir), feature.WithInstance("reader"))
	rep, err := r2.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 2 {
		t.Fatalf("warnings = %q, want the flipped and short files", rep.Warnings)
	}
	for _, w := range rep.Warnings {
		if !strings.Contains(w, "corrupt at byte") {
			t.Errorf("warning %q does not say where", w)
		}
	}
	if len(rep.Instances) != 2 {
		t.Errorf("instances = %v, want reader and good", rep.Instances)
	}
}

func TestCorruptErrorMatches(t *testing.T) {
	err := error(&feature.CorruptError{Path: "p", Offset: 3, Reason: "bad"})
	if !errors.Is(err, feature.ErrCorrupt) || err.Error() != "feature: p: corrupt at byte 3: bad" {
		t.Errorf("CorruptError = %q", err)
	}
}

func TestTenantKeyFileSharedByInstances(t *testing.T) {
	dir := t.TempDir()
	open := func(instance string) *feature.Registry {
		r, err := feature.New(feature.WithDir(dir), feature.WithInstance(instance),
			feature.WithMeterProvider(noop.NewMeterProvider()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Shutdown(context.Background()) })
		return r
	}
	a := open("a")
	info, err := os.Stat(filepath.Join(dir, "feature-tenant.key"))
	if err != nil || info.Size() != 16 || info.Mode().Perm() != 0o600 {
		t.Fatalf("tenant key file: %v %v", info, err)
	}
	b := open("b")
	fa := define(t, a, "f", start)
	fb := define(t, b, "f", start)
	useTenants(a, fa, "x", 50)
	useTenants(b, fb, "x", 50)
	alone, err := a.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}
	merged, err := a.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	// The same 50 tenants under the same key set the same bits, so merging
	// b's bitmap into a's changes nothing; with different keys the
	// estimate would be near 100.
	if got, want := merged.Features[0].Tenants, alone.Features[0].Tenants; got != want || want < 45 || want > 55 {
		t.Errorf("tenants merged = %d, alone = %d, want equal and near 50: instances sharing the directory share the key", got, want)
	}
	if merged.Features[0].Uses != 2*alone.Features[0].Uses {
		t.Errorf("uses merged = %d, want twice %d", merged.Features[0].Uses, alone.Features[0].Uses)
	}
	if err := os.WriteFile(filepath.Join(dir, "feature-tenant.key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := feature.New(feature.WithDir(dir)); !errors.Is(err, feature.ErrInvalid) {
		t.Errorf("New with a damaged key file = %v, want ErrInvalid", err)
	}
}
