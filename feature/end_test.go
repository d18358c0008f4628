package feature_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
)

// at moves the fake clock forward to t.
func at(t *testing.T, r *feature.Registry, fc *clock.Fake, when time.Time) {
	t.Helper()
	if when.Before(fc.Now()) {
		t.Fatalf("at %s: the clock is already at %s", when, fc.Now())
	}
	advance(r, fc, when.Sub(fc.Now()))
}

// TestReportEndCoversExactlyThePeriod scripts uses on known days around
// the week Monday 2025-03-17 to Sunday 2025-03-23 and asks, two days
// after it, for the 7 days ending before Monday 2025-03-24: every figure
// is the week's, none of the days after it count.
func TestReportEndCoversExactlyThePeriod(t *testing.T) {
	r, fc := newRegistry(t) // Wednesday 2025-03-12 12:00 UTC
	old := start.Add(-80 * day)
	search := define(t, r, "search", old)
	pay := define(t, r, "pay", old)
	late := define(t, r, "late", old) // first used after the week
	define(t, r, "fax", old)          // never used
	ctx := context.Background()
	tenant := func(id string) context.Context { return r.WithTenant(ctx, id) }
	utc := func(d, h, m int) time.Time { return time.Date(2025, 3, d, h, m, 0, 0, time.UTC) }

	at(t, r, fc, utc(16, 23, 59)) // Sunday before the week: the previous period
	search.UseN(tenant("a"), 3)
	at(t, r, fc, utc(17, 0, 0)) // Monday 00:00: the week's first minute
	search.UseN(tenant("a"), 2)
	search.UseN(tenant("b"), 3)
	at(t, r, fc, utc(20, 9, 30)) // Thursday
	search.UseN(tenant("c"), 2)
	at(t, r, fc, utc(22, 12, 0)) // Saturday: pay works
	for range 10 {
		pay.Use(tenant("p"))
	}
	at(t, r, fc, utc(23, 23, 59)) // Sunday, the week's last minute
	search.UseN(tenant("d"), 4)
	for i := range 6 { // pay fails on the week's last day
		pay.Fail(tenant("q" + itoa(i)))
	}
	at(t, r, fc, utc(24, 0, 0)) // Monday after the week: not counted
	search.UseN(tenant("e"), 100)
	late.Use(tenant("a"))
	at(t, r, fc, utc(26, 10, 0)) // Wednesday: the report is made
	search.UseN(tenant("f"), 50)
	pay.Use(tenant("p"))

	end := utc(24, 0, 0)
	rep, err := r.Report(feature.Policy{Days: 7, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.From.Equal(utc(17, 0, 0)) || !rep.To.Equal(end) || rep.Days != 7 {
		t.Errorf("period %s to %s (%d days), want 2025-03-17 to 2025-03-24 (exclusive), 7 days", rep.From, rep.To, rep.Days)
	}
	lines := map[string]feature.FeatureReport{}
	for _, f := range rep.Features {
		lines[f.Name] = f
	}
	s := lines["search"]
	if s.Uses != 2+3+2+4 || s.PrevUses != 3 || s.Tenants != 4 || s.PrevTenants != 1 || s.Failures != 0 {
		t.Errorf("search: uses %d (prev %d), tenants %d (prev %d), failures %d; want 11 (3), 4 (1), 0",
			s.Uses, s.PrevUses, s.Tenants, s.PrevTenants, s.Failures)
	}
	wantDaily := []int64{0, 0, 0, 0, 0, 0, 3, 5, 0, 0, 2, 0, 0, 4} // 10 Mar .. 23 Mar
	if !slices.Equal(s.Daily, wantDaily) {
		t.Errorf("search daily %v, want %v", s.Daily, wantDaily)
	}
	if s.Change == nil || *s.Change != 8.0/3 {
		t.Errorf("search change %v, want 8/3", s.Change)
	}
	if p := lines["pay"]; p.Uses != 16 || p.Failures != 6 || p.FailingTenants != 6 {
		t.Errorf("pay: uses %d failures %d failing tenants %d, want 16 6 6", p.Uses, p.Failures, p.FailingTenants)
	}
	if l := lines["late"]; l.Status != feature.StatusNeverUsed || l.Uses != 0 {
		t.Errorf("late (first used after the week) is %q with %d uses, want never used", l.Status, l.Uses)
	}
	if got := strings.Join(rep.NeverUsed, ","); got != "fax,late" {
		t.Errorf("never used %q, want fax,late", got)
	}
	if rep.Summary.Tenants != 4+7 || rep.Summary.TotalUses != 11+16 { // a..d; p, q0..q5
		t.Errorf("summary: %d tenants, %d uses; want 11 and 27", rep.Summary.Tenants, rep.Summary.TotalUses)
	}
	if len(rep.Failing) != 1 || rep.Failing[0].Name != "pay" || rep.Failing[0].Failures != 6 || rep.Failing[0].Uses != 6 ||
		!rep.Failing[0].Since.Equal(utc(23, 23, 59)) || !strings.Contains(rep.Failing[0].Summary, "6 of 6 uses on 2025-03-23") {
		t.Errorf("failing = %+v, want pay with 6 failures on Sunday 2025-03-23 since 23:59", rep.Failing)
	}
	if !strings.HasPrefix(rep.Headline, "50 % of features rarely or never used (2 of 4;") {
		t.Errorf("headline %q, want 2 of 4 (fax, late)", rep.Headline)
	}
	if !strings.Contains(rep.Method, "over the 7 days from 2025-03-17 to 2025-03-23") {
		t.Errorf("method does not state the period: %q", rep.Method)
	}

	// The three formats state the same period: the last day is Sunday.
	var page, md, js bytes.Buffer
	for f, b := range map[feature.Format]*bytes.Buffer{feature.HTML: &page, feature.Markdown: &md, feature.JSON: &js} {
		if err := rep.Write(b, f); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{"html": page.String(), "markdown": md.String()} {
		if !strings.Contains(text, "2025-03-17 to 2025-03-23") || strings.Contains(text, "to 2025-03-24") {
			t.Errorf("%s does not say 2025-03-17 to 2025-03-23", name)
		}
		if !strings.Contains(text, "Failing on 2025-03-23 (1)") {
			t.Errorf("%s does not head the failing features with the week's last day", name)
		}
	}
	var back struct{ From, To time.Time }
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !back.From.Equal(utc(17, 0, 0)) || !back.To.Equal(end) {
		t.Errorf("json from %s to %s, want 2025-03-17 and 2025-03-24 (exclusive)", back.From, back.To)
	}

	// The report ending today counts the days after the week and nothing
	// fails today: End really moved every figure.
	now, err := r.Report(feature.Policy{Days: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range now.Features {
		if f.Name == "search" && f.Uses != 2+4+100+50 {
			t.Errorf("search ending today: %d uses, want 156", f.Uses)
		}
	}
	if len(now.Failing) != 0 || !strings.Contains(now.Method, "over the last 7 days") {
		t.Errorf("the report ending today: failing %v, method %q", now.Failing, now.Method)
	}
	// End at the end of today is the period ending today.
	same, err := r.Report(feature.Policy{Days: 7, End: utc(27, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if !same.From.Equal(now.From) || !same.To.Equal(now.To) || same.Summary.TotalUses != now.Summary.TotalUses {
		t.Errorf("End at the end of today: %s to %s, %d uses; the period ending today: %s to %s, %d uses",
			same.From, same.To, same.Summary.TotalUses, now.From, now.To, now.Summary.TotalUses)
	}
}

func TestReportEndRejected(t *testing.T) {
	r, fc := newRegistry(t)
	advance(r, fc, 10*day) // Saturday 2025-03-22
	for _, tt := range []struct {
		name string
		end  time.Time
		days int
		want string
	}{
		{"tomorrow", time.Date(2025, 3, 23, 0, 0, 1, 0, time.UTC), 7, "policy end 2025-03-23T00:00:01Z is after today's end"},
		{"next week", time.Date(2025, 3, 31, 0, 0, 0, 0, time.UTC), 7, "policy end 2025-03-31T00:00:00Z is after today's end"},
		{"history", time.Date(2024, 12, 30, 0, 0, 0, 0, time.UTC), 7, "policy end 2024-12-30T00:00:00Z: the 7 days before it and the 7 before those begin before the 90 days kept"},
		{"long period", time.Date(2025, 3, 17, 0, 0, 0, 0, time.UTC), feature.MaxPeriodDays, "policy end 2025-03-17T00:00:00Z: the 45 days before it"},
	} {
		_, err := r.Report(feature.Policy{Days: tt.days, End: tt.end})
		if !errors.Is(err, feature.ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "feature: ") {
			t.Errorf("%s: err = %v, want ErrInvalid saying %q", tt.name, err, tt.want)
		}
	}
	// The oldest end still allowed: both periods just inside the days kept.
	oldest := time.Date(2025, 3, 22, 0, 0, 0, 0, time.UTC).Add(-(feature.KeepDays - 1 - 14) * day)
	if _, err := r.Report(feature.Policy{Days: 7, End: oldest}); err != nil {
		t.Errorf("end %s: %v", oldest, err)
	}
	if _, err := r.Report(feature.Policy{Days: 7, End: oldest.Add(-day)}); err == nil {
		t.Errorf("end %s: no error, want one (a day of the previous period not kept)", oldest.Add(-day))
	}
}
