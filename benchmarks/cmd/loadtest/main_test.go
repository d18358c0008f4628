package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/benchmarks/loadtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseFlagsRejectsBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"-connections", "0"},
		{"-rounds", "0"},
		{"-duration", "0s"},
		{"-downstream", "carrier-pigeon"},
		{"extra"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	c, err := parseFlags(nil, io.Discard)
	if err != nil || c.connections != 8 || c.rounds != 3 || c.duration != 10*time.Second || c.downstream != "loopback" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
}

func TestSectionShowsTableRatiosAndGoals(t *testing.T) {
	m := &measurement{
		bare:    []loadtest.Result{{Requests: 1000, Elapsed: time.Second, P99: 2 * time.Millisecond}},
		opskit:  []loadtest.Result{{Requests: 900, Elapsed: time.Second, P99: 2100 * time.Microsecond}},
		scrapes: 12,
	}
	var b bytes.Buffer
	cfg := config{connections: 8, duration: time.Second, warmup: time.Second, rounds: 1, scrape: time.Second, downstream: "memory"}
	m.write(&b, cfg, time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC))
	out := b.String()
	for _, want := range []string{
		"## Load test, 2026-01-02 03:04 UTC",
		"run in one process on loopback and share these CPUs",
		"8 connections; 1 round,",
		"in memory, no socket",
		"(12 times, every answer as expected)",
		"| opskit | 900 |",
		"opskit/bare 0.900",
		"throughput opskit/bare 0.900 (goal ≥ 0.95: **missed**); p99 opskit/bare 1.050 (goal ≤ 1.10: met)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("section lacks %q:\n%s", want, out)
		}
	}
	if err := m.failure(); err != nil {
		t.Errorf("failure() = %v with no errors", err)
	}
	m.opskit[0].Errors = 3
	if err := m.failure(); err == nil || !strings.Contains(err.Error(), "opskit 3") {
		t.Errorf("failure() = %v, want failed requests counted", err)
	}
}

// The section goes after everything already there, so the benchmark table
// between make bench's markers and earlier load tests stay as they were.
func TestAppendSectionKeepsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	before := "# Benchmark results\n\n<!-- bench:begin -->\ntable\n<!-- bench:end -->\n\n## Load test, earlier\n"
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := appendSection(path, []byte("## Load test, now\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := before + "\n## Load test, now\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	fresh := filepath.Join(t.TempDir(), "new.md")
	if err := appendSection(fresh, []byte("## Load test\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(fresh); string(got) != "## Load test\n" {
		t.Fatalf("new file: %q", got)
	}
}
