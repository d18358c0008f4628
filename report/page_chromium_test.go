package report_test

import (
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opskit/opskit/internal/component"
)

// tag matches an HTML tag; external, in a tag, what would make a mail
// client fetch something or run code: scripts, event handlers, URLs, CSS
// imports and urls, embedded objects.
var (
	tag      = regexp.MustCompile(`<[^>]*>`)
	external = regexp.MustCompile(`(?i)<script|<link|<img|<iframe|<object|<embed|<form|<base|\son[a-z]+\s*=|\ssrc\s*=|\shref\s*=|https?:|url\(|@import|expression\(`)
)

// TestPageInChromium renders a scripted week's HTML report, with a
// hostile audit record in it, in headless Chromium: the page has no
// script and nothing external, the hostile text shows as text, every
// section is there, and screenshots at a desktop and a phone width come
// out at those widths. Set OPSKIT_SCREENSHOTS=DIR to keep the PNGs.
func TestPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	w, out := scriptedWeek(t, func(w *world) {
		w.audit(`<script>alert("x")</script>`, "queue.requeue", `"><img src=x onerror=alert(1)>`, "ok")
	})
	page := readFile(t, filepath.Join(out, "2026-W49.html"))
	for _, tg := range tag.FindAllString(page, -1) {
		if m := external.FindString(tg); m != "" {
			t.Fatalf("the page's tag %s has %q: a mail client would fetch or run it", tg, m)
		}
	}
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Fatal("the page has a script")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("the hostile actor is not escaped as text")
	}

	srv := httptest.NewServer(http.FileServer(http.Dir(out)))
	defer srv.Close()
	dom := component.Chromium(t, "--dump-dom", srv.URL+"/2026-W49.html")
	for _, want := range []string{"Weekly ops report 2026-W49, shop", "Service levels", "Incidents", "Notifications (the noise)",
		"Maintenance performed", "Releases", "Queue", "Features", `&lt;script&gt;alert("x")&lt;/script&gt;`,
		strconv.FormatInt(w.enqueued, 10) + " accepted"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, "<script>") {
		t.Error("the rendered page has a script")
	}

	shots := os.Getenv("OPSKIT_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, width := range []int{1024, 390} {
		file := filepath.Join(shots, "report-"+strconv.Itoa(width)+".png")
		component.Chromium(t, "--window-size="+strconv.Itoa(width)+",2600", "--screenshot="+file, srv.URL+"/2026-W49.html")
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != width {
			t.Errorf("screenshot at %d px: %+v, %v", width, cfg, err)
		}
	}
}
