package feature_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/feature"
)

const day = 24 * time.Hour

// catalogRegistry builds a product whose report has something in every
// section, and returns it with the report over 7 days.
func catalogRegistry(t *testing.T) (*feature.Registry, *feature.Report) {
	t.Helper()
	r, fc := newRegistry(t)
	old := start.Add(-80 * day)
	search := define(t, r, "search", old)     // used by many, steady
	export := define(t, r, "export", old)     // declining: 40 then 10
	define(t, r, "fax", old)                  // never used
	define(t, r, "beta-ai", start)            // unused, still in grace
	legacy := define(t, r, "legacy-api", old) // rarely used: one tenant
	badge := define(t, r, "badge", old)       // new: first used this period
	ctx := context.Background()
	for i := range 20 {
		tctx := r.WithTenant(ctx, "tenant-"+itoa(i))
		search.UseN(tctx, 5)
		if i < 4 {
			export.UseN(tctx, 10)
		}
	}
	legacy.Use(r.WithTenant(ctx, "tenant-0"))
	advance(r, fc, 7*day)
	for i := range 20 {
		tctx := r.WithTenant(ctx, "tenant-"+itoa(i))
		search.UseN(tctx, 5)
		if i < 3 {
			export.UseN(tctx, 5)
		}
		if i < 2 {
			badge.Use(tctx)
			badge.Use(r.WithTenant(ctx, "tenant-"+itoa(i+10)))
		}
	}
	legacy.Use(r.WithTenant(ctx, "tenant-0"))
	r.UseName(ctx, "undeclared-thing")
	rep, err := r.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	return r, rep
}

func TestReportSections(t *testing.T) {
	_, rep := catalogRegistry(t)
	s := rep.Summary
	if s.Declared != 6 || s.Used != 3 || s.Rarely != 1 || s.Never != 1 || s.InGrace != 1 {
		t.Errorf("summary = %+v, want 6 declared: 3 used, 1 rare, 1 never, 1 in grace", s)
	}
	if s.UsedPct != 50 || s.RarelyPct != 16.7 || s.NeverPct != 16.7 {
		t.Errorf("percentages = %v/%v/%v, want 50/16.7/16.7", s.UsedPct, s.RarelyPct, s.NeverPct)
	}
	if s.Tenants != 20 || s.TotalUses != 100+15+4+1 {
		t.Errorf("tenants %d, uses %d; want 20 and 120", s.Tenants, s.TotalUses)
	}
	for _, tt := range []struct {
		section string
		got     []string
		want    string
	}{
		{"never used", rep.NeverUsed, "fax"},
		{"rarely used", rep.RarelyUsed, "legacy-api"},
		{"declining", rep.Declining, "export"},
		{"new", rep.New, "badge"},
	} {
		if strings.Join(tt.got, ",") != tt.want {
			t.Errorf("%s = %v, want [%s]", tt.section, tt.got, tt.want)
		}
	}
	if len(rep.Drift) != 1 || rep.Drift[0].Name != "undeclared-thing" || rep.Drift[0].Uses != 1 {
		t.Errorf("drift = %+v", rep.Drift)
	}
	if rep.Days != 7 || !rep.From.Equal(time.Date(2025, 3, 13, 0, 0, 0, 0, time.UTC)) || !rep.To.Equal(time.Date(2025, 3, 20, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("period %v to %v (%d days)", rep.From, rep.To, rep.Days)
	}
	if !strings.Contains(rep.Method, "linear counting") || !strings.Contains(rep.Method, "30 days") {
		t.Errorf("method note = %q", rep.Method)
	}
}

func TestReportFeatureLines(t *testing.T) {
	_, rep := catalogRegistry(t)
	byName := map[string]feature.FeatureReport{}
	for _, f := range rep.Features {
		byName[f.Name] = f
	}
	if rep.Features[0].Name != "search" {
		t.Errorf("first line %q, want the most used (search)", rep.Features[0].Name)
	}
	search := byName["search"]
	if search.Uses != 100 || search.PrevUses != 100 || *search.Change != 0 || search.Trend != "flat" ||
		search.Tenants != 20 || search.AdoptionPct != 100 || search.Status != feature.StatusUsed {
		t.Errorf("search = %+v", search)
	}
	export := byName["export"]
	if export.Uses != 15 || export.PrevUses != 40 || *export.Change != -0.625 || export.Trend != "down" || export.AdoptionPct != 15 {
		t.Errorf("export = %+v", export)
	}
	badge := byName["badge"]
	if badge.Change != nil || badge.Trend != "new" || badge.Tenants != 4 || !badge.FirstSeen.Equal(start.Add(7*day)) {
		t.Errorf("badge = %+v", badge)
	}
	fax := byName["fax"]
	if fax.Status != feature.StatusNeverUsed || fax.Trend != "none" || !fax.FirstSeen.IsZero() || fax.Uses != 0 {
		t.Errorf("fax = %+v", fax)
	}
	if len(search.Daily) != 14 || search.Daily[6] != 100 || search.Daily[13] != 100 {
		t.Errorf("daily = %v, want 14 days with 100 on the last day of each period", search.Daily)
	}
	if got := byName["beta-ai"].Status; got != feature.StatusTooNew {
		t.Errorf("beta-ai status %q, want %q", got, feature.StatusTooNew)
	}
}

func TestReportWithoutTenantsUsesRareUses(t *testing.T) {
	r, _ := newRegistry(t)
	define(t, r, "busy", start.Add(-90*day)).UseN(context.Background(), 50)
	define(t, r, "quiet", start.Add(-90*day)).UseN(context.Background(), 3)
	rep, err := r.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.HasTenants || strings.Join(rep.RarelyUsed, ",") != "quiet" {
		t.Errorf("rarely used = %v (has tenants %v), want [quiet] by the uses threshold", rep.RarelyUsed, rep.Summary.HasTenants)
	}
}

func TestReportPolicyValidation(t *testing.T) {
	r, _ := newRegistry(t)
	for _, p := range []feature.Policy{{Days: 46}, {Days: -1}, {Grace: -day}, {RareTenants: -1}, {DeclineDrop: 2}} {
		if _, err := r.Report(p); err == nil {
			t.Errorf("Report(%+v) accepted a bad policy", p)
		}
	}
}
