package report_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/report"
	"github.com/opskit/opskit/slo"
)

func ExampleParseWeek() {
	w, err := report.ParseWeek("2026-W49")
	if err != nil {
		log.Fatal(err)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	fmt.Println(w, "from", w.Start(time.UTC).Format(time.RFC3339), "to", w.End(time.UTC).Format(time.RFC3339))
	fmt.Println("in Berlin from", w.Start(berlin).Format(time.RFC3339))
	fmt.Println("next", w.Next(), "after 2026-W53:", report.Week{Year: 2026, Number: 53}.Next())
	_, err = report.ParseWeek("2026-W54")
	fmt.Println(err)
	// Output:
	// 2026-W49 from 2026-11-30T00:00:00Z to 2026-12-07T00:00:00Z
	// in Berlin from 2026-11-30T00:00:00+01:00
	// next 2026-W50 after 2026-W53: 2027-W01
	// report: week "2026-W54": year 2026 has no week 54
}

// A week's report from an slo.Monitor alone: the other sections say they
// are not configured.
func ExampleBuild() {
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(monday)
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	api := m.MustAdd(slo.Objective{Name: "api", Target: 0.999})
	for range 7 * 24 {
		api.RecordN(1000, 1) // an hour's events, one of them bad
		fc.Advance(time.Hour)
	}

	r, err := report.Build(context.Background(), report.Sources{Objectives: m}, report.WeekOf(monday), nil, fc.Now())
	if err != nil {
		log.Fatal(err)
	}
	o := r.Compliance.Objectives[0]
	fmt.Printf("%s %s: %d events, %d bad, compliance %.4f, met %v, budget spent %.0f %%\n",
		r.Week, o.Name, o.Week.Events, o.Week.Bad, *o.Week.Compliance, o.Week.Met, 100*o.Week.BudgetSpent)
	fmt.Println("incidents:", r.Incidents.Status)
	// Output:
	// 2026-W49 api: 168000 events, 168 bad, compliance 0.9990, met true, budget spent 100 %
	// incidents: not configured
}

// A Writer started on Wednesday of a week writes that week when it ends,
// in three formats; a Writer started after a stop writes the weeks it
// missed.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "reports")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	fc := clock.NewFake(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)) // Wednesday of 2026-W49
	quiet := slog.New(slog.DiscardHandler)

	w, err := report.New(dir, report.Sources{}, report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		log.Fatal(err)
	}
	fc.Advance(5 * 24 * time.Hour) // past Monday 00:00: 2026-W49 is written
	w.Shutdown(context.Background())

	fc.Advance(14 * 24 * time.Hour) // two weeks down
	w, err = report.New(dir, report.Sources{}, report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		log.Fatal(err)
	}
	defer w.Shutdown(context.Background())
	files, _ := filepath.Glob(filepath.Join(dir, "2026-*"))
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// 2026-W49.html
	// 2026-W49.json
	// 2026-W49.md
	// 2026-W50.html
	// 2026-W50.json
	// 2026-W50.md
	// 2026-W51.html
	// 2026-W51.json
	// 2026-W51.md
}
