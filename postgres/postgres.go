package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opskit/opskit/queue"
)

// Queue is a queue.Backend stored in one PostgreSQL table. Any number of
// Queues, in any number of processes, may share the table: a message is
// leased to one of them at a time.
type Queue struct {
	pool  *pgxpool.Pool
	cfg   config
	names names
	sql   statements
	owner int64 // identifies this handle's leases, released at Close
	met   *metrics
	group group // concurrent Enqueue calls sharing commits

	enqueued, acked, nacked, deadN atomic.Int64
	dlog                           deadLog

	mu     sync.Mutex // guards closed and the start of ops
	closed bool
	ops    sync.WaitGroup // calls in progress; Close waits for them
	done   chan struct{}  // closed by Close: wakes waiting receivers

	wakeMu sync.Mutex    // guards wakeCh
	wakeCh chan struct{} // closed and replaced when something may be ready

	notifyCh chan struct{} // a NOTIFY is wanted; capacity 1

	stopListen context.CancelFunc
	bg         sync.WaitGroup // the listener and notifier goroutines
}

var _ queue.Backend = (*Queue)(nil)

// OpenQueue returns a Queue on the table named by WithSchema and WithTable,
// which Migrate must have created: otherwise the error matches
// ErrNotMigrated. The pool stays the caller's: close the Queue before the
// pool. OpenQueue takes one connection out of the pool for LISTEN (it no longer
// counts against the pool's MaxConns) and starts two goroutines, one
// waiting for notifications on it and one sending them; Close stops both.
func OpenQueue(ctx context.Context, pool *pgxpool.Pool, opts ...QueueOption) (*Queue, error) {
	if pool == nil {
		return nil, errors.New("postgres: OpenQueue needs a pool")
	}
	cfg, err := configure(opts, QueueOption.apply)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		pool: pool, cfg: cfg, names: newNames(cfg.schema, cfg.table),
		owner: int64(rand.Uint64() >> 1), done: make(chan struct{}), wakeCh: make(chan struct{}),
		notifyCh: make(chan struct{}, 1),
	}
	q.sql = newStatements(q.names.table)
	if err := checkVersion(ctx, pool, queueStream(cfg.table, q.names)); err != nil {
		return nil, err
	}
	var seq string
	if err := pool.QueryRow(ctx, `SELECT pg_get_serial_sequence($1, 'id')`, q.names.table).Scan(&seq); err != nil {
		return nil, fmt.Errorf("postgres: the id sequence of %s: %w", q.names.plain, err)
	}
	q.sql.withSequence(seq)
	conn, err := q.listenConn(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: LISTEN on %s: %w", q.names.plain, err)
	}
	if q.met, err = newMetrics(q); err != nil {
		closeConn(conn)
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	q.stopListen = stop
	q.bg.Add(2)
	go q.listen(lctx, conn)
	go q.notifier(lctx)
	return q, nil
}

// Table returns the queue's schema-qualified table name, unquoted.
func (q *Queue) Table() string { return q.names.plain }

// begin registers a call in progress; it fails after Close.
func (q *Queue) begin() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return queue.ErrClosed
	}
	q.ops.Add(1)
	return nil
}

// now reads the clock, truncated to PostgreSQL's microsecond resolution so
// that times compared in SQL and times returned from Go agree.
func (q *Queue) now() time.Time { return q.cfg.clk.Now().Truncate(time.Microsecond) }

// wakeChan returns the channel the next wake closes.
func (q *Queue) wakeChan() <-chan struct{} {
	q.wakeMu.Lock()
	defer q.wakeMu.Unlock()
	return q.wakeCh
}

// wake tells waiting receivers to look again.
func (q *Queue) wake() {
	q.wakeMu.Lock()
	close(q.wakeCh)
	q.wakeCh = make(chan struct{})
	q.wakeMu.Unlock()
}

// Close stops the listener, waits for calls in progress, and releases the
// leases this handle holds: their messages are delivered again at once
// (or dead-lettered if that was their last attempt). Calls after Close
// return queue.ErrClosed; Close itself is idempotent. It does not close
// the pool.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.done)
	q.mu.Unlock()
	q.ops.Wait()
	q.stopListen()
	q.bg.Wait()
	q.met.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := newBatch()
	b.Queue(q.sql.release, q.now(), q.owner)
	b.Queue(q.sql.notify, q.names.channel)
	if err := q.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("postgres: releasing leases of %s at close: %w", q.names.plain, err)
	}
	return nil
}

// Check is a health check (func(ctx) error, for health.Checker): it fails
// after Close, or when the table cannot be queried (database down, pool
// exhausted past ctx, table dropped, permissions).
func (q *Queue) Check(ctx context.Context) error {
	if err := q.begin(); err != nil {
		return err
	}
	defer q.ops.Done()
	if _, err := q.pool.Exec(ctx, q.sql.check); err != nil {
		return fmt.Errorf("postgres: %s: %w", q.names.plain, err)
	}
	return nil
}

// newLease returns a random non-zero lease token; 0 means "no lease".
func newLease() int64 { return int64(rand.Uint64()>>1) | 1 }

// reason is what a dead letter keeps of cause: its message, made valid
// UTF-8 without NUL bytes (PostgreSQL text holds neither) and bounded.
func reason(cause error) string {
	if cause == nil {
		return ""
	}
	s := strings.ToValidUTF8(cause.Error(), "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason], "")
	}
	return s
}

// maxReason bounds the failure reason kept with a dead letter, in bytes.
const maxReason = 1024
