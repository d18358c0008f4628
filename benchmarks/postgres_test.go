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

	"github.com/opskit/opskit/queue/postgres"
)

// PostgreSQL benchmarks run against OPSKIT_POSTGRES_URL (start one with
// `eval "$(.ci/start-postgres)"`) and are skipped without it. Each uses
// its own schema, dropped afterwards. Messages are 1 KiB like the file
// queue's; an enqueue returns once its row is committed.

// pgPool opens a pool big enough for producers, in a fresh schema that
// holds a migrated queue.
func pgPool(b *testing.B, conns int32) (*pgxpool.Pool, string) {
	b.Helper()
	url := os.Getenv("OPSKIT_POSTGRES_URL")
	if url == "" {
		b.Skip("OPSKIT_POSTGRES_URL is not set; run `eval \"$(.ci/start-postgres)\"` from the repository root first")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = conns
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
	if err := postgres.Migrate(ctx, pool, postgres.WithSchema(schema)); err != nil {
		b.Fatal(err)
	}
	return pool, schema
}

func openPG(b *testing.B, pool *pgxpool.Pool, schema string) *postgres.Queue {
	b.Helper()
	q, err := postgres.Open(context.Background(), pool, postgres.WithSchema(schema))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

func msgsPerSec(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPostgresEnqueue: committed enqueues with 1, 8 and 64 producers.
// pgx-insert is the floor: a plain INSERT of the same payload through the
// same pool into a table without the queue's indexes or NOTIFY.
func BenchmarkPostgresEnqueue(b *testing.B) {
	ctx := context.Background()
	for _, p := range []int{1, 8, 64} {
		b.Run("opskit/producers="+strconv.Itoa(p), func(b *testing.B) {
			pool, schema := pgPool(b, int32(min(p, 16))+1)
			q := openPG(b, pool, schema)
			produce(b, p, func() error {
				_, err := q.Enqueue(ctx, queueMsg)
				return err
			})
			msgsPerSec(b)
		})
		b.Run("pgx-insert/producers="+strconv.Itoa(p), func(b *testing.B) {
			pool, schema := pgPool(b, int32(min(p, 16)))
			table := pgx.Identifier{schema, "plain"}.Sanitize()
			if _, err := pool.Exec(ctx, "CREATE TABLE "+table+" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload bytea NOT NULL)"); err != nil {
				b.Fatal(err)
			}
			stmt := "INSERT INTO " + table + " (payload) VALUES ($1) RETURNING id"
			produce(b, p, func() error {
				var id int64
				return pool.QueryRow(ctx, stmt, queueMsg).Scan(&id)
			})
			msgsPerSec(b)
		})
	}
}

// BenchmarkPostgresRoundTrip: enqueue → Receive → Ack with producers and
// consumers running together on separate Queues (as separate processes
// would); b.N messages pass through.
func BenchmarkPostgresRoundTrip(b *testing.B) {
	const producers, consumers = 4, 4
	b.Run("opskit", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pool, schema := pgPool(b, producers+consumers+2)
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
		msgsPerSec(b)
	})
}
