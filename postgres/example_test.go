package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opskit/opskit/postgres"
	"github.com/opskit/opskit/queue"
)

// Names are checked before any SQL is built from them.
func ExampleValidIdentifier() {
	fmt.Println(postgres.ValidIdentifier("orders_queue"))
	fmt.Println(postgres.ValidIdentifier("Orders"))
	// Output:
	// <nil>
	// name "Orders" has 'O' at byte 0, want lower-case letters, digits (not first) and underscores
}

// OpenQueue on a table that Migrate has not created says so, and nothing else
// runs. This example needs a database, so it has no checked output: go
// test compiles it but does not run it (the package's tests run the same
// calls against a real PostgreSQL).
func ExampleOpenQueue() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("OPSKIT_POSTGRES_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	q, err := postgres.OpenQueue(ctx, pool, postgres.WithSchema("shop"), postgres.WithTable("orders"))
	if errors.Is(err, postgres.ErrNotMigrated) {
		if err = postgres.Migrate(ctx, pool, postgres.WithSchema("shop"), postgres.WithTable("orders")); err == nil {
			q, err = postgres.OpenQueue(ctx, pool, postgres.WithSchema("shop"), postgres.WithTable("orders"))
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	if _, err := q.Enqueue(ctx, []byte("order 42"), queue.WithDedupeKey("order-42")); err != nil {
		log.Fatal(err)
	}
	m, err := q.Receive(ctx, 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s attempt %d\n", m.Payload, m.Attempt)
	if err := q.Ack(ctx, m); err != nil {
		log.Fatal(err) // queue.ErrLeaseLost: the lease expired, someone else has it
	}
}

// EnqueueTx stores the message in the caller's transaction: the order row
// and its message commit together or not at all. Compile-only, like
// ExampleOpenQueue, because it needs a database.
func ExampleQueue_EnqueueTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("OPSKIT_POSTGRES_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	q, err := postgres.OpenQueue(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO orders (id, item) VALUES ($1, $2)`, 42, "book"); err != nil {
			return err
		}
		_, err := q.EnqueueTx(ctx, tx, []byte(`{"order":42}`), queue.WithDedupeKey("order-42"))
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}

// EnqueueBatch stores many messages in one transaction; a taken dedupe key
// fails only its own item. Compile-only: it needs a database.
func ExampleQueue_EnqueueBatch() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("OPSKIT_POSTGRES_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	q, err := postgres.OpenQueue(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	items := []postgres.Item{
		{Payload: []byte(`{"order":1}`), Options: []queue.EnqueueOption{queue.WithDedupeKey("order-1")}},
		{Payload: []byte(`{"order":2}`), Options: []queue.EnqueueOption{queue.WithDedupeKey("order-2")}},
	}
	results, err := q.EnqueueBatch(ctx, items)
	if err != nil {
		log.Fatal(err) // nothing stored
	}
	for i, r := range results {
		if errors.Is(r.Err, queue.ErrDuplicate) {
			fmt.Printf("item %d was already queued as %s\n", i, r.ID)
		}
	}
}

// A readiness check that stays cheap however long the backlog grows.
// Compile-only: it needs a database.
func ExampleQueue_HealthCheck() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("OPSKIT_POSTGRES_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	q, err := postgres.OpenQueue(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()

	check := q.HealthCheck(queue.Limits{MaxDepth: 10_000, MaxAge: 15 * time.Minute}) // register with health.Checker
	var backlog *queue.BacklogError
	if err := check(ctx); errors.As(err, &backlog) {
		fmt.Println("backlog:", backlog.Depth, backlog.OldestAge)
	}
}

// Replicas of a service share a Store: the first replica's proposed key
// is everyone's key, each replica publishes its own state, and one of them
// at a time holds a lease. Compile-only, like ExampleOpenQueue, because
// it needs a database.
func ExampleOpenStore() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("OPSKIT_POSTGRES_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil { // the queue's and the store's tables
		log.Fatal(err)
	}
	store, err := postgres.OpenStore(ctx, pool)
	if err != nil {
		log.Fatal(err)
	}
	instance, _ := os.Hostname()

	key, err := store.Key(ctx, "tenant-hash", []byte("a random key this replica made"))
	if err != nil {
		log.Fatal(err)
	}
	if err := store.Put(ctx, "feature", instance, []byte(`{"uses":140}`)); err != nil {
		log.Fatal(err)
	}
	seq, err := store.Append(ctx, "incident", []byte(`{"id":"inc-1"}`))
	if err != nil {
		log.Fatal(err)
	}
	leader, err := store.Lead(ctx, "alerts", instance, 15*time.Second) // renew every few seconds
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(key), seq, leader)
}
