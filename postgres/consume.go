package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/opskit/opskit/internal/timer"
	"github.com/opskit/opskit/queue"
)

// Receive waits until a message is due, leases it for visibility and
// returns it. Among due messages the one due longest comes first, ids
// breaking ties (so messages enqueued together come in id order). While
// nothing is due it waits for a notification from an Enqueue (in any
// process), for the queue's clock to reach the next due time, or at most
// the poll interval of wall-clock time, whichever is first; it never
// spins. It returns ctx's error when ctx ends and queue.ErrClosed after
// Close.
func (q *Queue) Receive(ctx context.Context, visibility time.Duration) (*queue.Message, error) {
	for {
		wake := q.wakeChan() // before looking, so a wake in between is not lost
		m, next, err := q.receive(ctx, visibility, true)
		if m != nil || !errors.Is(err, queue.ErrEmpty) {
			return m, err
		}
		var due <-chan time.Time
		var stopDue func() bool
		if !next.IsZero() {
			t := timer.New(q.cfg.clk, next.Sub(q.now()))
			due, stopDue = t.C(), t.Stop
		}
		poll := time.NewTimer(q.cfg.poll)
		select {
		case <-ctx.Done():
		case <-q.done:
		case <-wake:
		case <-due:
		case <-poll.C:
		}
		poll.Stop()
		if stopDue != nil {
			stopDue()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// TryReceive is Receive without waiting: queue.ErrEmpty when nothing is
// due now.
func (q *Queue) TryReceive(ctx context.Context, visibility time.Duration) (*queue.Message, error) {
	m, _, err := q.receive(ctx, visibility, false)
	return m, err
}

// receive runs, in one round trip, the sweep of exhausted expired leases,
// the lease of the first due row and, when wantNext, the query for the
// next due time. It returns queue.ErrEmpty when nothing was due.
func (q *Queue) receive(ctx context.Context, visibility time.Duration, wantNext bool) (*queue.Message, time.Time, error) {
	if visibility <= 0 || visibility > queue.MaxWait {
		return nil, time.Time{}, fmt.Errorf("postgres: visibility is %v, want > 0 and <= %v (queue.MaxWait)", visibility, queue.MaxWait)
	}
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	if err := q.begin(); err != nil {
		return nil, time.Time{}, err
	}
	defer q.ops.Done()
	now := q.now()
	deadline := now.Add(visibility)
	lease := newLease()
	b := newBatch()
	b.Queue(q.sql.sweep, now, q.cfg.policy.MaxAttempts)
	b.Queue(q.sql.pick, now, deadline, lease, q.owner, q.cfg.policy.MaxAttempts)
	if wantNext {
		b.Queue(q.sql.next)
	}
	br := q.pool.SendBatch(ctx, b)
	defer br.Close()
	tag, err := br.Exec()
	if err != nil {
		return nil, time.Time{}, q.fail("receive", err)
	}
	q.swept(tag.RowsAffected())
	m := &queue.Message{Deadline: deadline, Lease: uint64(lease)}
	var id int64
	err = br.QueryRow().Scan(&id, &m.Payload, &m.Attempt, &m.EnqueuedAt)
	if err == nil {
		m.ID = queue.ID(id)
		return m, time.Time{}, br.Close()
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, time.Time{}, q.fail("receive", err)
	}
	var next time.Time
	if wantNext {
		if err := br.QueryRow().Scan(&next); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, time.Time{}, q.fail("receive", err)
		}
	}
	if err := br.Close(); err != nil {
		return nil, time.Time{}, q.fail("receive", err)
	}
	return nil, next, queue.ErrEmpty
}

// Ack deletes the delivered message. It returns queue.ErrLeaseLost when
// the lease has expired or the message was settled already.
func (q *Queue) Ack(ctx context.Context, m *queue.Message) error {
	err := q.settle(ctx, "ack", q.sql.ack, m)
	if err == nil {
		q.acked.Add(1)
	}
	return err
}

// Nack fails the delivery: the message is due again after the retry
// policy's delay for its attempt, or becomes a dead letter with cause as
// its reason when that was its last attempt.
func (q *Queue) Nack(ctx context.Context, m *queue.Message, cause error) error {
	if m == nil {
		return errors.New("postgres: Nack of a nil message")
	}
	if m.Attempt >= q.cfg.policy.MaxAttempts {
		err := q.settle(ctx, "nack", q.sql.dead, m, reason(cause))
		if err == nil {
			q.nacked.Add(1)
			q.deadLettered(m, cause)
		}
		return err
	}
	notBefore := q.now().Add(q.cfg.policy.Delay(m.Attempt)).Truncate(time.Microsecond)
	err := q.settle(ctx, "nack", q.sql.nack, m, notBefore, reason(cause), m.Attempt)
	if err == nil {
		q.nacked.Add(1)
		q.wake() // waiting receivers re-arm their timers for the new due time
	}
	return err
}

// Reject moves the delivered message straight to the dead letters.
func (q *Queue) Reject(ctx context.Context, m *queue.Message, cause error) error {
	err := q.settle(ctx, "reject", q.sql.dead, m, reason(cause))
	if err == nil {
		q.deadLettered(m, cause)
	}
	return err
}

// Release gives the delivery back unprocessed ("not now"): the message is
// due again after d (at once when d <= 0; d is capped at queue.MaxWait)
// and the attempt is not counted. The transaction commits asynchronously
// (synchronous_commit off): a refusal costs no WAL flush of its own, and a
// database crash right after may forget it, which counts the attempt.
func (q *Queue) Release(ctx context.Context, m *queue.Message, d time.Duration) error {
	if m == nil {
		return errors.New("postgres: Release of a nil message")
	}
	if err := q.begin(); err != nil {
		return err
	}
	defer q.ops.Done()
	now := q.now()
	due := now.Add(min(max(d, 0), queue.MaxWait))
	b := newBatch()
	b.Queue(asyncCommit)
	b.Queue(q.sql.giveBack, int64(m.ID), int64(m.Lease), now, due)
	br := q.pool.SendBatch(ctx, b)
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return q.fail("release", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: release of message %s: %w", m.ID, queue.ErrLeaseLost)
	}
	q.wake()
	if d <= 0 {
		q.notifySoon() // due now: other processes' receivers may take it
	}
	return nil
}

// Extend moves the lease deadline to now+d and updates m.Deadline.
func (q *Queue) Extend(ctx context.Context, m *queue.Message, d time.Duration) error {
	if d <= 0 || d > queue.MaxWait {
		return fmt.Errorf("postgres: extension is %v, want > 0 and <= %v (queue.MaxWait)", d, queue.MaxWait)
	}
	deadline := q.now().Add(d)
	if err := q.settle(ctx, "extend", q.sql.extend, m, deadline); err != nil {
		return err
	}
	m.Deadline = deadline
	return nil
}

// settle runs stmt with m's id, lease and now, then extra, and expects it
// to touch one row; no row means the lease is lost.
func (q *Queue) settle(ctx context.Context, op, stmt string, m *queue.Message, extra ...any) error {
	if m == nil {
		return fmt.Errorf("postgres: %s of a nil message", op)
	}
	if err := q.begin(); err != nil {
		return err
	}
	defer q.ops.Done()
	args := append([]any{int64(m.ID), int64(m.Lease), q.now()}, extra...)
	tag, err := q.pool.Exec(ctx, stmt, args...)
	if err != nil {
		return q.fail(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: %s of message %s: %w", op, m.ID, queue.ErrLeaseLost)
	}
	return nil
}

// fail wraps a database error of op; a context error stays matchable.
func (q *Queue) fail(op string, err error) error {
	return fmt.Errorf("postgres: %s on %s: %w", op, q.names.plain, err)
}
