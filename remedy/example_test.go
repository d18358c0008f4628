package remedy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/remedy"
	"github.com/opskit/opskit/slo"
)

// A page of the "search" objective turns the slow ranking off; it comes
// back on only once a probe of the ranking service passes, asked every
// ten minutes.
func ExampleNew() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	trail := &audittest.Recorder{} // in a service: the audit.Log
	pages := make(chan slo.Alert, 16)
	pager := slo.NotifierFunc(func(_ context.Context, a slo.Alert) error { pages <- a; return nil })

	var ranking atomic.Bool // the switch: true while ranking is used
	ranking.Store(true)
	var rankingUp atomic.Bool // what the probe of the ranking service sees

	rem, err := remedy.New(pager, remedy.WithAudit(trail), remedy.WithClock(fc),
		remedy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	err = rem.Add(remedy.Rule{Objective: "search", Actions: []remedy.Action{{
		Name:   "turn off ranking",
		Signal: "a probe of the ranking service",
		Do:     func(context.Context, slo.Alert) error { ranking.Store(false); return nil },
		Undo:   func(context.Context) error { ranking.Store(true); return nil },
		Recovered: func(context.Context) error {
			if !rankingUp.Load() {
				return errors.New("ranking: 503")
			}
			return nil
		},
	}}})
	if err != nil {
		panic(err)
	}
	mon, err := slo.New(slo.WithNotifier(rem), slo.WithClock(fc), slo.WithEvaluationInterval(-1))
	if err != nil {
		panic(err)
	}
	rem.Attach(mon)
	defer rem.Shutdown(context.Background())
	defer mon.Shutdown(context.Background())
	search := mon.MustAdd(slo.Objective{Name: "search", Target: 0.99, Runbook: "restart the ranking service"})

	search.RecordN(100, 100) // every search fails
	fc.Advance(10 * time.Second)
	mon.Evaluate() // the page fires
	page := <-pages
	fmt.Println("ranking on:", ranking.Load())
	fmt.Println("DO:", page.Do)

	fc.Advance(2 * time.Hour) // twelve probes, all failing: ranking stays off
	fmt.Println("after 2h, ranking on:", ranking.Load())
	rankingUp.Store(true)
	fc.Advance(10 * time.Minute) // the next probe passes
	fmt.Println("after recovery, ranking on:", ranking.Load())
	for _, r := range trail.Records() {
		fmt.Println("audit:", r.Actor, r.Action, r.Target, r.Result)
	}
	// Output:
	// ranking on: false
	// DO: done automatically: turn off ranking (12:00:10 UTC); undone automatically once a probe of the ranking service passes, checked every 10m0s. Left to a human: restart the ranking service
	// after 2h, ranking on: false
	// after recovery, ranking on: true
	// audit: automation remedy.run turn off ranking ok
	// audit: automation remedy.undo turn off ranking ok
}

// SwitchOff turns a failing feature off when its objective pages, lets a
// tenth of the calls through as a trial, and switches it back on once a
// check's worth of trials succeeded. Refused calls still count as bad.
func ExampleSwitchOff() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	trail := &audittest.Recorder{}
	features, err := feature.New(feature.WithClock(fc), feature.WithAudit(trail))
	if err != nil {
		panic(err)
	}
	defer features.Shutdown(context.Background())
	export := features.MustDefine("export", "team-reports", fc.Now(), "Export a report as PDF")

	pages := make(chan slo.Alert, 16)
	pager := slo.NotifierFunc(func(_ context.Context, a slo.Alert) error { pages <- a; return nil })
	rem, err := remedy.New(pager, remedy.WithAudit(trail), remedy.WithClock(fc), remedy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	defer rem.Shutdown(context.Background())
	err = rem.Add(remedy.Rule{Objective: "export", Actions: []remedy.Action{
		remedy.SwitchOff(export, remedy.Recovery{Trial: 0.1}),
	}})
	if err != nil {
		panic(err)
	}
	mon, err := slo.New(slo.WithNotifier(rem), slo.WithClock(fc), slo.WithEvaluationInterval(-1))
	if err != nil {
		panic(err)
	}
	defer mon.Shutdown(context.Background())
	rem.Attach(mon)
	tr := mon.MustAdd(slo.Objective{Name: "export", Target: 0.99})
	export.Track(tr.Record)

	pdfWorks := false
	calls := func(n int) (refused int) {
		ctx := context.Background()
		for range n {
			switch {
			case !export.Enabled(ctx):
				refused++ // counted as a failed use: the objective still sees it
			case pdfWorks:
				export.Use(ctx)
			default:
				export.FailWith(ctx, "pdf renderer: timeout")
			}
		}
		return refused
	}
	calls(100)
	fc.Advance(10 * time.Second)
	mon.Evaluate() // the page: automation switches export off
	<-pages
	fmt.Println(export.Switched().On, calls(100), "of 100 refused")
	pdfWorks = true
	for i := 0; i < 20 && !export.Switched().On; i++ {
		calls(100)
		fc.Advance(time.Minute) // trials succeed; checked every 10 minutes
	}
	fmt.Println(export.Switched())
	// Output:
	// false 90 of 100 refused
	// switched on by automation at 2026-03-01 12:20 UTC: recovered: a trial of 10% of calls passed
}
