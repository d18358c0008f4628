package slo_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/slo"
)

// Testing that an objective pages, from a user's own test: the fake clock
// drives the Monitor, a callback notifier catches the alerts, and nothing
// sleeps.
func Example_pageOnFakeClock() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	pages := make(chan slo.Alert, 8)
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithInstance("test"),
		slo.WithLogger(slog.New(slog.DiscardHandler)),
		slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error {
			pages <- a
			return nil
		})))
	if err != nil {
		fmt.Println(err)
		return
	}
	orders := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999,
		Runbook: "https://runbooks.example/orders", Outcome: "customers get their orders"})
	// A day of healthy traffic, then every request fails.
	for range 8640 {
		orders.RecordN(100, 0)
		fc.Advance(10 * time.Second)
	}
	outage := fc.Now()
	for m.Evaluate()[0].Alerts[0].State != slo.Firing { // Alerts[0] is the page alert
		orders.RecordN(100, 100)
		fc.Advance(10 * time.Second)
	}
	_ = m.Shutdown(context.Background()) // delivers what is queued
	a := <-pages
	fmt.Printf("paged %v into the outage\n", fc.Now().Sub(outage))
	fmt.Println(a.Labels["severity"], a.Labels["objective"], a.Labels["source"], a.Annotations["tier"])
	fmt.Println(a.Annotations["runbook_url"])
	// Output:
	// paged 1m0s into the outage
	// page orders in-process page-1h
	// https://runbooks.example/orders
}

func ExampleMonitor_Evaluate() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	m, _ := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(slog.New(slog.DiscardHandler)))
	defer m.Shutdown(context.Background())
	orders := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	orders.RecordN(10000, 200) // 2% errors: 20x the sustainable rate
	fc.Advance(10 * time.Second)
	st := m.Evaluate()[0]
	h, _ := st.Window(time.Hour)
	fmt.Printf("1h: %d events, %d bad, burn rate %.0f\n", h.Total, h.Bad, h.BurnRate)
	for _, a := range st.Alerts {
		fmt.Println(a.Severity, a.State, a.Tier)
	}
	fmt.Println("budget exhausted:", st.BudgetExhausted, "observed:", st.Observed)
	// Output:
	// 1h: 10000 events, 200 bad, burn rate 20
	// page firing page-1h
	// ticket firing ticket-1d
	// budget exhausted: true observed: 10s
}

// A queue-backed service counts each order once: good when delivered
// within its bound of acceptance, bad when dead-lettered or still not
// delivered as the bound passes.
func ExamplePending() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	m, _ := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(slog.New(slog.DiscardHandler)))
	defer m.Shutdown(context.Background())
	fulfil := m.MustAdd(slo.Objective{Name: "fulfilment", Target: 0.99})
	orders, _ := fulfil.Pending(5 * time.Minute)
	orders.Accept("a", fc.Now())
	orders.Accept("b", fc.Now())
	orders.Accept("c", fc.Now())
	fc.Advance(time.Minute)
	orders.Complete("a", true)  // delivered in a minute: good
	orders.Complete("b", false) // dead-lettered: bad
	fc.Advance(5 * time.Minute)
	m.Evaluate()               // "c" passed its bound: bad, counted now
	orders.Complete("c", true) // delivered late: already counted
	w, _ := m.Status()[0].Window(time.Hour)
	fmt.Printf("%d orders, %d bad, %d pending\n", w.Total, w.Bad, orders.Len())
	// Output: 3 orders, 2 bad, 0 pending
}

func ExampleTracker_RecordLatency() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	m, _ := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1))
	defer m.Shutdown(context.Background())
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
		DisableTiers: []string{"ticket-1d", "ticket-3d"}})
	pay.RecordN(1000, 1000)
	m.Evaluate()
	_ = m.Shutdown(context.Background()) // delivers what is queued
	a := <-got
	fmt.Println(a.State, a.Severity, a.Tier)
	fmt.Println(a.Annotations["description"][:38])
	// Output:
	// firing page page-1h
	// If objective pay (target 99.9% over 30
}

// Two replicas of one service share a fleet store: each shows the fleet's
// budget and its own share, and one of them leads (evaluates alerts,
// notifies, writes incidents). fleet.NewMemory stands in for the
// PostgreSQL store of module github.com/opskit/opskit/postgres.
func ExampleWithStore() {
	fc := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	store := fleet.NewMemory(fc)
	var replicas []*slo.Monitor
	for _, name := range []string{"pod-a", "pod-b"} {
		m, err := slo.New(slo.WithStore(store), slo.WithInstance(name), slo.WithClock(fc),
			slo.WithEvaluationInterval(-1), slo.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer m.Shutdown(context.Background())
		replicas = append(replicas, m)
	}
	replicas[0].MustAdd(slo.Objective{Name: "orders", Target: 0.99}).RecordN(300, 3)
	replicas[1].MustAdd(slo.Objective{Name: "orders", Target: 0.99}).RecordN(100, 0)
	fc.Advance(10 * time.Second)
	for range 2 { // the first round publishes, the second reads the other's counts
		for _, m := range replicas {
			m.Evaluate()
		}
	}
	for _, m := range replicas {
		st := m.Status()[0]
		fmt.Printf("leader=%t fleet: %d events, %d bad;", m.Leader(), st.Budget.Total, st.Budget.Bad)
		for _, sh := range st.Replicas {
			fmt.Printf(" %s %d", sh.Instance, sh.Budget.Total)
		}
		fmt.Println()
	}
	// Output:
	// leader=true fleet: 400 events, 3 bad; pod-a 300 pod-b 100
	// leader=false fleet: 400 events, 3 bad; pod-a 300 pod-b 100
}
