package postgres

import (
	"context"
	"fmt"

	"github.com/opskit/opskit/queue"
)

// DeadLetters lists the dead letters f selects, lowest id first, with
// their payloads, in one statement on the dead-letter index. Expired
// leases whose attempts are spent are moved to the dead letters first, so
// the list is current.
func (q *Queue) DeadLetters(ctx context.Context, f queue.DeadFilter) ([]queue.DeadLetter, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := q.begin(); err != nil {
		return nil, err
	}
	defer q.ops.Done()
	if err := q.sweep(ctx); err != nil {
		return nil, err
	}
	rows, err := q.pool.Query(ctx, q.sql.deadList, deadArgs(f)...)
	if err != nil {
		return nil, q.fail("dead letters", err)
	}
	defer rows.Close()
	var out []queue.DeadLetter
	for rows.Next() {
		var d queue.DeadLetter
		var id int64
		if err := rows.Scan(&id, &d.Payload, &d.Attempts, &d.EnqueuedAt, &d.DeadAt, &d.Reason); err != nil {
			return nil, q.fail("dead letters", err)
		}
		d.ID = queue.ID(id)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, q.fail("dead letters", err)
	}
	return out, nil
}

// deadArgs binds f as the $1 to $5 of the dead-letter filter statements.
func deadArgs(f queue.DeadFilter) []any {
	args := []any{int64(f.After), nil, nil, f.Reason, nil}
	if !f.Since.IsZero() {
		args[1] = f.Since
	}
	if !f.Until.IsZero() {
		args[2] = f.Until
	}
	if f.Limit > 0 {
		args[4] = int64(f.Limit)
	}
	return args
}

// Requeue makes dead letter id due now with its attempts reset; its dedupe
// key stays held. queue.ErrNotFound when id is not a dead letter.
func (q *Queue) Requeue(ctx context.Context, id queue.ID) error {
	n, err := q.deadOp(ctx, "requeue", q.sql.requeue, int64(id), q.now())
	if err == nil && n == 0 {
		err = fmt.Errorf("postgres: requeue %s: %w", id, queue.ErrNotFound)
	}
	return err
}

// Purge deletes dead letter id, freeing its dedupe key.
// queue.ErrNotFound when id is not a dead letter.
func (q *Queue) Purge(ctx context.Context, id queue.ID) error {
	n, err := q.deadOp(ctx, "purge", q.sql.purge, int64(id))
	if err == nil && n == 0 {
		err = fmt.Errorf("postgres: purge %s: %w", id, queue.ErrNotFound)
	}
	return err
}

// RequeueDead makes every dead letter f selects due now, attempts reset,
// in one statement (all or none), and returns how many.
func (q *Queue) RequeueDead(ctx context.Context, f queue.DeadFilter) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	return q.deadOp(ctx, "requeue", q.sql.requeueSel, append(deadArgs(f), q.now())...)
}

// PurgeDead deletes every dead letter f selects in one statement (all or
// none), freeing their dedupe keys, and returns how many.
func (q *Queue) PurgeDead(ctx context.Context, f queue.DeadFilter) (int, error) {
	if err := f.Validate(); err != nil {
		return 0, err
	}
	return q.deadOp(ctx, "purge", q.sql.purgeSel, deadArgs(f)...)
}

// deadOp runs a statement that changes dead letters and returns how many
// it changed; requeued ones wake receivers.
func (q *Queue) deadOp(ctx context.Context, op, stmt string, args ...any) (int, error) {
	if err := q.begin(); err != nil {
		return 0, err
	}
	defer q.ops.Done()
	tag, err := q.pool.Exec(ctx, stmt, args...)
	if err != nil {
		return 0, q.fail(op, err)
	}
	n := int(tag.RowsAffected())
	if op == "requeue" && n > 0 {
		q.wake()
		q.notifySoon()
	}
	return n, nil
}

// sweep dead-letters expired leases whose attempts are spent. Requires a
// call in progress (begin).
func (q *Queue) sweep(ctx context.Context) error {
	tag, err := q.pool.Exec(ctx, q.sql.sweep, q.now(), q.cfg.policy.MaxAttempts)
	if err != nil {
		return q.fail("sweep", err)
	}
	q.swept(tag.RowsAffected())
	return nil
}
