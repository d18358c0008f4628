package slo_test

import (
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opskit/opskit/internal/component"
)

// chromium runs headless Chromium with args and returns its standard
// output; it skips (or, in CI, fails) when Chromium is not installed.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	return component.Chromium(t, args...)
}

// TestPageInChromium renders /slo in headless Chromium: the rendered DOM
// has the chart with both axes labelled, and screenshots at a desktop and
// a phone width come out at those widths. Set OPSKIT_SCREENSHOTS=DIR to
// keep the PNGs and look at them.
func TestPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	m, _ := pageMonitor(t)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	dom := chromium(t, "--dump-dom", srv.URL+"/slo")
	svg := dom[strings.Index(dom, "<svg"):]
	svg = svg[:strings.Index(svg, "</svg>")]
	for _, want := range []string{`class="chart"`, "budget left (%)", "time (UTC), 2026-03-01 00:00 to 2026-03-01 06:02",
		">100 %<", ">0 %<", "Mar 1 03:00", `class="zero"`, `class="budget"`} {
		if !strings.Contains(svg, want) {
			t.Errorf("rendered chart lacks %q", want)
		}
	}
	if !strings.Contains(dom, `name="viewport"`) || !strings.Contains(dom, "Incidents (open and recently resolved)") {
		t.Error("rendered page lacks the viewport or the incidents")
	}

	for _, width := range []int{1280, 390} {
		screenshot(t, "slo-"+strconv.Itoa(width), srv.URL+"/slo", width, 1800)
	}
}

// screenshot has Chromium take a PNG of url at width x height, into
// $OPSKIT_SCREENSHOTS/name.png when set (to look at it), and checks it
// came out at that width.
func screenshot(t *testing.T, name, url string, width, height int) {
	t.Helper()
	dir := os.Getenv("OPSKIT_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	chromium(t, "--window-size="+strconv.Itoa(width)+","+strconv.Itoa(height), "--screenshot="+file, url)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(f)
	f.Close()
	if err != nil || cfg.Width != width {
		t.Errorf("screenshot %s at %d px: %+v, %v", name, width, cfg, err)
	}
}
