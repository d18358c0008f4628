package feature_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/opskit/opskit/feature"
)

func reportOf(t *testing.T, r *feature.Registry, p feature.Policy) *feature.Report {
	t.Helper()
	rep, err := r.Report(p)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func line(t *testing.T, rep *feature.Report, name string) feature.FeatureReport {
	t.Helper()
	for _, f := range rep.Features {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no line for %q", name)
	return feature.FeatureReport{}
}

func TestOutcomesAreCounted(t *testing.T) {
	r, _ := newRegistry(t)
	f := define(t, r, "pay", start)
	ctx := context.Background()
	for i := range 10 {
		tctx := r.WithTenant(ctx, "t-"+itoa(i))
		f.Done(tctx, i >= 3, 20*time.Millisecond) // t-0..t-2 fail
		f.Use(tctx)
	}
	f.Fail(ctx) // a failure without a tenant
	fr := line(t, reportOf(t, r, feature.Policy{}), "pay")
	if fr.Uses != 21 || fr.Failures != 4 || fr.Tenants != 10 || fr.FailingTenants != 3 {
		t.Errorf("uses %d failures %d tenants %d failing tenants %d, want 21 4 10 3", fr.Uses, fr.Failures, fr.Tenants, fr.FailingTenants)
	}
	if fr.MeanLatencyMs != 20 {
		t.Errorf("mean latency %v ms, want 20", fr.MeanLatencyMs)
	}
	if fr.TenantsErr <= 0 || fr.FailingTenantsErr <= 0 {
		t.Errorf("tenant figures without an error: %v %v", fr.TenantsErr, fr.FailingTenantsErr)
	}
}

func TestHotPathAllocatesNothing(t *testing.T) {
	r, _ := newRegistry(t)
	f := define(t, r, "pay", start)
	ctx := r.WithTenant(context.Background(), "acme")
	f.FailWith(ctx, "card declined for order 42")
	for name, op := range map[string]func(){
		"Use":              func() { f.Use(ctx) },
		"Fail":             func() { f.Fail(ctx) },
		"Done":             func() { f.Done(ctx, false, time.Millisecond) },
		"FailWith (known)": func() { f.FailWith(ctx, "card declined for order 43") },
	} {
		if n := testing.AllocsPerRun(200, op); n != 0 {
			t.Errorf("%s allocates %.1f times per call, want 0", name, n)
		}
	}
}

func TestTrackFeedsAnObjective(t *testing.T) {
	r, _ := newRegistry(t)
	f := define(t, r, "pay", start)
	good, bad := tally(f)
	ctx := context.Background()
	f.Use(ctx)
	f.Fail(ctx)
	f.FailWith(ctx, "x")
	f.Done(ctx, true, 0)
	f.Track(nil)
	f.Fail(ctx)
	if *good != 2 || *bad != 2 {
		t.Errorf("tracked good %d bad %d, want 2 2", *good, *bad)
	}
}

func TestReasonsAreNormalisedAndBounded(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "pay", start)
	tid := trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	sctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{1}}))
	for i := range feature.MaxReasons + 4 { // more than the table holds: the oldest go
		f.FailWith(context.Background(), "other reason "+strings.Repeat("x", i+1))
	}
	fc.Advance(time.Minute)
	f.FailWith(sctx, "dial postgres://app:hunter2@db:5432 failed\tafter 3 tries")
	fc.Advance(time.Minute)
	f.FailWith(context.Background(), "dial   postgres://app:secret@db:5433 failed after 4 tries")
	f.FailWith(context.Background(), strings.Repeat("long ", 100))
	rep := reportOf(t, r, feature.Policy{})
	fr := line(t, rep, "pay")
	if len(fr.Reasons) != 3 {
		t.Fatalf("report shows %d reasons, want the top 3", len(fr.Reasons))
	}
	top := fr.Reasons[0]
	if top.Text != "dial # failed after # tries" || top.Count != 2 {
		t.Errorf("top reason %q ×%d, want the two dial failures as one", top.Text, top.Count)
	}
	if !top.First.Equal(start.Add(time.Minute)) || !top.Last.Equal(start.Add(2*time.Minute)) {
		t.Errorf("first %v last %v", top.First, top.Last)
	}
	if len(top.TraceIDs) != 1 || top.TraceIDs[0] != tid.String() {
		t.Errorf("trace ids %v, want [%s]", top.TraceIDs, tid)
	}
	// The table is bounded: the JSON report of the feature's reasons comes
	// from a table of at most MaxReasons, and no text is over MaxReasonLen.
	var buf bytes.Buffer
	if err := r.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "hunter2") || strings.Contains(buf.String(), "secret") {
		t.Error("a password from a reason reached the snapshot")
	}
	all := r.Stats()[0].Reasons
	if len(all) != feature.MaxReasons {
		t.Errorf("%d reasons kept, want %d", len(all), feature.MaxReasons)
	}
	for _, rs := range all {
		if len(rs.Text) > feature.MaxReasonLen {
			t.Errorf("reason of %d bytes kept", len(rs.Text))
		}
	}
}

// failingRegistry is a day of normal use yesterday and, today, orders.bulk
// failing for 10 of its 40 tenants, with a reason.
func failingRegistry(t *testing.T) (*feature.Registry, *feature.Report) {
	t.Helper()
	r, fc := newRegistry(t)
	old := start.Add(-60 * day)
	place := define(t, r, "orders.place", old)
	bulk := define(t, r, "orders.bulk", old)
	ctx := context.Background()
	for i := range 40 {
		tctx := r.WithTenant(ctx, "tenant-"+itoa(i))
		place.UseN(tctx, 10)
		bulk.Use(tctx)
	}
	bulk.Fail(r.WithTenant(ctx, "tenant-0")) // yesterday: one failure
	advance(r, fc, day-2*time.Hour)          // 10:00 today
	advance(r, fc, 2*time.Minute)
	for i := range 40 {
		tctx := r.WithTenant(ctx, "tenant-"+itoa(i))
		place.UseN(tctx, 10)
		if i < 10 {
			bulk.FailWith(tctx, "downstream answered 503 for order "+itoa(1000+i))
		} else {
			bulk.Use(tctx)
		}
	}
	return r, reportOf(t, r, feature.Policy{})
}

func TestFailingFeatureComesFirst(t *testing.T) {
	_, rep := failingRegistry(t)
	if len(rep.Failing) != 1 || rep.Failing[0].Name != "orders.bulk" {
		t.Fatalf("failing = %+v, want orders.bulk", rep.Failing)
	}
	fl := rep.Failing[0]
	if fl.Tenants != 10 || fl.UsersPct < 24 || fl.UsersPct > 27 || fl.Ratio != 0.25 || fl.Since.Format("15:04") != "10:02" {
		t.Errorf("failing = %+v, want 10 tenants, 25 %% of users, ratio 0.25, since 10:02", fl)
	}
	for _, want := range []string{"orders.bulk is failing for 10 ±", "% of its users (10 of 40 uses today, 25 %; yesterday 2.4 %)", "since 10:02 UTC", `top reason: "downstream answered # for order #" (10 times)`} {
		if !strings.Contains(fl.Summary, want) {
			t.Errorf("summary %q lacks %q", fl.Summary, want)
		}
	}
	if rep.Features[0].Name != "orders.bulk" {
		t.Errorf("first feature line is %s, want the failing one although it has fewer uses", rep.Features[0].Name)
	}
	// Every format opens with the headline, then the failing feature, before
	// the feature table.
	for _, f := range []feature.Format{feature.HTML, feature.Markdown, feature.CSV, feature.JSON} {
		out := render(t, rep, f)
		h := strings.Index(out, "% of features rarely or never used")
		fi := strings.Index(out, "orders.bulk is failing for 10")
		table := strings.Index(out, "orders.place")
		if h < 0 || fi < 0 || table < 0 || !(h < fi && fi < table) {
			t.Errorf("%s: headline at %d, failing at %d, table at %d: want them in that order", f, h, fi, table)
		}
	}
}

func TestFailuresThatDidNotRiseAreNotFailing(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "flaky", start.Add(-60*day))
	ctx := context.Background()
	for range 2 {
		for i := range 20 {
			tctx := r.WithTenant(ctx, "t-"+itoa(i))
			f.UseN(tctx, 9)
			f.Fail(tctx)
		}
		advance(r, fc, day)
	}
	if rep := reportOf(t, r, feature.Policy{}); len(rep.Failing) != 0 {
		t.Errorf("a steady 10 %% failure ratio is reported as failing: %+v", rep.Failing)
	}
}

func TestHTMLEndDateIsTheLastDay(t *testing.T) {
	r, _ := newRegistry(t)
	define(t, r, "a", start)
	out := render(t, reportOf(t, r, feature.Policy{}), feature.HTML)
	if !strings.Contains(out, "2025-03-06 to 2025-03-12 (7 days") || strings.Contains(out, "to 2025-03-13") {
		t.Errorf("HTML period is not 2025-03-06 to 2025-03-12:\n%.600s", out)
	}
}

func TestFeatureUsedNineDaysAgoIsNotNeverUsed(t *testing.T) {
	r, fc := newRegistry(t)
	f := define(t, r, "a", start.Add(-60*day))
	f.Use(r.WithTenant(context.Background(), "t"))
	advance(r, fc, 9*day)
	rep := reportOf(t, r, feature.Policy{})
	fr := line(t, rep, "a")
	if fr.Status != feature.StatusUnused || len(rep.NeverUsed) != 0 {
		t.Errorf("status %q, never used %v; want %q", fr.Status, rep.NeverUsed, feature.StatusUnused)
	}
	for _, f := range []feature.Format{feature.HTML, feature.Markdown} {
		if out := render(t, rep, f); !strings.Contains(out, "not used in the period") {
			t.Errorf("%s does not say 'not used in the period'", f)
		}
	}
}

func TestTenantFiguresCarryTheirErrorInEveryFormat(t *testing.T) {
	_, rep := failingRegistry(t)
	md := render(t, rep, feature.Markdown)
	if !regexp.MustCompile(`\| orders\.bulk .*\| 3\d ±\S+ \| 10 ±\S+ \|`).MatchString(md) {
		t.Errorf("Markdown tenant cells lack their error:\n%s", md)
	}
	if html := render(t, rep, feature.HTML); !regexp.MustCompile(`>3\d ±\S+</td><td class="n">10 ±`).MatchString(html) {
		t.Error("HTML tenant cells lack their error")
	}
	rows, err := csv.NewReader(strings.NewReader(render(t, rep, feature.CSV))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var header []string
	for _, row := range rows {
		if row[0] == "feature" {
			header = row
			continue
		}
		if header == nil {
			continue
		}
		for i, h := range header {
			if (h == "tenants" || h == "failing_tenants" || h == "previous_tenants") && header[i+1] != h+"_err" {
				t.Errorf("CSV column %s is not followed by its error", h)
			}
			if h == "tenants_err" && row[i] == "" {
				t.Errorf("CSV row %v lacks tenants_err", row[0])
			}
		}
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(render(t, rep, feature.JSON)), &back); err != nil {
		t.Fatal(err)
	}
	for _, f := range back["features"].([]any) {
		m := f.(map[string]any)
		for _, k := range []string{"tenants_err", "previous_tenants_err", "failing_tenants_err"} {
			if _, ok := m[k]; !ok {
				t.Errorf("JSON feature lacks %s", k)
			}
		}
	}
	if _, ok := back["summary"].(map[string]any)["tenants_err"]; !ok {
		t.Error("JSON summary lacks tenants_err")
	}
}

func TestImportValidates(t *testing.T) {
	r, _ := newRegistry(t)
	define(t, r, "a", start)
	for _, tt := range []struct {
		u    feature.DayUsage
		want string
	}{
		{feature.DayUsage{Feature: "nope", Day: start, Uses: 1}, `feature "nope" is not declared`},
		{feature.DayUsage{Feature: "a", Day: start, Uses: -1}, "uses -1"},
		{feature.DayUsage{Feature: "a", Day: start, Uses: 1, Failures: 2}, "failures 2"},
		{feature.DayUsage{Feature: "a", Uses: 1}, "zero time"},
		{feature.DayUsage{Feature: "a", Day: start.Add(-90 * day), Uses: 1}, "outside the 90 days kept"},
		{feature.DayUsage{Feature: "a", Day: start.Add(day), Uses: 1}, "outside the 90 days kept"},
	} {
		err := r.Import(tt.u)
		if !errors.Is(err, feature.ErrInvalid) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "feature: ") {
			t.Errorf("Import(%+v) = %v, want ErrInvalid mentioning %q", tt.u, err, tt.want)
		}
	}
}
