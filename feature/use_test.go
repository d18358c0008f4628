package feature_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/feature"
)

func TestDefineValidates(t *testing.T) {
	r, _ := newRegistry(t)
	define(t, r, "checkout", start)
	tests := []struct {
		name, give string
		since      time.Time
		want       error
		mention    string
	}{
		{"empty", "", start, feature.ErrInvalid, "empty"},
		{"duplicate", "checkout", start, feature.ErrDuplicate, `"checkout"`},
		{"spaces", " padded ", start, feature.ErrInvalid, `" padded "`},
		{"control", "a\nb", start, feature.ErrInvalid, "control"},
		{"too long", strings.Repeat("x", 201), start, feature.ErrInvalid, "201 bytes"},
		{"zero since", "export", time.Time{}, feature.ErrInvalid, `"export"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := r.Define(tt.give, "o", tt.since, "d")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Define(%q) error = %v, want %v", tt.give, err, tt.want)
			}
			if f != nil {
				t.Errorf("Define(%q) returned a handle with an error", tt.give)
			}
			if !strings.Contains(err.Error(), tt.mention) || !strings.HasPrefix(err.Error(), "feature: ") {
				t.Errorf("error %q does not start with the package or mention %s", err, tt.mention)
			}
		})
	}
}

func TestMustDefinePanicsOnDuplicate(t *testing.T) {
	r, _ := newRegistry(t)
	r.MustDefine("a", "o", start, "d")
	defer func() {
		if recover() == nil {
			t.Error("MustDefine of a duplicate did not panic")
		}
	}()
	r.MustDefine("a", "o", start, "d")
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  feature.Option
		want string
	}{
		{"key", feature.WithTenantKey([]byte("short")), "tenant key length 5"},
		{"snapshot", feature.WithSnapshotEvery(-time.Second), "snapshot interval -1s"},
		{"drift", feature.WithDriftSize(0), "drift size 0"},
		{"instance", feature.WithInstance("a/b"), `instance "a/b"`},
		{"report", feature.WithReportFile(feature.ReportFile{Path: "x", Format: "pdf"}), `format "pdf"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := feature.New(tt.opt)
			if err == nil {
				r.Shutdown(context.Background())
				t.Fatal("New accepted a bad option")
			}
			if !errors.Is(err, feature.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestUseCounts(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "search", start)
	ctx := context.Background()
	f.Use(ctx)
	f.UseN(ctx, 4)
	f.UseN(ctx, 0)  // ignored
	f.UseN(ctx, -3) // ignored
	var nilFeature *feature.Feature
	nilFeature.Use(ctx) // a failed Define leaves nil; it must not panic
	advance(r, fc, time.Minute)
	s := stat(t, r, "search")
	if s.Total != 5 || s.Today != 5 || s.LastMinute != 5 || s.LastHour != 5 {
		t.Errorf("stat = %+v, want total, today, last minute and last hour 5", s)
	}
	if !s.FirstSeen.Equal(start) || !s.LastSeen.Equal(start) {
		t.Errorf("first/last seen = %v/%v, want %v", s.FirstSeen, s.LastSeen, start)
	}
	advance(r, fc, 90*time.Minute) // folded out of the minute slots
	s = stat(t, r, "search")
	if s.Total != 5 || s.Today != 5 || s.LastMinute != 0 || s.LastHour != 0 {
		t.Errorf("after 90 minutes stat = %+v, want total and today 5, nothing in the last hour", s)
	}
}

func TestUseConcurrent(t *testing.T) {
	r, fc := newRegistry(t)
	a, b := define(t, r, "a", start), define(t, r, "b", start)
	const workers, per = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := r.WithTenant(context.Background(), "tenant-"+itoa(w))
			for i := range per {
				a.Use(ctx)
				if i%2 == 0 {
					b.UseN(context.Background(), 2)
				}
				if i%500 == 0 {
					r.Stats() // readers and the clock advancing race with writers
					r.UseName(ctx, "undeclared")
				}
			}
		}()
	}
	// The clock moves across minute boundaries while the writers run.
	for range 5 {
		fc.Advance(time.Minute)
		r.Stats()
	}
	wg.Wait()
	advance(r, fc, 2*time.Hour)
	if got := stat(t, r, "a"); got.Total != workers*per || got.Today != workers*per {
		t.Errorf("a = %+v, want %d uses", got, workers*per)
	}
	if got := stat(t, r, "b"); got.Total != workers*per {
		t.Errorf("b total = %d, want %d", got.Total, workers*per)
	}
	rep, err := r.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Drift) != 1 || rep.Drift[0].Uses != workers*per/500 {
		t.Errorf("drift = %+v, want undeclared used %d times", rep.Drift, workers*per/500)
	}
	if rep.Summary.Tenants != workers {
		t.Errorf("tenants = %d, want %d", rep.Summary.Tenants, workers)
	}
}

func TestUseAllocatesNothing(t *testing.T) {
	r, _ := newRegistry(t)
	f := define(t, r, "hot", start)
	plain := context.Background()
	withTenant := r.WithTenant(plain, "acme")
	if n := testing.AllocsPerRun(1000, func() { f.Use(plain) }); n != 0 {
		t.Errorf("Use allocates %v times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { f.Use(withTenant) }); n != 0 {
		t.Errorf("Use with a tenant allocates %v times per call, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() { r.UseName(withTenant, "hot") }); n != 0 {
		t.Errorf("UseName of a declared name allocates %v times per call, want 0", n)
	}
}

func TestUseNameDriftIsBounded(t *testing.T) {
	r, fc := newRegistry(t, feature.WithDriftSize(2))
	define(t, r, "known", start)
	ctx := context.Background()
	r.UseName(ctx, "known")
	r.UseName(ctx, "old")
	advance(r, fc, time.Hour)
	r.UseName(ctx, "ghost")
	r.UseName(ctx, "ghost")
	r.UseName(ctx, "spook") // evicts "old"
	r.UseName(ctx, "")      // no name: nothing to count
	rep, err := r.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if got := stat(t, r, "known").Total; got != 1 {
		t.Errorf("known = %d, want 1 (a declared name goes to its feature)", got)
	}
	if len(rep.Drift) != 2 || rep.Drift[0].Name != "ghost" || rep.Drift[0].Uses != 2 || rep.Drift[1].Name != "spook" {
		t.Fatalf("drift = %+v, want ghost ×2 then spook", rep.Drift)
	}
	if !rep.Drift[0].FirstSeen.Equal(start.Add(time.Hour)) {
		t.Errorf("ghost first seen %v, want %v", rep.Drift[0].FirstSeen, start.Add(time.Hour))
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "forgot 1 undeclared") {
		t.Errorf("warnings = %q, want the eviction reported", rep.Warnings)
	}
}

func TestLookup(t *testing.T) {
	r, _ := newRegistry(t)
	f := define(t, r, "x", start)
	if got, ok := r.Lookup("x"); !ok || got != f || got.Name() != "x" || got.Owner() != "team-x" || !got.Since().Equal(start) || got.Description() != "the x feature" {
		t.Errorf("Lookup(x) = %v, %v", got, ok)
	}
	if _, ok := r.Lookup("y"); ok {
		t.Error("Lookup(y) found an undeclared feature")
	}
}

func TestDefineAfterShutdown(t *testing.T) {
	r, _ := newRegistry(t)
	r.Shutdown(context.Background())
	if _, err := r.Define("late", "o", start, "d"); !errors.Is(err, feature.ErrClosed) {
		t.Errorf("Define after Shutdown = %v, want ErrClosed", err)
	}
}

func TestEmptyTenantIsNoTenant(t *testing.T) {
	r, _ := newRegistry(t)
	f := define(t, r, "anon", start)
	ctx := context.Background()
	if got := r.WithTenant(ctx, ""); got != ctx {
		t.Error("WithTenant with an empty id wrapped the context")
	}
	f.Use(r.WithTenant(ctx, ""))
	if s := stat(t, r, "anon"); s.Today != 1 || s.TenantsToday != 0 {
		t.Errorf("stat = %+v, want 1 use and no tenant", s)
	}
}
