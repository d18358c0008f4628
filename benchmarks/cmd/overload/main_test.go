package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplaceSection(t *testing.T) {
	f := filepath.Join(t.TempDir(), "RESULTS.md")
	if err := os.WriteFile(f, []byte("# Results\n\nother section\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := replaceSection(f, []byte("first\n")); err != nil {
		t.Fatal(err)
	}
	if err := replaceSection(f, []byte("second\n")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f)
	want := "# Results\n\nother section\n\n" + beginMarker + "\n\nsecond\n\n" + endMarker + "\n"
	if string(b) != want {
		t.Fatalf("file:\n%s\nwant:\n%s", b, want)
	}
	if err := os.WriteFile(f, []byte(endMarker+"\n"+beginMarker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := replaceSection(f, []byte("x")); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("markers out of order: %v", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-loads", "2,x"}, {"-slots", "1"}, {"-duration", "0s"}, {"extra"}} {
		var out, errs strings.Builder
		if err := run(t.Context(), args, &out, &errs); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
