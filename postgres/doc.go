// Package postgres is what the replicas of a service share in PostgreSQL,
// in a module of its own so that pgx never reaches the library's users:
//
//   - Queue (OpenQueue), the durable queue of package queue, for services
//     that run as several replicas or outgrow one machine's disk. A *Queue
//     implements queue.Backend, so queue.StartWorker, queue.HealthCheck
//     and the queuetest conformance suite work on it unchanged; EnqueueTx
//     adds what a local file cannot: enqueueing in the same transaction as
//     the service's own writes.
//   - Store (OpenStore), a fleet.Store: the fleet's keys, each replica's
//     latest state, fleet-wide logs and leases, which the library's
//     packages take (WithStore options) to count, alert and record once
//     for the fleet instead of once per replica. See "Fleet store" below.
//
// Migrate creates the tables of both.
//
//	package main
//
//	import (
//		"context"
//		"log"
//		"os"
//		"time"
//
//		"github.com/jackc/pgx/v5/pgxpool"
//
//		"github.com/opskit/opskit/queue"
//		"github.com/opskit/opskit/postgres"
//	)
//
//	func main() {
//		ctx := context.Background()
//		pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer pool.Close() // last: deferred calls run last first
//
//		if err := postgres.Migrate(ctx, pool); err != nil { // idempotent
//			log.Fatal(err)
//		}
//		q, err := postgres.OpenQueue(ctx, pool)
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer q.Close() // after the worker, before the pool
//
//		w, err := queue.StartWorker(q, func(ctx context.Context, m *queue.Message) error {
//			log.Printf("deliver %s: %s", m.ID, m.Payload)
//			return nil // an error would nack: redelivery after backoff
//		}, queue.WorkerConfig{Concurrency: 4, Visibility: time.Minute})
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer func() { // bounded: a hung handler cannot hold the exit
//			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//			defer cancel()
//			if err := w.Shutdown(ctx); err != nil {
//				log.Print(err)
//			}
//		}()
//
//		id, err := q.Enqueue(ctx, []byte(`{"item":"book"}`))
//		if err != nil {
//			log.Fatal(err) // not stored; when err is nil the row is committed
//		}
//		log.Println("queued", id)
//	}
//
// # Schema
//
// Migrate creates a schema (default "opskit"), a queue table (default
// "queue") and a "<table>_migrations" table recording the versioned steps applied;
// it is explicit, idempotent, and serialised across processes by an
// advisory lock. OpenQueue refuses a table that is not migrated
// (ErrNotMigrated). One row is one message: its state (ready, leased,
// dead), available_at (the not-before time of a ready row, the lease
// deadline of a leased one), attempts, lease token, payload and dedupe
// key. The indexes, each checked against its statements by a test with
// EXPLAIN:
//
//   - <table>_available (available_at, id) WHERE state <> dead: the lease
//     query, the next due time, Stats' ready and delayed counts;
//   - <table>_leased (available_at) WHERE state = leased: expired leases,
//     the in-flight count, and releasing a closed handle's leases;
//   - <table>_dead (id) WHERE state = dead: listing, requeueing and
//     purging dead letters by queue.DeadFilter, page by page;
//   - <table>_dedupe UNIQUE (dedupe_key) WHERE dedupe_key IS NOT NULL:
//     the conflict arbiter of every insert, and finding a key's holder;
//   - the primary key: Ack, Nack, Extend and the oldest message's age.
//
// # Fleet store
//
// Migrate also creates five tables in the schema, versioned apart from
// any queue in "fleet_migrations" under an advisory lock of their own
// (a queue table's name may therefore not start with "fleet"):
// fleet_keys, fleet_states (kind, instance), fleet_heads (kind),
// fleet_records (kind, seq) and fleet_leases (name), each read and
// written through its primary key only (checked with EXPLAIN by a test).
// Every method of Store is one round trip:
//
//   - Key inserts the proposal unless the name is taken, then reads the
//     name's value in the same batch: concurrent first starts agree.
//   - Put is an upsert on (kind, instance) timed by the database's now():
//     each replica owns its row, so nobody's write is lost.
//   - Append upserts the kind's head row (seq + 1) and inserts the record
//     in one statement. Sequence numbers are 1, 2, 3 … per kind with no
//     gaps, and commit in their order: the head row's lock is held until
//     the commit, so a reader paging with "after the last seq I saw" never
//     passes over a record that commits later. The price is that appends
//     to one kind run one at a time (see Store.Append for the figure);
//     kinds do not wait for each other.
//   - Lead takes or renews a lease row in one statement, when the lease is
//     free, expired, or the caller's, with expiry now() + ttl on the
//     database's clock; no host's clock is compared with another's. A
//     killed leader is replaced by the first Lead after its expiry: at
//     most ttl after its last renewal plus the other replicas' polling
//     interval (tested with a SIGKILLed child process renewing a 1s lease
//     every 250ms: taken over 0.78-0.84s after the kill in four runs).
//
// Kinds, names and instances are text in the "C" collation (byte order,
// as Go sorts), so besides what fleet.Check refuses they must be valid
// UTF-8; data is bytea. The Store has no goroutine and nothing to close.
// It deletes nothing: logs keep every record (audit trails and incident
// logs are meant to), and fleet_states keeps a row per instance name ever
// used, so replicas should have stable names.
//
// # Leases and time
//
// Receive leases the first due row with SELECT ... FOR UPDATE SKIP
// LOCKED in the same statement that marks it leased, so concurrent
// consumers in any number of processes never take the same row, and
// never wait on each other. A lease is a deadline and a random token in
// the row, not a lock held by a connection: a consumer that dies keeps
// its messages hidden until their deadline, then they are delivered
// again, and its token can no longer settle them (queue.ErrLeaseLost).
// Close releases the handle's own leases at once. Release ("not now")
// ends a lease without spending its attempt, in a transaction committed
// with synchronous_commit off, so a refusal costs no WAL flush.
//
// Every time decision (not-before times, lease deadlines, backoff, ages)
// uses the Queue's clock (WithClock) and is passed to PostgreSQL as a
// parameter; the database's now() is never used. Processes sharing a
// table should have clocks that agree far more closely than the
// visibility timeout.
//
// # Waiting
//
// Each Queue LISTENs on a channel named after the table, on one
// connection taken out of the pool, and wakes its waiting receivers on
// every notification. After an Enqueue commits, the Queue wakes its own
// receivers at once and its notifier goroutine sends one NOTIFY for all
// the enqueues since its last one; EnqueueTx puts the NOTIFY in the
// caller's transaction, so it is sent at commit. (A NOTIFY in every
// enqueue's own transaction would serialise concurrent producers' commits
// on PostgreSQL's notification lock: about 1.5k instead of 4k commits/s
// here.) While nothing is due, Receive also wakes when the queue's clock
// reaches the next due time and, as a safety net, after the poll interval
// of wall-clock time (WithPollInterval, default 1s): one indexed query per
// idle receiver per interval.
//
// # Throughput
//
// Concurrent Enqueue calls share commits: the first caller finding no
// insert running (at most four run at once) inserts its message and every
// message waiting at that moment — up to 512 messages or 8 MiB — in one
// multi-row INSERT, one transaction and one WAL flush, and hands each
// caller its own id, or for a taken dedupe key the holder's id and
// queue.ErrDuplicate (ON CONFLICT DO NOTHING, resolved row by row). A
// lone caller pays the single-row INSERT as before. EnqueueBatch (and
// EnqueueBatchTx) stores up to MaxBatch messages in one transaction, with
// the same per-message dedupe results. Measured (benchmarks,
// BenchmarkPostgresEnqueue, 5 interleaved rounds on a shared 2-core
// machine, 1 KiB messages, equal pools of 16 connections,
// synchronous_commit on everywhere): at 64 producers a median 5.9k
// enqueues/s against 2.2k for a plain one-row INSERT per commit (2.4-3.4×
// per round) and 0.9k for River v0.51.2; at 8 producers 0.83× the INSERT
// (each caller's own commit is then about as cheap as sharing one); in
// batches of 100, 11.4k messages/s against River's InsertMany 8.1k.
//
// Stats costs a bounded number of index reads whatever the backlog: its
// counts are exact up to StatsExact and the planner's estimate beyond.
// HealthCheck is cheaper still (it counts only to its limits).
//
// # Concurrency
//
// A Queue is safe for concurrent use. Two goroutines, the listener and
// the notifier, belong to each Queue; Close stops them and waits for calls
// in progress.
// Close the Queue before the pool. A queue.Worker on a Queue keeps
// consuming through a database restart: its failed calls back off and are
// retried, and its Check reports it failing meanwhile (tested with
// pg_ctl restart -m fast). Metrics are atomics read at collection
// time, except the gauges (depth, dead, oldest age, bytes), which query the
// table when collected.
//
// # Defaults
//
// Schema "opskit" (the Store's only option), table "queue",
// queue.DefaultRetryPolicy() (33 deliveries over at least an hour),
// payloads up to 16 MiB, poll interval 1s, the real clock,
// otel.GetMeterProvider(), slog.Default().
//
// # Errors
//
// The sentinels of package queue: ErrClosed, ErrEmpty, ErrDuplicate,
// ErrLeaseLost, ErrNotFound, ErrBacklog; plus ErrNotMigrated. The Store's
// bad arguments match fleet.ErrInvalid. Database
// errors are wrapped with the operation and the table, and keep matching
// context.Canceled and context.DeadlineExceeded. Bad options and inputs are
// errors naming the field and the value; waits above queue.MaxWait are
// refused. Dead-lettering is logged, rate-limited. The queue never answers
// queue.ErrFull: space is the database's to manage.
package postgres
