package benchmarks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/opskit/opskit/postgres"
)

// PostgreSQL benchmarks run against OPSKIT_POSTGRES_URL (start one with
// `eval "$(.ci/start-postgres)"`) and are skipped without it (they fail
// instead under OPSKIT_REQUIRE_COMPONENTS=1). Each uses its own schema,
// dropped afterwards. Messages are 1 KiB like the file queue's; an enqueue
// returns once its row is committed. Every contender of a comparison gets
// a pool of the same MaxConns and synchronous_commit=on (opskit's LISTEN
// connection is taken out of its pool and does not count).

// pgPool opens a pool of conns connections in a fresh schema.
func pgPool(b *testing.B, conns int32) (*pgxpool.Pool, string) {
	b.Helper()
	url := os.Getenv("OPSKIT_POSTGRES_URL")
	if url == "" {
		const how = "OPSKIT_POSTGRES_URL is not set; run `eval \"$(.ci/start-postgres)\"` from the repository root first"
		if os.Getenv("OPSKIT_REQUIRE_COMPONENTS") == "1" {
			b.Fatal(how)
		}
		b.Skip(how)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = conns
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	var r [6]byte
	rand.Read(r[:])
	schema := "opskit_bench_" + hex.EncodeToString(r[:])
	b.Cleanup(func() {
		pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		pool.Close()
	})
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	return pool, schema
}

// openPG migrates and opens an opskit queue in schema.
func openPG(b *testing.B, pool *pgxpool.Pool, schema string) *postgres.Queue {
	b.Helper()
	ctx := context.Background()
	if err := postgres.Migrate(ctx, pool, postgres.WithSchema(schema)); err != nil {
		b.Fatal(err)
	}
	q, err := postgres.OpenQueue(ctx, pool, postgres.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

func msgsPerSec(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "msgs/s")
}

// pgConns is the pool size for p producers.
func pgConns(p int) int32 { return int32(min(p, 16)) }

// BenchmarkPostgresEnqueue: committed enqueues with 1, 8 and 64 producers.
// pgx-insert is the floor: a plain INSERT ... RETURNING id of the same
// payload through an equal pool into a table without the queue's indexes
// or NOTIFY, one commit per row. river is River's Client.Insert.
func BenchmarkPostgresEnqueue(b *testing.B) {
	ctx := context.Background()
	for _, p := range []int{1, 8, 64} {
		b.Run("opskit/producers="+strconv.Itoa(p), func(b *testing.B) {
			pool, schema := pgPool(b, pgConns(p))
			q := openPG(b, pool, schema)
			produce(b, p, func() error {
				_, err := q.Enqueue(ctx, queueMsg)
				return err
			})
			msgsPerSec(b, 1)
		})
		b.Run("pgx-insert/producers="+strconv.Itoa(p), func(b *testing.B) {
			pool, schema := pgPool(b, pgConns(p))
			table := pgx.Identifier{schema, "plain"}.Sanitize()
			if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload bytea NOT NULL)"); err != nil {
				b.Fatal(err)
			}
			stmt := "INSERT INTO " + table + " (payload) VALUES ($1) RETURNING id"
			produce(b, p, func() error {
				var id int64
				return pool.QueryRow(ctx, stmt, queueMsg).Scan(&id)
			})
			msgsPerSec(b, 1)
		})
		b.Run("river/producers="+strconv.Itoa(p), func(b *testing.B) {
			pool, schema := pgPool(b, pgConns(p))
			c := riverInsertClient(b, pool, schema)
			produce(b, p, func() error {
				_, err := c.Insert(ctx, riverArgs{Data: riverData}, nil)
				return err
			})
			msgsPerSec(b, 1)
		})
	}
}

// BenchmarkPostgresEnqueueBatch: one producer storing batches of 100
// messages, each batch one transaction: opskit's EnqueueBatch against
// River's InsertMany. An op is one batch; msgs/s counts messages.
func BenchmarkPostgresEnqueueBatch(b *testing.B) {
	const size = 100
	ctx := context.Background()
	b.Run("opskit/batch=100", func(b *testing.B) {
		pool, schema := pgPool(b, 2)
		q := openPG(b, pool, schema)
		items := make([]postgres.Item, size)
		for i := range items {
			items[i].Payload = queueMsg
		}
		produce(b, 1, func() error {
			_, err := q.EnqueueBatch(ctx, items)
			return err
		})
		msgsPerSec(b, size)
	})
	b.Run("river/batch=100", func(b *testing.B) {
		pool, schema := pgPool(b, 2)
		c := riverInsertClient(b, pool, schema)
		produce(b, 1, func() error { return riverInsertMany(ctx, c, size) })
		msgsPerSec(b, size)
	})
}

// BenchmarkPostgresRoundTrip: enqueue → work → complete with 4 producers
// and 4 consumers running together; b.N messages pass through, and the
// clock stops when the last is completed (opskit: Ack returned; River: its
// job_completed event, sent once the completion is stored). opskit's
// consumers are separate Queues (as separate processes would be); River
// runs one client with MaxWorkers 4, fetching as soon as it is told of new
// jobs (FetchCooldown 1 ms, the minimum; poll every 50 ms).
func BenchmarkPostgresRoundTrip(b *testing.B) {
	const producers, consumers = 4, 4
	b.Run("opskit", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pool, schema := pgPool(b, producers+consumers)
		prod := openPG(b, pool, schema)
		var done atomic.Int64
		var wg sync.WaitGroup
		b.ResetTimer()
		for range consumers {
			q := openPG(b, pool, schema)
			wg.Go(func() {
				for {
					m, err := q.Receive(ctx, time.Minute)
					if err != nil {
						if ctx.Err() == nil {
							b.Error(err) // safe from any goroutine
						}
						return
					}
					if err := q.Ack(ctx, m); err != nil {
						b.Error(err)
						cancel()
						return
					}
					if done.Add(1) == int64(b.N) {
						cancel()
					}
				}
			})
		}
		produce(b, producers, func() error {
			_, err := prod.Enqueue(ctx, queueMsg)
			return err
		})
		b.StartTimer() // produce stopped it; the consumers are still draining
		wg.Wait()
		b.StopTimer()
		msgsPerSec(b, 1)
	})
	b.Run("river", func(b *testing.B) {
		ctx := context.Background()
		pool, schema := pgPool(b, producers+consumers)
		riverMigrate(b, pool, schema)
		workers := river.NewWorkers()
		w := &riverWorker{}
		river.AddWorker(workers, w)
		c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
			Schema:            schema,
			Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: consumers}},
			Workers:           workers,
			FetchCooldown:     time.Millisecond,
			FetchPollInterval: 50 * time.Millisecond,
		})
		if err != nil {
			b.Fatal(err)
		}
		events, unsubscribe := c.Subscribe(river.EventKindJobCompleted)
		defer unsubscribe()
		if err := c.Start(ctx); err != nil {
			b.Fatal(err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := c.Stop(sctx); err != nil {
				b.Error(err)
			}
		}()
		completed := make(chan struct{})
		go func() {
			defer close(completed)
			for n := 0; n < b.N; n++ {
				if _, ok := <-events; !ok {
					return
				}
			}
		}()
		b.ResetTimer()
		produce(b, producers, func() error {
			_, err := c.Insert(ctx, riverArgs{Data: riverData}, nil)
			return err
		})
		b.StartTimer()
		select {
		case <-completed:
		case <-time.After(5 * time.Minute):
			b.Fatalf("River completed %d of %d jobs in 5 minutes", w.ran.Load(), b.N)
		}
		b.StopTimer()
		msgsPerSec(b, 1)
	})
}
