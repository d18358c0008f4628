package opskit_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/health"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
	"github.com/opskit/opskit/slo"
)

// Example wires every package into one service, as the package overview
// describes. It is compiled, not run: it would listen on a port.
func Example() {
	// Probes: /livez /readyz /startupz /healthz.
	checks, err := health.New()
	if err != nil {
		log.Fatal(err)
	}
	defer checks.Close()

	// Calls to the downstream: retries with a budget and a per-host breaker.
	transport, err := retry.NewTransport(retry.Policy{MaxAttempts: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer transport.Close()
	client := &http.Client{Transport: transport}

	// Work that must not be lost when the downstream is down.
	orders, err := queue.Open("data/orders")
	if err != nil {
		log.Fatal(err)
	}
	defer orders.Close()

	// The promise to customers, with alerts that say what to do.
	objectives, err := slo.New()
	if err != nil {
		log.Fatal(err)
	}
	defer objectives.Close()
	fulfilment := objectives.MustAdd(slo.Objective{Name: "orders", Target: 0.999,
		Runbook: "restore the downstream", Outcome: "orders ship on time"})
	latency := objectives.MustAdd(slo.Objective{Name: "orders-latency", Target: 0.99,
		Latency: []slo.Threshold{{Max: 300 * time.Millisecond}}})

	// Which features are used, by how many tenants.
	features, err := feature.New(feature.WithDir("data/features"))
	if err != nil {
		log.Fatal(err)
	}
	defer features.Close()
	placeOrder := features.MustDefine("place-order", "team-orders",
		time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), "Customer places an order")

	// Components meet through plain values: each offers a health check.
	checks.MustRegister(
		health.Check{Name: "breaker", Probes: health.Readiness, NonCritical: true, Func: transport.Check},
		health.Check{Name: "orders-backlog", Probes: health.Readiness, NonCritical: true,
			Func: queue.HealthCheck(orders, 10_000, time.Hour)},
	)

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		placeOrder.Use(features.WithTenant(r.Context(), r.Header.Get("X-Tenant")))
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://downstream.internal/ok", nil)
		resp, err := client.Do(req)
		fulfilment.Record(err == nil)
		if err != nil { // keep the order; a queue.Worker delivers it later
			orders.Enqueue(context.WithoutCancel(r.Context()), []byte("order"))
			w.WriteHeader(http.StatusAccepted)
			return
		}
		resp.Body.Close()
	})

	mux := http.NewServeMux()
	checks.Mount(mux)
	mux.Handle("POST /orders", slo.Middleware(handler, latency))
	mux.Handle("GET /slo", objectives.Handler())
	mux.Handle("GET /features", features.Handler(feature.Policy{}))
	if err := checks.Start(); err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", mux))
}
