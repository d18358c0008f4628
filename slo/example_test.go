package slo_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/opskit/opskit/internal/clock"
	"github.com/opskit/opskit/slo"
)

func ExampleMonitor_Evaluate() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	m, _ := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(slog.New(slog.DiscardHandler)))
	defer m.Close()
	orders := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	orders.RecordN(10000, 200) // 2% errors: 20x the sustainable rate
	fc.Advance(10 * time.Second)
	st := m.Evaluate()[0]
	h, _ := st.Window(time.Hour)
	fmt.Printf("1h: %d events, %d bad, burn rate %.0f\n", h.Total, h.Bad, h.BurnRate)
	for _, a := range st.Alerts {
		fmt.Println(a.Tier, a.State)
	}
	// Output:
	// 1h: 10000 events, 200 bad, burn rate 20
	// page-1h firing
	// page-6h suppressed
	// ticket-1d suppressed
	// ticket-3d suppressed
	// budget-exhausted firing
}

func ExampleTracker_RecordLatency() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	m, _ := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1))
	defer m.Close()
	api := m.MustAdd(slo.Objective{Name: "api", Target: 0.99, Latency: []slo.Threshold{{Max: 300 * time.Millisecond}}})
	for _, d := range []time.Duration{50, 120, 450, 80} {
		api.RecordLatency(d * time.Millisecond)
	}
	w, _ := m.Status()[0].Window(time.Hour)
	fmt.Printf("%d of %d slower than 300ms\n", w.Bad, w.Total)
	// Output: 1 of 4 slower than 300ms
}

func ExampleObjective_Validate() {
	err := slo.Objective{Name: "batch", Target: 0.9}.Validate()
	var ve *slo.ValidationError
	fmt.Println(errors.As(err, &ve), ve.Field)
	// Output: true Tiers[0].BurnRate
}

func ExampleNotifierFunc() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	got := make(chan slo.Alert, 4)
	m, _ := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1),
		slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error { got <- a; return nil })))
	pay := m.MustAdd(slo.Objective{Name: "pay", Target: 0.999, Runbook: "roll back", Outcome: "customers can pay",
		DisableTiers: []string{slo.BudgetExhausted}})
	pay.RecordN(1000, 1000)
	m.Evaluate()
	m.Close() // delivers what is queued
	a := <-got
	fmt.Println(a.State, a.Tier)
	fmt.Println("DO", a.Do, "SO THAT", a.SoThat)
	// Output:
	// firing page-1h
	// DO roll back SO THAT customers can pay
}

func ExampleRules() {
	rules, _ := slo.Rules(slo.Objective{Name: "orders", Target: 0.999})
	for _, line := range strings.Split(rules, "\n") {
		if strings.Contains(line, "alert:") || strings.Contains(line, "tier:") {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	// Output:
	// - alert: SLOBurnRate
	// tier: "page-1h"
	// - alert: SLOBurnRate
	// tier: "page-6h"
	// - alert: SLOBurnRate
	// tier: "ticket-1d"
	// - alert: SLOBurnRate
	// tier: "ticket-3d"
	// - alert: SLOBudgetExhausted
	// tier: "budget-exhausted"
}
