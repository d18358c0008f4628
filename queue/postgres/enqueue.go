package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opskit/opskit/queue"
)

// batcher is what Enqueue and EnqueueTx run on: the pool or a caller's
// transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Enqueue stores payload and returns its id once the row is committed.
// With a dedupe key held by a stored message (ready, delayed, in flight or
// dead) it stores nothing and returns that message's id and an error
// matching queue.ErrDuplicate. Waiting receivers are woken: this Queue's
// at once, other processes' by a NOTIFY that the Queue's notifier sends
// after the commit, one for any number of enqueues made meanwhile (a
// NOTIFY inside each enqueue's own transaction would serialise the
// commits of concurrent producers on PostgreSQL's notification lock).
func (q *Queue) Enqueue(ctx context.Context, payload []byte, opts ...queue.EnqueueOption) (queue.ID, error) {
	if err := q.begin(); err != nil {
		return 0, err
	}
	defer q.ops.Done()
	id, err := q.enqueue(ctx, q.pool, payload, opts, false)
	if err == nil {
		q.wake()
		q.notifySoon()
	}
	return id, err
}

// EnqueueTx stores payload inside the caller's transaction tx, so the
// message exists if and only if tx commits, together with the caller's
// own writes. The notification to receivers is sent at commit too. The id
// is reserved at once; on rollback it is never used. A duplicate dedupe
// key returns the holder's id and queue.ErrDuplicate without aborting tx;
// if the holder is itself uncommitted in another transaction, EnqueueTx
// waits for that transaction to end. The NOTIFY is part of tx, so that
// receivers wake when it commits and not before; it takes PostgreSQL's
// notification lock at commit.
func (q *Queue) EnqueueTx(ctx context.Context, tx pgx.Tx, payload []byte, opts ...queue.EnqueueOption) (queue.ID, error) {
	if tx == nil {
		return 0, errors.New("postgres: EnqueueTx needs a transaction")
	}
	if err := q.begin(); err != nil {
		return 0, err
	}
	defer q.ops.Done()
	return q.enqueue(ctx, tx, payload, opts, true)
}

// enqueue inserts the row, with a NOTIFY in the same round trip and
// transaction when notify is set.
func (q *Queue) enqueue(ctx context.Context, db batcher, payload []byte, opts []queue.EnqueueOption, notify bool) (queue.ID, error) {
	c := queue.NewEnqueueConfig(opts...)
	now := q.now()
	if err := c.Validate(now); err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	if len(payload) > q.cfg.maxPayload {
		return 0, fmt.Errorf("postgres: payload is %d bytes, want <= %d", len(payload), q.cfg.maxPayload)
	}
	if payload == nil {
		payload = []byte{} // the column is NOT NULL; an empty payload is valid
	}
	due := now
	switch {
	case !c.NotBefore.IsZero():
		due = c.NotBefore.Truncate(time.Microsecond)
	case c.Delay > 0:
		due = now.Add(c.Delay)
	}
	var key any // NULL without a key
	if c.DedupeKey != "" {
		key = []byte(c.DedupeKey)
	}
	// A holder of the key can be acked between the insert that conflicts
	// and the look-up of its id; then the insert is tried again.
	for range 3 {
		id, err := q.insert(ctx, db, notify, due, now, key, payload)
		if err == nil {
			q.enqueued.Add(1)
			return queue.ID(id), nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, q.fail("enqueue", err)
		}
		err = db.QueryRow(ctx, q.sql.dedupeHolder, key).Scan(&id)
		if err == nil {
			return queue.ID(id), fmt.Errorf("postgres: dedupe key %q held by message %s: %w",
				c.DedupeKey, queue.ID(id), queue.ErrDuplicate)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, q.fail("enqueue", err)
		}
	}
	return 0, fmt.Errorf("postgres: enqueue on %s: dedupe key %q kept changing hands", q.names.plain, c.DedupeKey)
}

// insert runs the INSERT (and the NOTIFY when notify is set) and returns
// the new id; pgx.ErrNoRows means the dedupe key is taken.
func (q *Queue) insert(ctx context.Context, db batcher, notify bool, args ...any) (int64, error) {
	var id int64
	if !notify {
		err := db.QueryRow(ctx, q.sql.enqueue, args...).Scan(&id)
		return id, err
	}
	b := newBatch()
	b.Queue(q.sql.enqueue, args...)
	b.Queue(q.sql.notify, q.names.channel)
	br := db.SendBatch(ctx, b)
	err := br.QueryRow().Scan(&id)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return id, err
}
