package component

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Chromium runs headless Chromium with args (e.g. "--dump-dom", URL or
// "--window-size=390,1800", "--screenshot=FILE", URL) in a throwaway
// profile, without network services of its own, and returns its standard
// output. Without a chromium binary it calls Missing; a run that fails or
// takes over 90 seconds fails tb.
func Chromium(tb testing.TB, args ...string) string {
	tb.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		Missing(tb, "Chromium", "install the Debian package chromium")
	}
	profile, err := os.MkdirTemp("", "opskit-chromium-")
	if err != nil {
		tb.Fatal(err)
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
		tb.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}
