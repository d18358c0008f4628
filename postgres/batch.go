package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/opskit/opskit/queue"
)

// Item is one message of EnqueueBatch: a payload and its enqueue options.
type Item struct {
	Payload []byte
	Options []queue.EnqueueOption
}

// Result is what EnqueueBatch did with one Item: its id, or with a taken
// dedupe key the holder's id and an Err matching queue.ErrDuplicate.
type Result struct {
	ID  queue.ID
	Err error
}

// MaxBatch is the most items EnqueueBatch takes in one call.
const MaxBatch = 10000

// EnqueueBatch stores items in one transaction with one multi-row INSERT
// and returns one Result per item, in order. Either every item without a
// taken dedupe key is stored or, with a non-nil error, none is. A dedupe
// key held by a stored message, or by an earlier item of the same batch,
// fails only its own item (Result.Err). Items are checked first: an
// invalid one (options, payload size) rejects the whole batch with an
// error naming its index. At most MaxBatch items per call.
func (q *Queue) EnqueueBatch(ctx context.Context, items []Item) ([]Result, error) {
	if err := q.begin(); err != nil {
		return nil, err
	}
	defer q.ops.Done()
	rows, err := q.prepareBatch(items)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	var res []result
	err = pgx.BeginFunc(ctx, q.pool, func(tx pgx.Tx) error {
		var err error
		res, err = q.insertRows(ctx, tx, rows)
		return err
	})
	if err != nil && !strings.HasPrefix(err.Error(), "postgres: ") {
		err = q.fail("enqueue batch", err) // begin or commit failed
	}
	if err != nil {
		return nil, err
	}
	out := q.results(res)
	q.wake()
	q.notifySoon()
	return out, nil
}

// EnqueueBatchTx is EnqueueBatch inside the caller's transaction tx: the
// items exist if and only if tx commits. The notification to receivers is
// part of tx. An error other than an invalid item may leave tx aborted.
func (q *Queue) EnqueueBatchTx(ctx context.Context, tx pgx.Tx, items []Item) ([]Result, error) {
	if tx == nil {
		return nil, errors.New("postgres: EnqueueBatchTx needs a transaction")
	}
	if err := q.begin(); err != nil {
		return nil, err
	}
	defer q.ops.Done()
	rows, err := q.prepareBatch(items)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	res, err := q.insertRows(ctx, tx, rows)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, q.sql.notify, q.names.channel); err != nil {
		return nil, q.fail("enqueue batch", err)
	}
	return q.results(res), nil
}

func (q *Queue) prepareBatch(items []Item) ([]row, error) {
	if len(items) > MaxBatch {
		return nil, fmt.Errorf("postgres: batch of %d items, want <= %d", len(items), MaxBatch)
	}
	rows := make([]row, len(items))
	for i, it := range items {
		r, err := q.prepare(it.Payload, it.Options)
		if err != nil {
			return nil, fmt.Errorf("postgres: batch item %d: %w", i, err)
		}
		rows[i] = r
	}
	return rows, nil
}

func (q *Queue) results(res []result) []Result {
	out := make([]Result, len(res))
	var n int64
	for i, r := range res {
		out[i] = Result{ID: r.id, Err: r.err}
		if r.err == nil {
			n++
		}
	}
	q.enqueued.Add(n)
	return out
}
