package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opskit/opskit/queue"
)

// db is what enqueues run on: the pool or a caller's transaction.
type db interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// row is one message ready to insert.
type row struct {
	due, now time.Time
	key      []byte // nil without a dedupe key
	payload  []byte
}

// Enqueue stores payload and returns its id once the row is committed.
// With a dedupe key held by a stored message (ready, delayed, in flight or
// dead) it stores nothing and returns that message's id and an error
// matching queue.ErrDuplicate.
//
// Concurrent Enqueue calls share commits (group commit): the first caller
// to find no insert running inserts every message waiting at that moment
// in one multi-row INSERT, one transaction and one WAL flush, and each
// caller gets its own id or error; at most four such inserts run at once.
// A dedupe conflict fails only its own message. So a lone caller pays one
// round trip, as before, and 64 concurrent producers pay a fraction of a
// commit each. Waiting receivers are woken: this Queue's at once, other
// processes' by a NOTIFY that the Queue's notifier sends after the commit,
// one for any number of enqueues made meanwhile (a NOTIFY inside each
// insert's own transaction would serialise commits on PostgreSQL's
// notification lock).
//
// When ctx ends while the message waits for its turn, Enqueue returns
// ctx's error and the message is not stored. Once its insert has begun,
// Enqueue reports what happened to it: the insert is cancelled only when
// every caller whose message it carries has given up.
func (q *Queue) Enqueue(ctx context.Context, payload []byte, opts ...queue.EnqueueOption) (queue.ID, error) {
	if err := q.begin(); err != nil {
		return 0, err
	}
	defer q.ops.Done()
	r, err := q.prepare(payload, opts)
	if err != nil {
		return 0, err
	}
	res := q.group.enqueue(ctx, q, r)
	if res.err == nil {
		q.enqueued.Add(1)
		q.wake()
		q.notifySoon()
	}
	return res.id, res.err
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
	r, err := q.prepare(payload, opts)
	if err != nil {
		return 0, err
	}
	res := q.insertOne(ctx, tx, r, true)
	if res.err == nil {
		q.enqueued.Add(1)
	}
	return res.id, res.err
}

// prepare validates one message and computes its row.
func (q *Queue) prepare(payload []byte, opts []queue.EnqueueOption) (row, error) {
	c := queue.NewEnqueueConfig(opts...)
	now := q.now()
	if err := c.Validate(now); err != nil {
		return row{}, fmt.Errorf("postgres: %w", err)
	}
	if len(payload) > q.cfg.maxPayload {
		return row{}, fmt.Errorf("postgres: payload is %d bytes, want <= %d", len(payload), q.cfg.maxPayload)
	}
	if payload == nil {
		payload = []byte{} // the column is NOT NULL; an empty payload is valid
	}
	r := row{due: now, now: now, payload: payload}
	switch {
	case !c.NotBefore.IsZero():
		r.due = c.NotBefore.Truncate(time.Microsecond)
	case c.Delay > 0:
		r.due = now.Add(c.Delay)
	}
	if c.DedupeKey != "" {
		r.key = []byte(c.DedupeKey)
	}
	return r, nil
}

// result is what one message's insert came to.
type result struct {
	id  queue.ID
	err error
}

// holdersRetries bounds how often a message whose dedupe key's holder
// vanished (acked between the conflict and the look-up) is tried again.
const holdersRetries = 3

// insertOne inserts one row (with a NOTIFY in the same round trip and
// transaction when notify is set).
func (q *Queue) insertOne(ctx context.Context, db db, r row, notify bool) result {
	var key any // NULL without a key
	if r.key != nil {
		key = r.key
	}
	for range holdersRetries {
		id, err := q.insertRow(ctx, db, notify, r.due, r.now, key, r.payload)
		if err == nil {
			return result{id: queue.ID(id)}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return result{err: q.fail("enqueue", err)}
		}
		err = db.QueryRow(ctx, q.sql.dedupeHolder, key).Scan(&id)
		if err == nil {
			return result{queue.ID(id), q.duplicate(r.key, id)}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return result{err: q.fail("enqueue", err)}
		}
	}
	return result{err: q.keptChanging(r.key)}
}

func (q *Queue) duplicate(key []byte, holder int64) error {
	return fmt.Errorf("postgres: dedupe key %q held by message %s: %w", key, queue.ID(holder), queue.ErrDuplicate)
}

func (q *Queue) keptChanging(key []byte) error {
	return fmt.Errorf("postgres: enqueue on %s: dedupe key %q kept changing hands", q.names.plain, key)
}

// insertRow runs the INSERT (and the NOTIFY when notify is set) and
// returns the new id; pgx.ErrNoRows means the dedupe key is taken.
func (q *Queue) insertRow(ctx context.Context, db db, notify bool, args ...any) (int64, error) {
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

// insertRows inserts rows with one multi-row INSERT (plus one look-up of
// dedupe key holders when some keys were taken) and returns one result per
// row. A taken key fails only its row, with the holder's id and
// queue.ErrDuplicate. The error is for the whole statement: then nothing
// was inserted (on the pool, the INSERT is its own transaction).
func (q *Queue) insertRows(ctx context.Context, db db, rows []row) ([]result, error) {
	if len(rows) == 1 {
		res := q.insertOne(ctx, db, rows[0], false)
		if res.err != nil && !errors.Is(res.err, queue.ErrDuplicate) {
			return nil, res.err
		}
		return []result{res}, nil
	}
	res := make([]result, len(rows))
	todo := make([]int, len(rows))
	for i := range todo {
		todo[i] = i
	}
	for range holdersRetries {
		lost, err := q.insertMany(ctx, db, rows, todo, res)
		if err != nil {
			return nil, q.fail("enqueue", err)
		}
		if len(lost) == 0 {
			return res, nil
		}
		if todo, err = q.holders(ctx, db, rows, lost, res); err != nil {
			return nil, q.fail("enqueue", err)
		}
		if len(todo) == 0 {
			return res, nil
		}
	}
	for _, i := range todo {
		res[i] = result{err: q.keptChanging(rows[i].key)}
	}
	return res, nil
}

// insertMany inserts rows[i] for i in todo, filling res for those
// inserted, and returns the indexes whose dedupe key was taken.
func (q *Queue) insertMany(ctx context.Context, db db, rows []row, todo []int, res []result) ([]int, error) {
	due := make([]time.Time, len(todo))
	now := make([]time.Time, len(todo))
	keys := make([][]byte, len(todo))
	payloads := make([][]byte, len(todo))
	for j, i := range todo {
		due[j], now[j], keys[j], payloads[j] = rows[i].due, rows[i].now, rows[i].key, rows[i].payload
	}
	rs, err := db.Query(ctx, q.sql.enqueueMany, due, now, keys, payloads)
	if err != nil {
		return nil, err
	}
	var lost []int
	var ord int64
	var id *int64
	_, err = pgx.ForEachRow(rs, []any{&ord, &id}, func() error {
		if ord < 1 || int(ord) > len(todo) {
			return fmt.Errorf("row ordinal %d out of 1..%d", ord, len(todo))
		}
		i := todo[ord-1]
		if id == nil {
			lost = append(lost, i)
		} else {
			res[i] = result{id: queue.ID(*id)}
		}
		return nil
	})
	return lost, err
}

// holders fills res for the rows in lost whose dedupe key is held, and
// returns those whose holder is gone (to be inserted again).
func (q *Queue) holders(ctx context.Context, db db, rows []row, lost []int, res []result) ([]int, error) {
	keys := make([][]byte, len(lost))
	for j, i := range lost {
		keys[j] = rows[i].key
	}
	rs, err := db.Query(ctx, q.sql.dedupeHolders, keys)
	if err != nil {
		return nil, err
	}
	held := make(map[string]int64, len(lost))
	var key []byte
	var id int64
	if _, err := pgx.ForEachRow(rs, []any{&key, &id}, func() error {
		held[string(key)] = id
		return nil
	}); err != nil {
		return nil, err
	}
	var again []int
	for _, i := range lost {
		if id, ok := held[string(rows[i].key)]; ok {
			res[i] = result{queue.ID(id), q.duplicate(rows[i].key, id)}
		} else {
			again = append(again, i)
		}
	}
	return again, nil
}
