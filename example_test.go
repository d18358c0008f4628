package opskit_test

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/health"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
	"github.com/opskit/opskit/slo"
)

// Example wires every package into one service, as the package overview
// describes, and shuts it down in the documented order. It is compiled,
// not run: it would serve until interrupted.
func Example() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Probes: /livez /readyz /startupz /healthz.
	checks, err := health.New()
	if err != nil {
		log.Fatal(err)
	}

	// Calls to the downstream: retries with a budget and a per-host breaker.
	transport, err := retry.NewTransport(retry.Policy{MaxAttempts: 3})
	if err != nil {
		log.Fatal(err)
	}
	client := &http.Client{Transport: transport}
	deliver := func(ctx context.Context, order []byte) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://downstream.internal/orders", bytes.NewReader(order))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}

	// Work that must not be lost when the downstream is down, delivered
	// by a worker once it is back.
	orders, err := queue.Open("data/orders")
	if err != nil {
		log.Fatal(err)
	}
	worker, err := queue.StartWorker(orders, func(ctx context.Context, m *queue.Message) error {
		return deliver(ctx, m.Payload) // an error redelivers after a backoff
	}, queue.WorkerConfig{Concurrency: 4})
	if err != nil {
		log.Fatal(err)
	}

	// The promise to customers, with alerts that say what to do.
	objectives, err := slo.New()
	if err != nil {
		log.Fatal(err)
	}
	fulfilment := objectives.MustAdd(slo.Objective{Name: "orders", Target: 0.999,
		Runbook: "restore the downstream", Outcome: "orders ship on time"})
	latency := objectives.MustAdd(slo.Objective{Name: "orders-latency", Target: 0.99,
		Latency: []slo.Threshold{{Max: 300 * time.Millisecond}}})

	// Which features are used, by how many tenants.
	features, err := feature.New(feature.WithDir("data/features"))
	if err != nil {
		log.Fatal(err)
	}
	placeOrder := features.MustDefine("place-order", "team-orders",
		time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), "Customer places an order")

	// Components meet through plain values: each offers a health check.
	checks.MustRegister(
		health.Check{Name: "breaker", Probes: health.Readiness, NonCritical: true, Func: transport.Check},
		health.Check{Name: "orders-backlog", Probes: health.Readiness, NonCritical: true,
			Func: queue.HealthCheck(orders, queue.Limits{MaxDepth: 10_000, MaxAge: time.Hour})},
	)

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		placeOrder.Use(features.WithTenant(r.Context(), r.Header.Get("X-Tenant")))
		order := []byte(`{"item":"book"}`)
		err := deliver(r.Context(), order)
		fulfilment.Record(err == nil)
		if err != nil { // keep the order; the worker delivers it later
			if _, err := orders.Enqueue(context.WithoutCancel(r.Context()), order); err != nil {
				http.Error(w, "try again later", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusAccepted)
		}
	})

	mux := http.NewServeMux()
	checks.Mount(mux)
	mux.Handle("POST /orders", slo.Middleware(handler, latency))
	mux.Handle("GET /slo", objectives.Handler())
	mux.Handle("GET /features", features.Handler(feature.Policy{}))
	if err := checks.Start(); err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			log.Print(err)
			stop()
		}
	}()
	<-ctx.Done()

	// Shut down in the order work flows through the service, all of it
	// within 30 seconds: each step returns when the context ends, saying
	// what it left undone.
	down, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, step := range []struct {
		name string
		err  func() error
	}{
		{"http server", func() error { return checks.DrainAndShutdown(down, srv, 5*time.Second) }},
		{"queue worker", func() error { return worker.Shutdown(down) }},
		{"queue", orders.Close},
		{"objectives", func() error { return objectives.Shutdown(down) }},
		{"features", func() error { return features.Shutdown(down) }},
		{"transport", transport.Close},
		{"checks", func() error { return checks.Shutdown(down) }},
	} {
		if err := step.err(); err != nil {
			log.Printf("shutdown: %s: %v", step.name, err)
		}
	}
}
