package feature_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/feature"
)

// failingSink refuses every record.
type failingSink struct{}

func (failingSink) Append(context.Context, audit.Record) error { return errors.New("disk full") }

// tally counts what f's Track reports.
func tally(f *feature.Feature) (good, bad *int) {
	good, bad = new(int), new(int)
	f.Track(func(ok bool) {
		if ok {
			*good++
		} else {
			*bad++
		}
	})
	return good, bad
}

func reasonCount(s feature.Stat, text string) int64 {
	for _, r := range s.Reasons {
		if r.Text == text {
			return r.Count
		}
	}
	return 0
}

func TestSwitchOffRefusesAndCountsAsBad(t *testing.T) {
	sink := &audittest.Recorder{}
	r, fc := newRegistry(t, feature.WithAudit(sink))
	f := define(t, r, "orders.bulk", start)
	good, bad := tally(f)
	ctx := r.WithTenant(context.Background(), "acme")
	if !f.Enabled(ctx) || !f.Switched().On || !f.Switched().Since.IsZero() {
		t.Fatalf("a new feature is not on: %+v", f.Switched())
	}
	if s := stat(t, r, "orders.bulk"); s.Today != 0 || *good+*bad != 0 {
		t.Fatalf("Enabled on an enabled feature counted something: %+v good=%d bad=%d", s, *good, *bad)
	}
	fc.Advance(90 * time.Second)
	if err := f.Switch(ctx, feature.Switch{Actor: "automation", Why: "bulk pricing down"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if f.Enabled(ctx) {
			t.Fatal("Enabled = true on a feature switched off without a trial")
		}
	}
	s := stat(t, r, "orders.bulk")
	if s.Today != 3 || s.FailedToday != 3 || s.FailingTenantsToday != 1 || *bad != 3 || *good != 0 {
		t.Errorf("refused calls: stat %+v, tracked good=%d bad=%d; want 3 failed uses, all bad", s, *good, *bad)
	}
	if n := reasonCount(s, feature.SwitchedOffReason); n != 3 {
		t.Errorf("reason %q counted %d times, want 3 (%+v)", feature.SwitchedOffReason, n, s.Reasons)
	}
	sw := f.Switched()
	want := feature.SwitchState{On: false, Since: start.Add(90 * time.Second), Actor: "automation", Why: "bulk pricing down", Refused: 3}
	if sw != want {
		t.Errorf("Switched() = %+v, want %+v", sw, want)
	}
	recs := sink.Records()
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1", len(recs))
	}
	if a := recs[0]; a.Action != feature.SwitchAction || a.Target != "orders.bulk" || a.Actor != "automation" ||
		a.Detail != "off: bulk pricing down" || a.Result != "ok" || !a.Time.Equal(want.Since) {
		t.Errorf("audit record %+v", a)
	}
	if err := f.Switch(ctx, feature.Switch{On: true, Actor: "oncall-bo", Why: "pricing back"}); err != nil {
		t.Fatal(err)
	}
	if !f.Enabled(ctx) || !f.Switched().On || f.Switched().Actor != "oncall-bo" {
		t.Errorf("after switching on: %+v", f.Switched())
	}
	if n := reasonCount(stat(t, r, "orders.bulk"), feature.SwitchedOffReason); n != 3 {
		t.Errorf("after switching on the refusals' reason counts %d, want 3", n)
	}
	if len(sink.Records()) != 2 || sink.Records()[1].Detail != "on: pricing back" {
		t.Errorf("audit records %+v", sink.Records())
	}
}

func TestSwitchTrialLetsAShareThrough(t *testing.T) {
	r, _ := newRegistry(t, feature.WithAudit(&audittest.Recorder{}))
	f := define(t, r, "orders.bulk", start)
	ctx := r.WithTenant(context.Background(), "acme")
	f.Use(ctx) // before the switch: not a trial result
	if err := f.Switch(ctx, feature.Switch{Actor: "automation", Trial: 0.1}); err != nil {
		t.Fatal(err)
	}
	through := 0
	for i := range 200 {
		if f.Enabled(ctx) {
			through++
			if through%4 == 0 {
				f.Fail(ctx)
			} else {
				f.Use(ctx)
			}
		} else if i%10 == 9 {
			t.Fatalf("call %d refused; the trial lets every tenth call through", i+1)
		}
	}
	sw := f.Switched()
	if through != 20 || sw.TrialOK != 15 || sw.TrialFailed != 5 || sw.Refused != 180 || sw.Trial != 0.1 {
		t.Errorf("through %d, state %+v; want 20 through (15 ok, 5 failed), 180 refused", through, sw)
	}
	if !strings.Contains(sw.String(), "trial 10 %: 15 ok, 5 failed") || !strings.Contains(sw.String(), "180 calls refused") {
		t.Errorf("String() = %q", sw.String())
	}
	// Switching off again starts a new trial.
	if err := f.Switch(ctx, feature.Switch{Actor: "automation", Trial: 0.5}); err != nil {
		t.Fatal(err)
	}
	if sw := f.Switched(); sw.TrialOK != 0 || sw.TrialFailed != 0 || sw.Refused != 0 || sw.Trial != 0.5 {
		t.Errorf("a new switch kept the old trial's counts: %+v", sw)
	}
}

func TestSwitchValidatesAndIsNeverUnaudited(t *testing.T) {
	r, _ := newRegistry(t, feature.WithAudit(&audittest.Recorder{}))
	f := define(t, r, "orders.bulk", start)
	ctx := context.Background()
	for _, tt := range []struct {
		give    feature.Switch
		mention string
	}{
		{feature.Switch{Why: "x"}, "actor is empty"},
		{feature.Switch{Actor: "  "}, "actor is empty"},
		{feature.Switch{Actor: "a", Trial: 0.7}, "trial 0.7"},
		{feature.Switch{Actor: "a", Trial: -0.1}, "trial -0.1"},
		{feature.Switch{Actor: "a", Trial: math.NaN()}, "trial NaN"},
		{feature.Switch{On: true, Actor: "a", Trial: 0.1}, "trial 0.1 given when switching on"},
		{feature.Switch{Actor: "a", Why: strings.Repeat("w", 501)}, "why is 501 bytes"},
		{feature.Switch{Actor: "a", Why: "line\nbreak"}, "why"},
	} {
		err := f.Switch(ctx, tt.give)
		if !errors.Is(err, feature.ErrInvalid) || !strings.Contains(err.Error(), tt.mention) || !strings.HasPrefix(err.Error(), "feature: ") {
			t.Errorf("Switch(%+v) = %v, want ErrInvalid mentioning %q", tt.give, err, tt.mention)
		}
	}
	if !f.Enabled(ctx) {
		t.Fatal("a rejected switch switched the feature off")
	}
	noSink, _ := newRegistry(t)
	g := define(t, noSink, "orders.bulk", start)
	if err := g.Switch(ctx, feature.Switch{Actor: "a"}); err == nil || !strings.Contains(err.Error(), "no audit sink") || !g.Enabled(ctx) {
		t.Errorf("switch without a sink: %v, enabled %v", err, g.Enabled(ctx))
	}
	bad, _ := newRegistry(t, feature.WithAudit(failingSink{}))
	h := define(t, bad, "orders.bulk", start)
	if err := h.Switch(ctx, feature.Switch{Actor: "a"}); err == nil || !strings.Contains(err.Error(), "disk full") || !h.Enabled(ctx) {
		t.Errorf("switch with a failing sink: %v, enabled %v", err, h.Enabled(ctx))
	}
	var nilFeature *feature.Feature
	if !nilFeature.Enabled(ctx) || nilFeature.Switch(ctx, feature.Switch{Actor: "a"}) == nil || !nilFeature.Switched().On {
		t.Error("a nil feature must be enabled and refuse switches")
	}
}

func TestSwitchSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	sink := &audittest.Recorder{}
	r, fc := newRegistry(t, feature.WithDir(dir), feature.WithAudit(sink))
	f := define(t, r, "orders.bulk", start)
	ctx := r.WithTenant(context.Background(), "acme")
	if err := f.Switch(ctx, feature.Switch{Actor: "automation", Why: "pricing down", Trial: 0.5}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if f.Enabled(ctx) {
			f.Use(ctx)
		}
	}
	before := f.Switched()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Minute)
	r2, _ := newRegistry(t, feature.WithDir(dir), feature.WithClock(fc), feature.WithAudit(sink))
	f2 := define(t, r2, "orders.bulk", start)
	if got := f2.Switched(); got != before || got.On || got.TrialOK != 2 || got.Refused != 2 {
		t.Errorf("after restart %+v, want %+v", got, before)
	}
	f2.Enabled(ctx) // call 1 of the new process: refused (trial counts restart with the process)
	if n := reasonCount(stat(t, r2, "orders.bulk"), feature.SwitchedOffReason); n != 3 {
		t.Errorf("switched-off reason counts %d after restart, want 2 saved + 1", n)
	}
	if got := f2.Switched().Refused; got != 3 {
		t.Errorf("Refused = %d after restart, want 3", got)
	}
}

func TestSwitchShowsOnEveryReportFormat(t *testing.T) {
	r, fc := newRegistry(t, feature.WithAudit(&audittest.Recorder{}))
	f := define(t, r, "orders.bulk", start.AddDate(0, -2, 0))
	define(t, r, "orders.place", start.AddDate(0, -2, 0))
	fc.Advance(2 * time.Minute)
	if err := f.Switch(context.Background(), feature.Switch{Actor: "automation", Why: "bulk pricing down"}); err != nil {
		t.Fatal(err)
	}
	f.Enabled(context.Background())
	rep, err := r.Report(feature.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	want := "orders.bulk: switched off by automation at 2025-03-12 12:02 UTC: bulk pricing down (1 calls refused)"
	if len(rep.Switched) != 1 || rep.Switched[0] != want {
		t.Fatalf("Switched = %q, want [%q]", rep.Switched, want)
	}
	for _, format := range []feature.Format{feature.HTML, feature.Markdown, feature.CSV, feature.JSON} {
		var buf bytes.Buffer
		if err := rep.Write(&buf, format); err != nil {
			t.Fatal(err)
		}
		want := "switched off by automation at 2025-03-12 12:02 UTC"
		if format == feature.Markdown {
			want = `switched off by automation at 2025\-03\-12 12:02 UTC`
		}
		if !strings.Contains(buf.String(), want) {
			t.Errorf("%v report does not say the feature is switched off:\n%s", format, buf.String())
		}
	}
	var back feature.Report
	var buf bytes.Buffer
	_ = rep.Write(&buf, feature.JSON)
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, fr := range back.Features {
		if (fr.Switch != nil) != (fr.Name == "orders.bulk") || (fr.Switch != nil && (fr.Switch.On || fr.Switch.Actor != "automation")) {
			t.Errorf("JSON switch of %s: %+v", fr.Name, fr.Switch)
		}
	}
}

func TestSwitchHandler(t *testing.T) {
	sink := &audittest.Recorder{}
	r, _ := newRegistry(t)
	f := define(t, r, "orders.bulk", start)
	g := &audit.Guard{Authorize: audit.BearerTokens(
		audit.Token{Secret: "ops", Actor: "oncall-anna", Actions: []audit.Action{feature.SwitchAction}},
		audit.Token{Secret: "support", Actor: "support-bo", Actions: []audit.Action{feature.SupportAction}},
	), Sink: sink, Release: "v1.2.3"}
	h := r.SwitchHandler(g)
	do := func(method, body, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/features/switch", strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	off := url.Values{"name": {"orders.bulk"}, "on": {"false"}, "why": {"pricing down"}, "trial": {"0.1"}}.Encode()
	if rec := do("POST", off, ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", rec.Code)
	}
	if rec := do("POST", off, "support"); rec.Code != http.StatusForbidden {
		t.Errorf("a token without %s: %d", feature.SwitchAction, rec.Code)
	}
	if !f.Enabled(context.Background()) || len(sink.Records()) != 0 {
		t.Fatal("a refused request switched or was audited")
	}
	for _, tt := range []struct{ body, mention string }{
		{url.Values{"name": {"nope"}, "on": {"false"}}.Encode(), "name"},
		{url.Values{"name": {"orders.bulk"}, "on": {"maybe"}}.Encode(), "on"},
		{url.Values{"name": {"orders.bulk"}, "on": {"false"}, "trial": {"lots"}}.Encode(), "trial"},
		{url.Values{"name": {"orders.bulk"}, "on": {"false"}, "trial": {"0.9"}}.Encode(), "trial 0.9"},
	} {
		if rec := do("POST", tt.body, "ops"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), tt.mention) {
			t.Errorf("POST %s: %d %s", tt.body, rec.Code, rec.Body)
		}
	}
	rec := do("POST", off, "ops")
	if rec.Code != 200 || f.Switched().On {
		t.Fatalf("switch off: %d %s", rec.Code, rec.Body)
	}
	recs := sink.Records()
	if len(recs) != 1 || recs[0].Actor != "oncall-anna" || recs[0].Action != feature.SwitchAction || recs[0].Target != "orders.bulk" ||
		recs[0].Release != "v1.2.3" || recs[0].Detail != "off (trial 10 %): pricing down" {
		t.Errorf("audit records %+v", recs)
	}
	if sw := f.Switched(); sw.On || sw.Actor != "oncall-anna" || sw.Trial != 0.1 {
		t.Errorf("state %+v", sw)
	}
	rec = do("GET", "", "ops")
	var list []struct {
		Name string `json:"name"`
		On   bool   `json:"on"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &list) != nil || len(list) != 1 || list[0].Name != "orders.bulk" || list[0].On {
		t.Errorf("GET: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("GET without a token: %d", rec.Code)
	}
	if rec := do("DELETE", "", "ops"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", rec.Code)
	}
	failing := r.SwitchHandler(&audit.Guard{Authorize: g.Authorize, Sink: failingSink{}})
	req := httptest.NewRequest("POST", "/", strings.NewReader(url.Values{"name": {"orders.bulk"}, "on": {"true"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer ops")
	w := httptest.NewRecorder()
	failing.ServeHTTP(w, req)
	if w.Code != http.StatusInternalServerError || f.Switched().On {
		t.Errorf("an unauditable switch: %d, on=%v", w.Code, f.Switched().On)
	}
}

func TestEnabledAllocatesNothing(t *testing.T) {
	r, _ := newRegistry(t, feature.WithAudit(&audittest.Recorder{}))
	f := define(t, r, "orders.bulk", start)
	ctx := r.WithTenant(context.Background(), "acme")
	if n := testing.AllocsPerRun(1000, func() { f.Enabled(ctx) }); n != 0 {
		t.Errorf("Enabled (on) allocates %v times", n)
	}
	if err := f.Switch(ctx, feature.Switch{Actor: "a", Trial: 0.2}); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { f.Enabled(ctx) }); n != 0 {
		t.Errorf("Enabled (off) allocates %v times", n)
	}
}

func TestSwitchRacesWithUse(t *testing.T) {
	r, _ := newRegistry(t, feature.WithAudit(&audittest.Recorder{}))
	f := define(t, r, "orders.bulk", start)
	ctx := r.WithTenant(context.Background(), "acme")
	var wg sync.WaitGroup
	refused := make([]int64, 4)
	for w := range 4 {
		wg.Go(func() {
			for range 2000 {
				if f.Enabled(ctx) {
					f.Use(ctx)
				} else {
					refused[w]++
				}
			}
		})
	}
	for i := range 20 {
		if err := f.Switch(ctx, feature.Switch{On: i%2 == 1, Actor: "a"}); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	var total int64
	for _, n := range refused {
		total += n
	}
	s := stat(t, r, "orders.bulk")
	if s.Today != 8000 || s.FailedToday != total || reasonCount(s, feature.SwitchedOffReason) != total {
		t.Errorf("uses %d (want 8000), failed %d, reason %d, refused %d", s.Today, s.FailedToday, reasonCount(s, feature.SwitchedOffReason), total)
	}
}
