package slo_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// A candidate release served by the same process: its Tracker records
// under its own release, and a deploy pipeline asks for the verdict
// against the process's release as often as it likes.
func ExampleTracker_ForRelease() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(slog.New(slog.DiscardHandler)),
		slo.WithRelease(release.Info{Service: "shop", Version: "v1.4.2", ID: "v1.4.2"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Shutdown(context.Background())
	checkout := m.MustAdd(slo.Objective{Name: "checkout", Target: 0.99})
	candidate, err := checkout.ForRelease("v1.5.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	for minute := 1; ; minute++ {
		checkout.RecordN(900, 9)  // the baseline fails 1 %
		candidate.RecordN(100, 3) // the candidate 3 %
		fc.Advance(time.Minute)
		v, err := m.Verdict("checkout", "v1.5.0", "") // "": against v1.4.2
		if err != nil {
			fmt.Println(err)
			return
		}
		if v.Decision != release.NotEnoughData {
			fmt.Printf("after %d minutes (%d candidate events): %s\n", minute, v.Candidate.Total(), v.Decision)
			break
		}
	}
	// Output:
	// after 5 minutes (500 candidate events): no-go
}

// The figures of a week for a report: exact sums of what was recorded,
// here at an hour's resolution.
func ExampleMonitor_Range() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Shutdown(context.Background())
	api := m.MustAdd(slo.Objective{Name: "api", Target: 0.999})
	for hour := range 14 * 24 {
		bad := int64(0)
		if hour == 9*24+3 { // one bad hour in the second week
			bad = 50
		}
		api.RecordN(10000, bad)
		fc.Advance(time.Hour)
	}
	week := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	rs, err := m.Range("api", week, week.AddDate(0, 0, 7))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s to %s at %v: %d good, %d bad, compliance %.5f, met %v, %.0f %% of the budget spent\n",
		rs.From.Format(time.DateOnly), rs.To.Format(time.DateOnly), rs.Resolution, rs.Good, rs.Bad, rs.Compliance, rs.Met, 100*rs.BudgetSpent)
	// Output:
	// 2026-03-08 to 2026-03-15 at 1h0m0s: 1679950 good, 50 bad, compliance 0.99997, met true, 3 % of the budget spent
}
