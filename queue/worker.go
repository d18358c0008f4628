package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Handler processes one delivery. Returning nil acks the message; an
// error nacks it (redelivered after backoff, dead-lettered once its
// attempts are spent); an error wrapped by Permanent rejects it straight to
// the dead letters. A panic is recovered and counts as an error.
type Handler func(ctx context.Context, m *Message) error

// Permanent wraps err so that a Worker dead-letters the message at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// WorkerConfig configures StartWorker. Its zero value is usable.
type WorkerConfig struct {
	// Concurrency is how many handlers run at once; 0 means 1.
	Concurrency int
	// Visibility is the lease taken for each delivery; 0 means 30s. A
	// handler that may run longer should call Backend.Extend.
	Visibility time.Duration
	// Logger receives failures of the worker's own calls (a failed Ack);
	// nil means slog.Default().
	Logger *slog.Logger
}

// Worker runs a Handler over a Backend with bounded concurrency.
type Worker struct {
	b       Backend
	h       Handler
	cfg     WorkerConfig
	stop    context.CancelFunc // stops receiving
	abandon context.CancelFunc // cancels handlers in progress
	wg      sync.WaitGroup

	mu  sync.Mutex // guards err
	err error
}

// StartWorker starts cfg.Concurrency goroutines that receive from b and run
// h. Stop them with Close or Shutdown before closing b.
func StartWorker(b Backend, h Handler, cfg WorkerConfig) (*Worker, error) {
	switch {
	case b == nil || h == nil:
		return nil, errors.New("queue: StartWorker needs a backend and a handler")
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("queue: WorkerConfig.Concurrency is %d, want >= 0", cfg.Concurrency)
	case cfg.Visibility < 0:
		return nil, fmt.Errorf("queue: WorkerConfig.Visibility is %v, want >= 0", cfg.Visibility)
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Visibility == 0 {
		cfg.Visibility = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	recvCtx, stop := context.WithCancel(context.Background())
	handlerCtx, abandon := context.WithCancel(context.Background())
	w := &Worker{b: b, h: h, cfg: cfg, stop: stop, abandon: abandon}
	w.wg.Add(cfg.Concurrency)
	for range cfg.Concurrency {
		go w.loop(recvCtx, handlerCtx)
	}
	return w, nil
}

func (w *Worker) loop(recvCtx, handlerCtx context.Context) {
	defer w.wg.Done()
	for {
		m, err := w.b.Receive(recvCtx, w.cfg.Visibility)
		if err != nil {
			if recvCtx.Err() == nil && !errors.Is(err, ErrClosed) {
				w.fail(err)
			}
			return
		}
		w.handle(handlerCtx, m)
	}
}

// handle runs the handler and settles the delivery with its verdict.
func (w *Worker) handle(ctx context.Context, m *Message) {
	herr := w.call(ctx, m)
	var err error
	var perm *permanentError
	switch {
	case herr == nil:
		err = w.b.Ack(context.Background(), m)
	case errors.As(herr, &perm):
		err = w.b.Reject(context.Background(), m, perm.err)
	default:
		err = w.b.Nack(context.Background(), m, herr)
	}
	if err != nil && !errors.Is(err, ErrClosed) {
		// A lost lease means another delivery owns the message now.
		w.cfg.Logger.Warn("queue: worker could not settle a message", "id", m.ID, "err", err)
	}
}

func (w *Worker) call(ctx context.Context, m *Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("queue: handler panicked: %v", p)
		}
	}()
	return w.h(ctx, m)
}

func (w *Worker) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
	w.cfg.Logger.Error("queue: worker stopped receiving", "err", err)
}

// Err returns the error that stopped a receive loop, if any.
func (w *Worker) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Shutdown stops receiving and waits for running handlers; if ctx ends
// first, it cancels their context and still waits for them to return.
// Messages whose handlers were cancelled are nacked (or redelivered once
// their lease expires).
func (w *Worker) Shutdown(ctx context.Context) error {
	w.stop()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
		w.abandon()
		return nil
	case <-ctx.Done():
		w.abandon()
		<-done
		return ctx.Err()
	}
}

// Close stops receiving and waits for running handlers to finish.
func (w *Worker) Close() error { return w.Shutdown(context.Background()) }
