package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reconnect waits of the listener after its connection fails: it starts
// at listenRetryMin and doubles up to listenRetryMax. These are wall-clock
// waits for a database to come back, not queue decisions, so they do not
// use the queue's clock; Receive keeps polling meanwhile.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// listenConn takes a connection out of the pool for good and LISTENs on
// the queue's channel with it.
func (q *Queue) listenConn(ctx context.Context) (*pgx.Conn, error) {
	pc, err := q.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{q.names.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// listen wakes receivers on each notification until ctx ends, and
// reconnects when its connection fails. OpenQueue starts it; Close stops it and
// waits.
func (q *Queue) listen(ctx context.Context, conn *pgx.Conn) {
	defer q.bg.Done()
	wait := listenRetryMin
	for {
		if conn == nil {
			var err error
			if conn, err = q.listenConn(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				q.cfg.log.Warn("postgres: queue listener cannot reconnect; receivers poll meanwhile",
					"table", q.names.plain, "retry_in", wait, "err", err)
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				wait = min(2*wait, listenRetryMax)
				continue
			}
			wait = listenRetryMin
			q.wake() // notifications may have been missed while down
		}
		_, err := conn.WaitForNotification(ctx)
		if err == nil {
			q.wake()
			continue
		}
		closeConn(conn)
		conn = nil
		if ctx.Err() != nil {
			return
		}
		q.cfg.log.Warn("postgres: queue listener lost its connection", "table", q.names.plain, "err", err)
	}
}

// closeConn closes a connection the queue took out of the pool.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = conn.Close(ctx) // the connection is discarded either way
}

// notifySoon asks the notifier to send one NOTIFY; requests made while one
// is pending or in flight share it.
func (q *Queue) notifySoon() {
	select {
	case q.notifyCh <- struct{}{}:
	default:
	}
}

// notifier sends the NOTIFYs that notifySoon asks for, each in its own
// short transaction, until ctx ends. A NOTIFY that fails costs other
// processes at most a poll interval of latency, so it is logged at debug
// level only.
func (q *Queue) notifier(ctx context.Context) {
	defer q.bg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.notifyCh:
		}
		if _, err := q.pool.Exec(ctx, q.sql.notify, q.names.channel); err != nil && ctx.Err() == nil {
			q.cfg.log.Debug("postgres: queue NOTIFY failed", "table", q.names.plain, "err", err)
		}
	}
}
