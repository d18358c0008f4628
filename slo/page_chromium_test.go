package slo_test

import (
	"context"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium runs headless Chromium with args and returns its standard
// output; it skips (or, in CI, fails) when Chromium is not installed.
func chromium(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		componentMissing(t, "chromium not installed (Debian package chromium): skipping the rendered-page checks")
	}
	profile, err := os.MkdirTemp("", "opskit-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars", "--user-data-dir=" + profile}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
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
