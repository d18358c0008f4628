package report_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/report"
	"github.com/opskit/opskit/slo"
)

type brokenQueue struct{}

func (brokenQueue) Stats(context.Context) (queue.Stats, error) {
	return queue.Stats{Depth: 7}, errors.New("queue: log refuses work: disk full")
}

type brokenFeatures struct{}

func (brokenFeatures) Report(feature.Policy) (*feature.Report, error) {
	return nil, errors.New("feature: snapshot unreadable")
}

// TestFailingSources: a source that fails makes its section say so, with
// what it read before failing; the other sections are unaffected and
// every format still renders.
func TestFailingSources(t *testing.T) {
	at := monday.Add(50 * time.Hour)
	src := report.Sources{
		Queue:    brokenQueue{},
		Features: brokenFeatures{},
		Incidents: func(context.Context, time.Time, time.Time) ([]slo.Incident, error) {
			return nil, errors.New("slo: incident log line 3: unexpected end of JSON input")
		},
		Audit: func(context.Context, time.Time, time.Time) ([]audit.Record, error) {
			return []audit.Record{{Time: monday.Add(time.Hour), Actor: "ann", Action: "queue.purge", Result: "ok"}},
				errors.New("audit: record 2 (line 2, offset 190): hash does not match")
		},
	}
	r, err := report.Build(context.Background(), src, report.WeekOf(monday), time.UTC, at)
	if err != nil {
		t.Fatal(err)
	}
	if r.Complete || !r.To.Equal(at) {
		t.Errorf("a running week: complete %v to %v", r.Complete, r.To)
	}
	for name, c := range map[string]struct {
		s    report.Section
		note string
	}{
		"queue":       {r.Queue.Section, "disk full"},
		"features":    {r.Features.Section, "snapshot unreadable"},
		"incidents":   {r.Incidents.Section, "line 3"},
		"noise":       {r.Noise.Section, "line 3"},
		"maintenance": {r.Maintenance.Section, "hash does not match"},
	} {
		if c.s.Status != report.Failed || !strings.Contains(c.s.Note, c.note) {
			t.Errorf("%s: %+v, want failed with %q", name, c.s, c.note)
		}
	}
	if r.Maintenance.Actions != 1 || r.Queue.Depth != 7 || r.Compliance.Status != report.NotConfigured {
		t.Errorf("figures read before the failures: actions %d depth %d; compliance %q", r.Maintenance.Actions, r.Queue.Depth, r.Compliance.Status)
	}
	for _, f := range []report.Format{report.HTML, report.Markdown, report.JSON} {
		var b strings.Builder
		if err := r.Write(&b, f); err != nil || !strings.Contains(b.String(), "hash does not match") {
			t.Errorf("%s: %v, the failure is not said", f, err)
		}
	}
	if err := r.Write(&strings.Builder{}, "pdf"); err == nil || !strings.Contains(err.Error(), `report: format "pdf"`) {
		t.Errorf("format pdf: %v", err)
	}
	if _, err := report.Build(context.Background(), src, report.WeekOf(monday).Next(), nil, at); err == nil ||
		!strings.Contains(err.Error(), "2026-W50 has not started") {
		t.Errorf("a future week: %v", err)
	}
}
