package postgres

import (
	"context"
	"fmt"

	"github.com/opskit/opskit/queue"
)

// DeadLetters lists up to limit dead letters (all when limit <= 0), lowest
// id first, with their payloads. Expired leases whose attempts are spent
// are moved to the dead letters first, so the list is current.
func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]queue.DeadLetter, error) {
	if err := q.begin(); err != nil {
		return nil, err
	}
	defer q.ops.Done()
	if err := q.sweep(ctx); err != nil {
		return nil, err
	}
	var lim any // NULL: no limit
	if limit > 0 {
		lim = int64(limit)
	}
	rows, err := q.pool.Query(ctx, q.sql.deadList, lim)
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

// Requeue makes dead letter id due now with its attempts reset; its dedupe
// key stays held. queue.ErrNotFound when id is not a dead letter.
func (q *Queue) Requeue(ctx context.Context, id queue.ID) error {
	err := q.deadOp(ctx, "requeue", q.sql.requeue, id, q.now())
	if err == nil {
		q.wake()
		q.notifySoon()
	}
	return err
}

// Purge deletes dead letter id, freeing its dedupe key.
// queue.ErrNotFound when id is not a dead letter.
func (q *Queue) Purge(ctx context.Context, id queue.ID) error {
	return q.deadOp(ctx, "purge", q.sql.purge, id)
}

func (q *Queue) deadOp(ctx context.Context, op, stmt string, id queue.ID, extra ...any) error {
	if err := q.begin(); err != nil {
		return err
	}
	defer q.ops.Done()
	tag, err := q.pool.Exec(ctx, stmt, append([]any{int64(id)}, extra...)...)
	if err != nil {
		return q.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s %s: %w", op, id, queue.ErrNotFound)
	}
	return nil
}

// sweep dead-letters expired leases whose attempts are spent. Requires a
// call in progress (begin).
func (q *Queue) sweep(ctx context.Context) error {
	tag, err := q.pool.Exec(ctx, q.sql.sweep, q.now(), q.cfg.policy.MaxAttempts)
	if err != nil {
		return q.fail("sweep", err)
	}
	q.deadN.Add(tag.RowsAffected())
	return nil
}
