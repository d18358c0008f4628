package slo_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// openRecord is a version 2 "opened" record of objective orders at start.
const openRecord = `{"v":2,"change":"opened","at":"2026-03-01T00:00:00Z","incident":{"id":"orders/20260301T000000Z","objective":"orders","severity":"page","tier":"page-1h","started":"2026-03-01T00:00:00Z","updated":"2026-03-01T00:00:00Z","start":{"long_window":"1h0m0s","short_window":"5m0s"},"peak":{"long_window":"1h0m0s","short_window":"5m0s"},"pages":1,"tickets":0}}`

func readLog(t *testing.T, path string) []slo.IncidentRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := slo.ReadIncidentLog(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("log after repair: %v\n%s", err, b)
	}
	return recs
}

// A record torn by a crash is cut before the next append, so the next
// record (here the resolution) is not swallowed by it.
func TestTornTailIsCutBeforeAppending(t *testing.T) {
	for _, tail := range []string{`{"v":2,"change":"resolved","at":"2026-03-01T00:0`, `{"v":2,"chan`} {
		path := filepath.Join(t.TempDir(), "incidents.jsonl")
		if err := os.WriteFile(path, []byte(openRecord+"\n"+tail), 0o600); err != nil {
			t.Fatal(err)
		}
		m, fc := newMonitor(t, slo.WithIncidentLog(path))
		m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
		fc.Advance(time.Minute)
		m.Evaluate() // nothing burns: the resumed episode resolves
		recs := readLog(t, path)
		if len(recs) != 2 || recs[1].Change != "resolved" || recs[1].Incident.ID != "orders/20260301T000000Z" {
			t.Fatalf("records after a torn tail: %+v", recs)
		}
		if incs := slo.Incidents(recs); len(incs) != 1 || incs[0].Open() {
			t.Errorf("incident should be resolved: %+v", incs)
		}
	}
}

// A last record that only lacks its newline is kept, not cut.
func TestCompleteLastRecordWithoutNewlineIsKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidents.jsonl")
	if err := os.WriteFile(path, []byte(openRecord), 0o600); err != nil {
		t.Fatal(err)
	}
	m, fc := newMonitor(t, slo.WithIncidentLog(path))
	m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	fc.Advance(time.Minute)
	m.Evaluate()
	if recs := readLog(t, path); len(recs) != 2 || recs[0].Change != "opened" || recs[1].Change != "resolved" {
		t.Fatalf("records: %+v", recs)
	}
}

// Version 1 logs (one incident per tier, no "v") stay readable; two open
// tiers of one objective resume as one episode.
func TestVersion1LogIsReadAndMerged(t *testing.T) {
	v1 := strings.Join([]string{
		`{"change":"opened","at":"2026-03-01T00:00:00Z","incident":{"id":"orders/page-1h/20260301T000000Z","objective":"orders","tier":"page-1h","severity":"page","started":"2026-03-01T00:00:00Z","updated":"2026-03-01T00:00:00Z","start":{"long_window":"1h0m0s","short_window":"5m0s","burn_rate_long":20},"peak":{"long_window":"1h0m0s","short_window":"5m0s","burn_rate_long":20}}}`,
		`{"change":"opened","at":"2026-03-01T00:01:00Z","incident":{"id":"orders/budget-exhausted/20260301T000100Z","objective":"orders","tier":"budget-exhausted","severity":"ticket","started":"2026-03-01T00:01:00Z","updated":"2026-03-01T00:01:00Z","start":{"long_window":"720h0m0s","short_window":"720h0m0s"},"peak":{"long_window":"720h0m0s","short_window":"720h0m0s"}}}`,
	}, "\n") + "\n"
	recs, err := slo.ReadIncidentLog(strings.NewReader(v1))
	if err != nil || len(recs) != 2 || recs[0].Version != 1 {
		t.Fatalf("v1 records: %+v, %v", recs, err)
	}
	if incs := slo.Incidents(recs); len(incs) != 2 || incs[0].Pages != 1 || incs[1].Tickets != 1 {
		t.Fatalf("v1 incidents: %+v", incs)
	}
	path := filepath.Join(t.TempDir(), "incidents.jsonl")
	if err := os.WriteFile(path, []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	m, _ := newMonitor(t, slo.WithIncidentLog(path))
	m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	var open []slo.Incident
	for _, inc := range m.Incidents() {
		if inc.Open() {
			open = append(open, inc)
		}
	}
	if len(open) != 1 || open[0].ID != "orders/page-1h/20260301T000000Z" || open[0].Pages != 1 || open[0].Tickets != 0 {
		t.Fatalf("open after resuming a v1 log: %+v", open)
	}
	if recs := readLog(t, path); recs[2].Change != "resolved" || recs[2].Version != 2 || !strings.Contains(recs[2].Why, "merged") {
		t.Errorf("the second v1 incident should be resolved as merged: %+v", recs[2])
	}
}

func TestIncidentLogCreatesItsDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "slo", "incidents.jsonl")
	m, _ := newMonitor(t, slo.WithIncidentLog(path))
	m.MustAdd(slo.Objective{Name: "a", Target: 0.99})
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log: %v %v", err, fi)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", di.Mode().Perm())
	}
}
