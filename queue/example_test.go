package queue_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

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

	dead, _ := q.DeadLetters(ctx, 10)
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
		return nil // ack
	}, queue.WorkerConfig{Concurrency: 2})
	q.Enqueue(ctx, []byte("hello"))
	fmt.Println("handled", <-done)

	w.Close() // first the worker, then the queue
	q.Close()
	// Output:
	// handled hello
}

func ExampleHealthCheck() {
	dir, _ := os.MkdirTemp("", "queue-example")
	defer os.RemoveAll(dir)
	clk := clock.NewFake(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	q, _ := queue.Open(dir, queue.WithClock(clk))
	defer q.Close()

	check := queue.HealthCheck(q, 1000, 10*time.Minute)
	q.Enqueue(context.Background(), []byte("waiting"))
	fmt.Println(check(context.Background()))
	clk.Advance(time.Hour)
	err := check(context.Background())
	fmt.Println(err, errors.Is(err, queue.ErrBacklog))
	// Output:
	// <nil>
	// queue: oldest message is 1h0m0s old, limit 10m0s true
}
