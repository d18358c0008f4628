package feature_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/feature"
)

func TestImpactNamesTenantsShareSinceAndReason(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "orders.bulk", start)
	if got := f.Impact(); got != "" {
		t.Fatalf("Impact of an unused feature = %q", got)
	}
	useTenants(r, f, "tenant", 10)
	advance(r, fc, 2*time.Minute) // 12:02
	for i := range 3 {
		f.FailWith(r.WithTenant(context.Background(), "tenant-"+itoa(i)), "bulk pricing unavailable for order 1234")
	}
	advance(r, fc, 5*time.Minute)
	want := `orders.bulk is failing for 3 ±<1 tenants (30 % of its users) since 12:02 UTC; 3 failed uses; top reason: "bulk pricing unavailable for order #" (3 times)`
	if got := f.Impact(); got != want {
		t.Errorf("Impact =\n %q, want\n %q", got, want)
	}
	advance(r, fc, 11*time.Minute) // 16 minutes after the last failure: over
	if got := f.Impact(); got != "" {
		t.Errorf("Impact 16 minutes after the last failure = %q, want empty", got)
	}
	advance(r, fc, 10*time.Minute) // 12:28: a new episode
	f.Fail(context.Background())
	if got := f.Impact(); !strings.Contains(got, "since 12:28 UTC") {
		t.Errorf("a failure after a quiet gap starts a new episode: %q", got)
	}
	var nilFeature *feature.Feature
	if nilFeature.Impact() != "" {
		t.Error("a nil feature has an impact")
	}
}

// TestImpactEpisodeSpansMidnightAndRestarts: failures every 5 minutes from
// 23:40 go on past midnight and for hours (long enough that the minutes
// are folded into days); "since" stays 23:40 of the day before, also
// after a restart, and the report's failing line says the same.
func TestImpactEpisodeSpansMidnightAndRestarts(t *testing.T) {
	dir := t.TempDir()
	r, fc := newRegistry(t, feature.WithDir(dir))
	f := define(t, r, "orders.bulk", start.AddDate(0, -1, 0))
	useTenants(r, f, "tenant", 20)
	advance(r, fc, 11*time.Hour+40*time.Minute) // 23:40
	for range 40 {                              // until 02:55 the next day
		f.Fail(r.WithTenant(context.Background(), "tenant-1"))
		advance(r, fc, 5*time.Minute)
	}
	const since = "since 2025-03-12 23:40 UTC"
	if got := f.Impact(); !strings.Contains(got, since) || !strings.HasPrefix(got, "orders.bulk is failing for 1 ±<1 tenants") {
		t.Fatalf("Impact after 3 hours of failures across midnight = %q, want %s", got, since)
	}
	rep := reportOf(t, r, feature.Policy{FailMin: 1})
	if len(rep.Failing) != 1 || !rep.Failing[0].Since.Equal(time.Date(2025, 3, 12, 23, 40, 0, 0, time.UTC)) || !strings.Contains(rep.Failing[0].Summary, since) {
		t.Errorf("report failing %+v", rep.Failing)
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	r2, _ := newRegistry(t, feature.WithDir(dir), feature.WithClock(fc))
	f2 := define(t, r2, "orders.bulk", start.AddDate(0, -1, 0))
	f2.Fail(context.Background())
	if got := f2.Impact(); !strings.Contains(got, since) {
		t.Errorf("Impact after a restart = %q, want %s", got, since)
	}
}
