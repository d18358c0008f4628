package queue_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)

	q, err := queue.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	q.Enqueue(ctx, []byte("first"))
	q.Enqueue(ctx, []byte("second"))
	q.Close()

	// Everything acknowledged by Enqueue survives a restart.
	q, _ = queue.Open(dir)
	defer q.Close()
	m, _ := q.TryReceive(ctx, time.Minute)
	fmt.Println(m.ID, string(m.Payload), "attempt", m.Attempt)
	q.Ack(ctx, m)
	s, _ := q.Stats(ctx)
	fmt.Println("depth", s.Depth)
	// Output:
	// 0000000000000001 first attempt 1
	// depth 1
}

func ExampleQueue_Nack() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	q, _ := queue.Open(dir, queue.WithClock(clk), queue.WithRetryPolicy(retry.Policy{
		MaxAttempts: 2, BaseDelay: time.Second, Jitter: retry.JitterNone,
	}))
	defer q.Close()
	ctx := context.Background()

	q.Enqueue(ctx, []byte("order-17"))
	m, _ := q.TryReceive(ctx, time.Minute)
	q.Nack(ctx, m, errors.New("downstream 503"))
	_, err := q.TryReceive(ctx, time.Minute)
	fmt.Println("right away:", err)

	clk.Advance(time.Second) // the backoff for attempt 1
	m, _ = q.TryReceive(ctx, time.Minute)
	fmt.Println("after 1s: attempt", m.Attempt)
	q.Nack(ctx, m, errors.New("downstream 503"))

	dead, _ := q.DeadLetters(ctx, queue.DeadFilter{Limit: 10})
	fmt.Printf("dead: %s after %d attempts: %s\n", dead[0].Payload, dead[0].Attempts, dead[0].Reason)
	// Output:
	// right away: queue: no message ready
	// after 1s: attempt 2
	// dead: order-17 after 2 attempts: downstream 503
}

func ExampleStartWorker() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)
	q, _ := queue.Open(dir)
	ctx := context.Background()

	done := make(chan string, 1)
	w, _ := queue.StartWorker(q, func(ctx context.Context, m *queue.Message) error {
		done <- string(m.Payload)
		return nil // ack; retry.Permanent(err) would dead-letter, another error nack
	}, queue.WorkerConfig{Concurrency: 2})
	q.Enqueue(ctx, []byte("hello"))
	fmt.Println("handled", <-done)

	// First the worker, bounded, then the queue.
	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	fmt.Println("shutdown:", w.Shutdown(shutdownCtx))
	fmt.Println("check:", w.Check(ctx))
	q.Close()
	// Output:
	// handled hello
	// shutdown: <nil>
	// check: queue: worker stopped: shut down
}

func ExampleHealthCheck() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	q, _ := queue.Open(dir, queue.WithClock(clk))
	defer q.Close()
	ctx := context.Background()

	backlog := queue.HealthCheck(q, queue.Limits{MaxDepth: 1000, MaxAge: 10 * time.Minute})
	dead := queue.HealthCheck(q, queue.Limits{MaxDead: 1}) // register as non-critical: warns
	q.Enqueue(ctx, []byte("waiting"))
	fmt.Println(backlog(ctx))
	clk.Advance(time.Hour)
	err := backlog(ctx)
	fmt.Println(err, errors.Is(err, queue.ErrBacklog))

	for range 2 {
		q.Enqueue(ctx, []byte("poison"))
	}
	for range 3 {
		m, _ := q.TryReceive(ctx, time.Minute)
		q.Reject(ctx, m, errors.New("bad input"))
	}
	fmt.Println(dead(ctx))
	// Output:
	// <nil>
	// queue: oldest message is 1h0m0s old, limit 10m0s true
	// queue: 3 dead letters, limit 1
}

func ExampleDefaultRetryPolicy() {
	p := queue.DefaultRetryPolicy()
	nominal, least := time.Duration(0), time.Duration(0)
	exact := p
	exact.Jitter = retry.JitterNone
	for attempt := 1; attempt < p.MaxAttempts; attempt++ {
		nominal += exact.Delay(attempt)
		least += exact.Delay(attempt) / 2 // equal jitter waits at least half
	}
	fmt.Println(p.MaxAttempts, "deliveries; waits total", nominal, "nominal, at least", least)
	// Output:
	// 33 deliveries; waits total 2h3m31s nominal, at least 1h1m45.5s
}

func ExampleQueue_RequeueDead() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)
	q, _ := queue.Open(dir)
	defer q.Close()
	ctx := context.Background()

	for _, why := range []string{"downstream: timeout", "bad input", "downstream: timeout"} {
		q.Enqueue(ctx, []byte("order"))
		m, _ := q.TryReceive(ctx, time.Minute)
		q.Reject(ctx, m, errors.New(why))
	}
	// After the outage: requeue what the downstream refused, purge the rest.
	n, _ := q.RequeueDead(ctx, queue.DeadFilter{Reason: "downstream:"})
	fmt.Println("requeued", n)
	n, _ = q.PurgeDead(ctx, queue.DeadFilter{})
	fmt.Println("purged", n)
	s, _ := q.Stats(ctx)
	fmt.Println("ready", s.Ready, "dead", s.Dead)
	// Output:
	// requeued 2
	// purged 1
	// ready 2 dead 0
}

func ExampleDeadLetterHandler() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)
	q, _ := queue.Open(dir)
	defer q.Close()
	ctx := context.Background()
	q.Enqueue(ctx, []byte("order-17"))
	m, _ := q.TryReceive(ctx, time.Minute)
	q.Reject(ctx, m, errors.New("unknown item"))

	guard := &audit.Guard{
		Authorize: func(r *http.Request, a audit.Action) (string, error) {
			if r.Header.Get("Authorization") != "Bearer s3cret" {
				return "", audit.ErrUnauthenticated
			}
			return "oncall", nil
		},
		Sink: printSink{},
	}
	h := http.StripPrefix("/queue/dead", queue.DeadLetterHandler(q, guard))

	r := httptest.NewRequest("POST", "/queue/dead/"+m.ID.String()+"/requeue", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, "without credentials")

	r.Header.Set("Authorization", "Bearer s3cret")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// 401 without credentials
	// audit: oncall queue.requeue 0000000000000001 ok
	// 200 {"action":"queue.requeue","count":1}
}

// printSink prints audit records instead of keeping them.
type printSink struct{}

func (printSink) Append(_ context.Context, r audit.Record) error {
	fmt.Println("audit:", r.Actor, r.Action, r.Target, r.Result)
	return nil
}
