package slo_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// releaseMonitor runs "checkout" with the process's release v1.4.2 and a
// candidate v1.5.0 that fails three times as often (1 % against 3 %),
// enough events for a no-go, and a second candidate v1.5.1 with too few.
func releaseMonitor(t *testing.T) (*slo.Monitor, *clock.Fake) {
	t.Helper()
	m, fc := newMonitor(t, slo.WithRelease(release.Info{Service: "shop", Version: "v1.4.2", ID: "v1.4.2"}))
	base := m.MustAdd(slo.Objective{Name: "checkout", Target: 0.99})
	cand, err := base.ForRelease("v1.5.0")
	if err != nil {
		t.Fatal(err)
	}
	few, err := base.ForRelease("v1.5.1")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for range 60 {
		feed(rng, base, 400, 0.01)
		feed(rng, cand, 100, 0.03)
		feed(rng, few, 2, 0.01)
		fc.Advance(time.Minute)
	}
	return m, fc
}

// /slo's JSON names the process's release and lists each objective's
// releases, each but the process's own with its verdict against it.
func TestHandlerReleases(t *testing.T) {
	m, _ := releaseMonitor(t)
	rec := get(t, m.Handler(), "/slo?format=json")
	var page struct {
		Release    release.Info
		Objectives []struct {
			Objective       string
			Releases        []map[string]any
			ReleasesDropped *int `json:"releases_dropped"`
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err, rec.Body.String())
	}
	if page.Release.ID != "v1.4.2" || page.Release.Service != "shop" {
		t.Errorf("release: %+v", page.Release)
	}
	rels := page.Objectives[0].Releases
	if len(rels) != 3 || page.Objectives[0].ReleasesDropped == nil {
		t.Fatalf("releases: %v", rels)
	}
	want := []struct {
		id, decision string
		own          bool
		events       float64
	}{{"v1.4.2", "", true, 24000}, {"v1.5.0", "no-go", false, 6000}, {"v1.5.1", "not-enough-data", false, 120}}
	for i, w := range want {
		r := rels[i]
		verdict, _ := r["verdict"].(map[string]any)
		if r["release"] != w.id || r["own"] != w.own || r["good"].(float64)+r["bad"].(float64) != w.events ||
			(w.decision == "") != (verdict == nil) || (verdict != nil && verdict["decision"] != w.decision) {
			t.Errorf("release %d: %v, want %+v", i, r, w)
		}
	}

	html := get(t, m.Handler(), "/slo").Body.String()
	for _, s := range []string{"<h3>Releases</h3>", "verdict against v1.4.2", "v1.4.2 (this process)",
		`<a href="?objective=checkout&amp;candidate=v1.5.0">no-go</a>`, "not-enough-data</a>: 24000 baseline and 120 candidate events; each release needs 500"} {
		if !strings.Contains(html, s) {
			t.Errorf("page lacks %q", s)
		}
	}
}

// The verdict view a pipeline polls: JSON with the decision, HTML for
// people, 404 for an unknown objective or release, 400 for a half query.
func TestHandlerVerdictView(t *testing.T) {
	m, _ := releaseMonitor(t)
	h := m.Handler()
	rec := get(t, h, "/slo?objective=checkout&candidate=v1.5.0&format=json")
	var vv struct {
		Objective, Candidate, Baseline string
		Verdict                        release.Verdict
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &vv); err != nil || rec.Code != 200 {
		t.Fatal(rec.Code, err, rec.Body.String())
	}
	direct, err := m.Verdict("checkout", "v1.5.0", "v1.4.2")
	if err != nil {
		t.Fatal(err)
	}
	if vv.Baseline != "v1.4.2" || vv.Verdict != direct || vv.Verdict.Decision != release.NoGo {
		t.Errorf("verdict view %+v, Monitor.Verdict %+v", vv, direct)
	}
	html := get(t, h, "/slo?objective=checkout&candidate=v1.5.0&baseline=v1.4.2").Body.String()
	for _, s := range []string{`<span class="decision no-go">no-go</span>`, "Candidate <b>v1.5.0</b> against baseline <b>v1.4.2</b>",
		"the candidate fails more often than the baseline"} {
		if !strings.Contains(html, s) {
			t.Errorf("verdict page lacks %q:\n%s", s, html)
		}
	}
	for target, code := range map[string]int{
		"/slo?objective=nope&candidate=v1.5.0":                 404,
		"/slo?objective=checkout&candidate=v9":                 404,
		"/slo?objective=checkout&candidate=v1.5.0&baseline=v0": 404,
		"/slo?objective=checkout":                              400,
		"/slo?candidate=v1.5.0":                                400,
		"/slo?baseline=v1.4.2":                                 400,
		"/slo?objective=checkout&candidate=v1.4.2":             400,
		"/slo?objective=checkout&candidate=v1.5.0&format=xml":  400,
	} {
		if rec := get(t, h, target); rec.Code != code || !strings.HasPrefix(rec.Body.String(), "slo: ") {
			t.Errorf("%s: %d %q, want %d", target, rec.Code, rec.Body.String(), code)
		}
	}
}

// TestReleasesInChromium renders /slo with its releases and the verdict
// view in headless Chromium: the rendered DOM has the releases table and
// the decision, and screenshots at a desktop and a phone width come out
// at those widths. OPSKIT_SCREENSHOTS=DIR keeps the PNGs.
func TestReleasesInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	m, _ := releaseMonitor(t)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	dom := chromium(t, "--dump-dom", srv.URL+"/slo")
	for _, want := range []string{"<h3>Releases</h3>", "v1.4.2 (this process)", `class="l reason no-go"`, `class="l reason not-enough-data"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	verdictURL := srv.URL + "/slo?objective=checkout&candidate=v1.5.0"
	if dom := chromium(t, "--dump-dom", verdictURL); !strings.Contains(dom, `<span class="decision no-go">no-go</span>`) {
		t.Errorf("rendered verdict lacks the decision:\n%s", dom)
	}
	for _, shot := range []struct {
		name, url string
		width     int
	}{{"slo-releases-1280", srv.URL + "/slo", 1280}, {"slo-releases-390", srv.URL + "/slo", 390}, {"slo-verdict-390", verdictURL, 390}} {
		screenshot(t, shot.name, shot.url, shot.width, 2400)
	}
}

// FuzzVerdictQuery sends the verdict view any objective, candidate and
// baseline (and ForRelease any id): never a panic, a 200 only for a known
// pair, otherwise a 400 or 404 naming the problem.
func FuzzVerdictQuery(f *testing.F) {
	f.Add("checkout", "v1.5.0", "")
	f.Add("checkout", "v1.4.2", "v1.5.0")
	f.Add("", "v1", "x")
	f.Add("checkout", "\x00\xff", strings.Repeat("v", 80))
	m, err := slo.New(slo.WithClock(clock.NewFake(start)), slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog),
		slo.WithMeterProvider(noop.NewMeterProvider()), slo.WithRelease(release.Info{ID: "v1.4.2"}))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	tr := m.MustAdd(slo.Objective{Name: "checkout", Target: 0.99})
	if _, err := tr.ForRelease("v1.5.0"); err != nil {
		f.Fatal(err)
	}
	h := m.Handler()
	f.Fuzz(func(t *testing.T, objective, candidate, baseline string) {
		if c, err := tr.ForRelease(candidate); err == nil {
			if c.Release() != candidate || len(candidate) > 64 {
				t.Fatalf("ForRelease(%q) accepted as %q", candidate, c.Release())
			}
		}
		q := url.Values{"objective": {objective}, "candidate": {candidate}, "baseline": {baseline}, "format": {"json"}}
		rec := get(t, h, "/slo?"+q.Encode())
		switch rec.Code {
		case 200:
			if objective != "checkout" {
				t.Fatalf("200 for objective %q", objective)
			}
		case 400, 404:
			if !strings.HasPrefix(rec.Body.String(), "slo: ") {
				t.Fatalf("%d: %q", rec.Code, rec.Body.String())
			}
		default:
			t.Fatalf("status %d for %v", rec.Code, q)
		}
	})
}
