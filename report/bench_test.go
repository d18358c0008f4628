package report_test

import (
	"context"
	"io"
	"testing"

	"github.com/opskit/opskit/report"
)

// BenchmarkBuildWeek builds the scripted week's report from the real
// components (incident log and audit log read from their files) and
// renders it in the three formats: the cost of one weekly report, or of
// one /report?week=current.
func BenchmarkBuildWeek(b *testing.B) {
	w, _ := scriptedWeek(b, nil)
	src := w.sources()
	b.ReportAllocs()
	for b.Loop() {
		r, err := report.Build(context.Background(), src, report.WeekOf(monday), nil, w.fc.Now())
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range []report.Format{report.HTML, report.Markdown, report.JSON} {
			if err := r.Write(io.Discard, f); err != nil {
				b.Fatal(err)
			}
		}
	}
}
