package feature_test

import (
	"context"
	"testing"
	"time"

	"github.com/opskit/opskit/feature"
)

func TestDayRollover(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "export", start.Add(-60*24*time.Hour))
	useTenants(r, f, "day1", 10)
	// Cross midnight: the new day starts with no uses and an empty bitmap.
	advance(r, fc, 13*time.Hour)
	s := stat(t, r, "export")
	if s.Today != 0 || s.TenantsToday != 0 || s.Total != 10 {
		t.Fatalf("after midnight stat = %+v, want today empty and total 10", s)
	}
	useTenants(r, f, "day1", 3) // three of yesterday's tenants come back
	useTenants(r, f, "day2", 2)
	s = stat(t, r, "export")
	if s.Today != 5 || s.TenantsToday != 5 || s.Total != 15 {
		t.Fatalf("day 2 stat = %+v, want 5 uses by 5 tenants, total 15", s)
	}
	rep, err := r.Report(feature.Policy{Days: 2})
	if err != nil {
		t.Fatal(err)
	}
	fr := rep.Features[0]
	if fr.Uses != 15 || fr.Tenants != 12 {
		t.Errorf("two-day report: %d uses by %d tenants, want 15 by 12 (the bitmaps are ORed)", fr.Uses, fr.Tenants)
	}
	if got := fr.Daily[len(fr.Daily)-2:]; got[0] != 10 || got[1] != 5 {
		t.Errorf("daily = %v, want ... 10 5", fr.Daily)
	}
}

func TestNinetyDayWindowExpires(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "old", start.Add(-365*24*time.Hour))
	f.UseN(r.WithTenant(context.Background(), "acme"), 7)
	advance(r, fc, 89*24*time.Hour)
	rep, err := r.Report(feature.Policy{Days: feature.MaxPeriodDays})
	if err != nil {
		t.Fatal(err)
	}
	if fr := rep.Features[0]; fr.PrevUses != 7 || fr.PrevTenants != 1 || fr.Uses != 0 || fr.Trend != "gone" {
		t.Errorf("day 89: %+v, want the 7 uses in the previous period", fr)
	}
	advance(r, fc, 24*time.Hour) // day 90: the first day leaves the window
	rep, err = r.Report(feature.Policy{Days: feature.MaxPeriodDays})
	if err != nil {
		t.Fatal(err)
	}
	fr := rep.Features[0]
	if fr.PrevUses != 0 || fr.PrevTenants != 0 {
		t.Errorf("day 90: %+v, want the old day expired", fr)
	}
	if fr.FirstSeen.IsZero() || !fr.LastSeen.Equal(start) {
		t.Errorf("first/last seen = %v/%v, want kept past the window", fr.FirstSeen, fr.LastSeen)
	}
	if s := stat(t, r, "old"); s.Total != 7 {
		t.Errorf("total = %d, want 7 (totals outlive the window)", s.Total)
	}
	// A jump longer than the whole window clears everything but totals.
	f.Use(context.Background())
	advance(r, fc, 200*24*time.Hour)
	if s := stat(t, r, "old"); s.Total != 8 || s.Today != 0 || !s.LastSeen.Equal(start.Add(90*24*time.Hour)) {
		t.Errorf("after a 200-day jump: %+v", s)
	}
}

func TestBackgroundGoroutineAdvancesClock(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "tick", start)
	fc.WaitForTimers(1)
	fc.Advance(13 * time.Hour) // the registry's timer fires past midnight
	// Wait, without sleeping, until the goroutine has moved the coarse clock:
	// a use then lands in the new day. Reads would also refresh it, so look
	// only at Stats after the wait.
	fc.WaitForTimers(1)
	f.Use(context.Background())
	if s := stat(t, r, "tick"); s.Today != 1 {
		t.Errorf("today = %d, want 1", s.Today)
	}
}
