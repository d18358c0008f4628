package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/postgres"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
	"go.opentelemetry.io/otel/metric"
)

// redelivery is how the queue retries an order whose delivery failed:
// quickly at first, then about every 15 seconds, for about six hours
// before the order becomes a dead letter an operator looks at.
var redelivery = retry.Policy{MaxAttempts: 1500, BaseDelay: time.Second, MaxDelay: 15 * time.Second}

// openOrderQueue opens the durable order queue: a file queue under the data
// directory, or with -queue-url a PostgreSQL queue that several replicas
// can share (its pool from pools). The returned func closes the queue.
func openOrderQueue(ctx context.Context, cfg config, pools *pgPools, mp metric.MeterProvider, log *slog.Logger) (queue.Backend, func(), error) {
	if cfg.queueURL != "" {
		pool, err := pools.get(ctx, "-queue-url", cfg.queueURL)
		if err != nil {
			return nil, nil, err
		}
		q, err := postgres.OpenQueue(ctx, pool, postgres.WithMeterProvider(mp), postgres.WithLogger(log),
			postgres.WithRetryPolicy(redelivery))
		if err != nil {
			return nil, nil, fmt.Errorf("-queue-url: %w", err)
		}
		log.Info("queue: using PostgreSQL", "host", pool.Config().ConnConfig.Host, "database", pool.Config().ConnConfig.Database)
		return q, func() { closeLogged(log, "queue", q) }, nil
	}
	q, err := queue.Open(filepath.Join(cfg.dataDir, "queue"),
		queue.WithMeterProvider(mp), queue.WithLogger(log), queue.WithRetryPolicy(redelivery))
	if err != nil {
		return nil, nil, err
	}
	if err := q.Recovered(); err != nil {
		log.Warn("queue: opened after skipping damaged records", "err", err)
	}
	return q, func() { closeLogged(log, "queue", q) }, nil
}

// pgPools holds one pool per PostgreSQL URL, so -queue-url and
// -fleet-url naming the same database share one pool. Each pool's schema
// (the queue's and the fleet store's tables) is migrated, idempotently,
// as it is opened.
type pgPools struct{ pools map[string]*pgxpool.Pool }

// get returns the pool for url, connecting and migrating on first use;
// flag names the flag url came from in errors.
func (p *pgPools) get(ctx context.Context, flag, url string) (*pgxpool.Pool, error) {
	if pool, ok := p.pools[url]; ok {
		return pool, nil
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if p.pools == nil {
		p.pools = map[string]*pgxpool.Pool{}
	}
	p.pools[url] = pool
	return pool, nil
}

// openFleetStore is -fleet-url: the PostgreSQL fleet store the replicas
// naming the same database share (nil without the flag). It holds no
// connection of its own; the pool is closed with the others.
func openFleetStore(ctx context.Context, cfg config, pools *pgPools, log *slog.Logger) (fleet.Store, error) {
	if cfg.fleetURL == "" {
		return nil, nil
	}
	pool, err := pools.get(ctx, "-fleet-url", cfg.fleetURL)
	if err != nil {
		return nil, err
	}
	st, err := postgres.OpenStore(ctx, pool)
	if err != nil {
		return nil, fmt.Errorf("-fleet-url: %w", err)
	}
	log.Info("fleet: using the PostgreSQL fleet store", "instance", cfg.instance,
		"host", pool.Config().ConnConfig.Host, "database", pool.Config().ConnConfig.Database)
	return st, nil
}

// Close closes every pool; what used them must be closed first.
func (p *pgPools) Close() {
	for _, pool := range p.pools {
		pool.Close()
	}
}

// startDelivery runs the worker that hands queued orders to the downstream.
func startDelivery(q queue.Backend, o *orders, log *slog.Logger) (*queue.Worker, error) {
	return queue.StartWorker(q, func(ctx context.Context, m *queue.Message) error {
		var ord order
		if err := json.Unmarshal(m.Payload, &ord); err != nil {
			o.objectives.fulfil.deadLettered(m.ID.String())
			return retry.Permanent(err) // no retry can fix a payload we cannot read
		}
		counts := o.objectives.fulfil.redelivering(ord.ID, m.EnqueuedAt)
		err := o.post(ctx, ord)
		switch {
		case !counts: // a requeued dead letter: counted already
		case err == nil:
			o.objectives.fulfil.delivered(ord.ID)
		case retry.IsPermanent(err) || m.Attempt >= redelivery.MaxAttempts && !notNow(err):
			o.objectives.fulfil.deadLettered(ord.ID)
		}
		return err
	}, queue.WorkerConfig{Concurrency: 4, Visibility: 30 * time.Second, Logger: log,
		// While the breaker is open every delivery is refused before it
		// reaches the downstream: the worker gives the order back without
		// spending an attempt and pauses, 1s doubling to about the breaker's
		// open time, instead of asking the breaker ~160 times a second.
		Backoff: retry.Policy{BaseDelay: time.Second, MaxDelay: 10 * time.Second, Jitter: retry.JitterEqual}})
}

// maxReaccept bounds the orders reaccept holds at once.
const maxReaccept = 10_000

// reaccept runs at start, before the worker: it starts the delivery-bound
// clock again for every order ready in the queue, from its enqueue time,
// so one whose bound passed while the service was down counts late now,
// not whenever the worker (paused behind an open breaker, say) gets to
// it. Each is leased, read and given back at once without spending an
// attempt. Orders waiting out a redelivery delay are re-accepted when the
// worker receives them. It returns how many orders it saw.
func reaccept(ctx context.Context, q queue.Backend, f *fulfilment, log *slog.Logger) int {
	var held []*queue.Message
	defer func() {
		ctx := context.WithoutCancel(ctx) // give them back even when a signal ended the start
		for _, m := range held {
			if err := q.Release(ctx, m, 0); err != nil {
				log.Warn("queue: giving back an order after re-accepting it", "id", m.ID, "err", err)
			}
		}
	}()
	for len(held) < maxReaccept {
		m, err := q.TryReceive(ctx, time.Minute)
		if err != nil {
			if !errors.Is(err, queue.ErrEmpty) {
				log.Warn("queue: re-accepting orders after a restart stopped early", "err", err)
			}
			break
		}
		held = append(held, m)
		var ord order
		if json.Unmarshal(m.Payload, &ord) == nil {
			f.redelivering(ord.ID, m.EnqueuedAt)
		}
	}
	return len(held)
}

// notNow reports whether the worker will give the message back without
// spending an attempt (the call never reached the downstream).
func notNow(err error) bool {
	return errors.Is(err, retry.ErrCircuitOpen) || errors.Is(err, retry.ErrRateLimited)
}

// queueAPI serves /queue (stats) and /queue/dead (dead letters).
type queueAPI struct {
	q   queue.Backend
	ops *operators
}

func (a queueAPI) serveStats(w http.ResponseWriter, r *http.Request) {
	s, err := a.q.Stats(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// deadLetters serves /queue/dead with the library's handler: a paginated
// list, requeue and purge by id or in bulk, every request behind the
// operator token and audited.
func (a queueAPI) deadLetters() http.Handler {
	return http.StripPrefix("/queue/dead", queue.DeadLetterHandler(a.q, a.ops.admin))
}
