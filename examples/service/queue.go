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
	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/queue/postgres"
	"github.com/opskit/opskit/retry"
	"go.opentelemetry.io/otel/metric"
)

// redelivery is how the queue retries an order whose delivery failed:
// quickly at first, then about every 15 seconds, for about six hours
// before the order becomes a dead letter an operator looks at.
var redelivery = retry.Policy{MaxAttempts: 1500, BaseDelay: time.Second, MaxDelay: 15 * time.Second}

// openOrderQueue opens the durable order queue: a file queue under the data
// directory, or with -queue-url a PostgreSQL queue that several replicas
// can share. The returned func closes it (and the database pool).
func openOrderQueue(ctx context.Context, cfg config, mp metric.MeterProvider, log *slog.Logger) (queue.Backend, func(), error) {
	if cfg.queueURL != "" {
		return openPostgresQueue(ctx, cfg.queueURL, mp, log)
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

// openPostgresQueue connects, migrates the schema (idempotent) and opens
// the queue on it.
func openPostgresQueue(ctx context.Context, url string, mp metric.MeterProvider, log *slog.Logger) (queue.Backend, func(), error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("-queue-url: %w", err)
	}
	q, err := func() (*postgres.Queue, error) {
		if err := postgres.Migrate(ctx, pool); err != nil {
			return nil, err
		}
		return postgres.Open(ctx, pool, postgres.WithMeterProvider(mp), postgres.WithLogger(log),
			postgres.WithRetryPolicy(redelivery))
	}()
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("-queue-url: %w", err)
	}
	log.Info("queue: using PostgreSQL", "host", pool.Config().ConnConfig.Host, "database", pool.Config().ConnConfig.Database)
	return q, func() { closeLogged(log, "queue", q); pool.Close() }, nil
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
	}, queue.WorkerConfig{Concurrency: 4, Visibility: 30 * time.Second, Logger: log})
}

// notNow reports whether the worker will give the message back without
// spending an attempt (the call never reached the downstream).
func notNow(err error) bool {
	return errors.Is(err, retry.ErrCircuitOpen) || errors.Is(err, retry.ErrRateLimited)
}

// queueAPI serves /queue (stats) and /queue/dead (dead letters).
type queueAPI struct {
	q        queue.Backend
	features *features
	ops      *operators
}

func (a queueAPI) serveStats(w http.ResponseWriter, r *http.Request) {
	s, err := a.q.Stats(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (a queueAPI) serveDead(w http.ResponseWriter, r *http.Request) {
	dead, err := a.q.DeadLetters(r.Context(), queue.DeadFilter{Limit: 100})
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	if dead == nil {
		dead = []queue.DeadLetter{}
	}
	writeJSON(w, http.StatusOK, dead)
}

// serveRequeue answers POST /queue/dead/{id}/requeue (operator only).
func (a queueAPI) serveRequeue(w http.ResponseWriter, r *http.Request) {
	a.act(w, r, "queue.requeue", a.q.Requeue, "requeued")
}

// servePurge answers POST /queue/dead/{id}/purge (operator only).
func (a queueAPI) servePurge(w http.ResponseWriter, r *http.Request) {
	a.act(w, r, "queue.purge", a.q.Purge, "purged")
}

// act runs one dead-letter action on the id in the path and audits it.
func (a queueAPI) act(w http.ResponseWriter, r *http.Request, action audit.Action, do func(context.Context, queue.ID) error, done string) {
	actor, ok := a.ops.admin.Allow(w, r, action)
	if !ok {
		return
	}
	id, err := queue.ParseID(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	err = do(r.Context(), id)
	a.ops.record(a.ops.admin, r, actor, action, id.String(), err, "")
	switch {
	case errors.Is(err, queue.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		a.ops.log.Error("dead letter "+done+" failed", "id", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "the queue could not do that; see the service log")
	default:
		if action == "queue.requeue" {
			a.features.requeueDead.Use(r.Context())
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": id.String(), "status": done})
	}
}
