package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
	"github.com/opskit/opskit/retry"
)

// Handler processes one delivery. What it returns settles the message:
//
//   - nil acks it;
//   - a permanent error (marked by retry.Permanent, found through any
//     wrapping) dead-letters it at once;
//   - "not now" releases it without spending an attempt (Backend.Release)
//     and pauses the whole Worker: an error matching retry.ErrCircuitOpen
//     or retry.ErrRateLimited (the call never reached the downstream), or
//     carrying a retry-after hint (retry.After, a *retry.StatusError with
//     Retry-After). The wait is the hint, at most an hour, or else the
//     Worker's backoff;
//   - any other error nacks it: redelivered after the backend's retry
//     policy's delay, dead-lettered once its attempts are spent.
//
// A panic is recovered and counts as an error. ctx ends after
// WorkerConfig.HandlerTimeout, or when Shutdown gives up waiting.
type Handler func(ctx context.Context, m *Message) error

// WorkerConfig configures StartWorker. Its zero value is usable.
type WorkerConfig struct {
	// Concurrency is how many handlers run at once; 0 means 1.
	Concurrency int
	// Visibility is the lease taken for each delivery; 0 means 30s. A
	// handler that may run longer should call Backend.Extend.
	Visibility time.Duration
	// HandlerTimeout ends each handler's context; 0 means Visibility,
	// so a handler is told to stop when its lease ends. Check reports a
	// handler still running HandlerTimeout after that as stuck.
	HandlerTimeout time.Duration
	// Backoff is how the Worker waits after its own calls (Receive, Ack,
	// Nack, Reject, Release) fail, and after a "not now" without a hint:
	// Backoff.Delay(n) after the n-th failure in a row. Zero fields mean
	// retry's defaults (100ms doubling to 10s, full jitter); MaxAttempts
	// is not used: the Worker retries for as long as it runs.
	Backoff retry.Policy
	// Clock times backoff, pauses, handler timeouts and Check; nil means
	// the real clock.
	Clock clock.Clock
	// Logger receives the Worker's failures and recoveries (rate-limited);
	// nil means slog.Default().
	Logger *slog.Logger
}

// failingAfter is how many failed calls in a row make Check fail.
const failingAfter = 3

// maxNotNow caps the wait a "not now" hint can ask for.
const maxNotNow = time.Hour

// ErrWorkerStopped matches Check's error once the Worker no longer
// consumes: after Shutdown, or when its backend was closed under it.
var ErrWorkerStopped = errors.New("queue: worker stopped")

// Worker runs a Handler over a Backend with bounded concurrency. It keeps
// consuming through failures of its backend: a failed Receive or settling
// call is retried after a backoff, and Check reports a Worker that keeps
// failing or whose handlers are stuck.
type Worker struct {
	b       Backend
	h       Handler
	cfg     WorkerConfig
	clk     clock.Clock
	log     *slog.Logger
	stop    context.CancelFunc // stops receiving
	abandon context.CancelFunc // cancels handlers and settling retries
	done    chan struct{}      // closed when the last loop returns

	mu         sync.Mutex // guards everything below
	live       int        // loops still running
	stopped    bool       // Shutdown was called
	fatal      error      // why the loops stopped on their own
	failures   int        // failed calls in a row
	failSince  time.Time  // when the first of them failed
	lastErr    error      // the latest of them
	notNows    int        // "not now" answers in a row
	pauseUntil time.Time  // no receiving before then
	running    []slot     // one per loop
}

// slot is what one loop's handler is doing.
type slot struct {
	id      ID
	started time.Time // zero when idle
}

// StartWorker starts cfg.Concurrency goroutines that receive from b and run
// h. Stop them with Shutdown before closing b.
func StartWorker(b Backend, h Handler, cfg WorkerConfig) (*Worker, error) {
	switch {
	case b == nil || h == nil:
		return nil, errors.New("queue: StartWorker needs a backend and a handler")
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("queue: WorkerConfig.Concurrency is %d, want >= 0", cfg.Concurrency)
	case cfg.Visibility < 0 || cfg.Visibility > MaxWait:
		return nil, fmt.Errorf("queue: WorkerConfig.Visibility is %v, want 0..%v", cfg.Visibility, MaxWait)
	case cfg.HandlerTimeout < 0 || cfg.HandlerTimeout > MaxWait:
		return nil, fmt.Errorf("queue: WorkerConfig.HandlerTimeout is %v, want 0..%v", cfg.HandlerTimeout, MaxWait)
	}
	if err := cfg.Backoff.Validate(); err != nil {
		return nil, fmt.Errorf("queue: WorkerConfig.Backoff: %w", err)
	}
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Visibility == 0 {
		cfg.Visibility = 30 * time.Second
	}
	if cfg.HandlerTimeout == 0 {
		cfg.HandlerTimeout = cfg.Visibility
	}
	w := &Worker{b: b, h: h, cfg: cfg, clk: timer.Or(cfg.Clock), log: cfg.Logger,
		done: make(chan struct{}), live: cfg.Concurrency, running: make([]slot, cfg.Concurrency)}
	if w.log == nil {
		w.log = slog.Default()
	}
	recvCtx, stop := context.WithCancel(context.Background())
	workCtx, abandon := context.WithCancel(context.Background())
	w.stop, w.abandon = stop, abandon
	for i := range cfg.Concurrency {
		go w.loop(recvCtx, workCtx, i)
	}
	return w, nil
}

func (w *Worker) loop(recvCtx, workCtx context.Context, i int) {
	defer w.exit()
	for {
		if w.waitPause(recvCtx) != nil {
			return
		}
		m, err := w.b.Receive(recvCtx, w.cfg.Visibility)
		switch {
		case errors.Is(err, ErrClosed):
			w.mu.Lock()
			w.fatal = err
			w.mu.Unlock()
			w.log.Error("queue: worker stopped: its backend was closed", "err", err)
			return
		case recvCtx.Err() != nil:
			if m != nil { // received as Shutdown began: give it back
				w.settle(workCtx, "release", m, func(ctx context.Context) error { return w.b.Release(ctx, m, 0) })
			}
			return
		case err != nil:
			if timer.Sleep(recvCtx, w.clk, w.failed("receive", err)) != nil {
				return
			}
			continue
		}
		w.succeeded()
		if d := w.paused(); d > 0 { // another handler said "not now" meanwhile
			w.settle(workCtx, "release", m, func(ctx context.Context) error { return w.b.Release(ctx, m, d) })
			continue
		}
		w.handle(workCtx, i, m)
	}
}

// exit counts a loop out; the last one closes done.
func (w *Worker) exit() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.live--; w.live == 0 {
		close(w.done)
	}
}

// handle runs the handler and settles the delivery with its verdict.
func (w *Worker) handle(workCtx context.Context, i int, m *Message) {
	w.mu.Lock()
	w.running[i] = slot{id: m.ID, started: w.clk.Now()}
	w.mu.Unlock()
	ctx, cancel := timer.WithTimeout(workCtx, w.clk, w.cfg.HandlerTimeout)
	herr := w.call(ctx, m)
	cancel()
	w.mu.Lock()
	w.running[i] = slot{}
	w.mu.Unlock()

	switch d, notNow := w.notNow(herr); {
	case herr == nil:
		w.settle(workCtx, "ack", m, func(ctx context.Context) error { return w.b.Ack(ctx, m) })
	case retry.IsPermanent(herr):
		w.settle(workCtx, "reject", m, func(ctx context.Context) error { return w.b.Reject(ctx, m, herr) })
	case notNow:
		w.settle(workCtx, "release", m, func(ctx context.Context) error { return w.b.Release(ctx, m, d) })
	default:
		w.settle(workCtx, "nack", m, func(ctx context.Context) error { return w.b.Nack(ctx, m, herr) })
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

// notNow reports whether herr says "not now", and if so pauses the Worker
// and returns the wait.
func (w *Worker) notNow(herr error) (time.Duration, bool) {
	var hint retry.Hint
	hinted := herr != nil && errors.As(herr, &hint)
	var d time.Duration
	if hinted {
		d, hinted = hint.RetryAfter()
	}
	refused := herr != nil && !retry.IsPermanent(herr) &&
		(hinted || errors.Is(herr, retry.ErrCircuitOpen) || errors.Is(herr, retry.ErrRateLimited))
	w.mu.Lock()
	if !refused {
		w.notNows = 0
		w.mu.Unlock()
		return 0, false
	}
	w.notNows++
	n := w.notNows
	if !hinted {
		d = w.cfg.Backoff.Delay(n)
	}
	d = min(max(d, 0), maxNotNow)
	if until := w.clk.Now().Add(d); until.After(w.pauseUntil) {
		w.pauseUntil = until
	}
	w.mu.Unlock()
	if n == 1 {
		w.log.Info("queue: worker pausing: the handler said not now", "wait", d, "err", herr)
	}
	return d, true
}

// paused returns how long the Worker is still paused for.
func (w *Worker) paused() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pauseUntil.Sub(w.clk.Now())
}

// waitPause returns once the Worker is not paused, or ctx's error.
func (w *Worker) waitPause(ctx context.Context) error {
	for {
		d := w.paused()
		if d <= 0 {
			return ctx.Err()
		}
		if err := timer.Sleep(ctx, w.clk, d); err != nil {
			return err
		}
	}
}

// settle runs call until it succeeds, retrying after a backoff while the
// failure looks transient and the lease may still hold. A lost lease means
// another delivery owns the message now; a message whose settling is given
// up on is delivered again when its lease expires.
func (w *Worker) settle(ctx context.Context, op string, m *Message, call func(context.Context) error) {
	for {
		err := call(ctx)
		switch {
		case err == nil:
			w.succeeded()
			return
		case errors.Is(err, ErrLeaseLost):
			w.log.Warn("queue: worker lost a lease before settling", "op", op, "id", m.ID, "err", err)
			return
		case errors.Is(err, ErrClosed) || ctx.Err() != nil:
			return
		}
		wait := w.failed(op, err)
		if !w.clk.Now().Add(wait).Before(m.Deadline) {
			w.log.Warn("queue: worker gave up settling; the message is redelivered when its lease ends",
				"op", op, "id", m.ID, "err", err)
			return
		}
		if timer.Sleep(ctx, w.clk, wait) != nil {
			return
		}
	}
}

// failed records a failed call and returns how long to wait before the
// next one. It logs the first failures of a run and then at 2^k.
func (w *Worker) failed(op string, err error) time.Duration {
	w.mu.Lock()
	if w.failures == 0 {
		w.failSince = w.clk.Now()
	}
	w.failures++
	n, since := w.failures, w.failSince
	w.lastErr = fmt.Errorf("%s: %w", op, err)
	w.mu.Unlock()
	wait := w.cfg.Backoff.Delay(n)
	if n&(n-1) == 0 {
		w.log.Warn("queue: worker call failed; retrying", "op", op, "err", err,
			"failures_in_a_row", n, "failing_since", since, "wait", wait)
	}
	return wait
}

// succeeded ends a run of failures.
func (w *Worker) succeeded() {
	w.mu.Lock()
	n := w.failures
	w.failures, w.lastErr = 0, nil
	w.mu.Unlock()
	if n > 0 {
		w.log.Info("queue: worker recovered", "failures_in_a_row", n)
	}
}

// Check is a health check (func(ctx) error, for health.Checker). It fails
// when the Worker no longer consumes (ErrWorkerStopped: after Shutdown, or
// its backend was closed), when its last failingAfter (3) or more calls
// in a row failed (the error says since when, and the last error), or when a
// handler is stuck: still running HandlerTimeout after its context ended.
// A Worker paused by "not now" answers is healthy.
func (w *Worker) Check(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clk.Now()
	switch {
	case w.fatal != nil:
		return fmt.Errorf("%w: %w", ErrWorkerStopped, w.fatal)
	case w.stopped:
		return fmt.Errorf("%w: shut down", ErrWorkerStopped)
	case w.failures >= failingAfter:
		return fmt.Errorf("queue: worker failing: %d calls in a row failed since %v (%v ago), last: %w",
			w.failures, w.failSince.Format(time.RFC3339), now.Sub(w.failSince).Round(time.Second), w.lastErr)
	}
	var stuck []string
	for _, s := range w.running {
		if !s.started.IsZero() && now.Sub(s.started) >= 2*w.cfg.HandlerTimeout {
			stuck = append(stuck, fmt.Sprintf("%s for %v", s.id, now.Sub(s.started).Round(time.Second)))
		}
	}
	if len(stuck) > 0 {
		return fmt.Errorf("queue: worker stuck: %d of %d handlers running past their %v timeout (%s)",
			len(stuck), len(w.running), w.cfg.HandlerTimeout, strings.Join(stuck, ", "))
	}
	return nil
}

// Shutdown stops receiving and waits for running handlers to finish and
// settle their messages. If ctx ends first, it cancels the handlers'
// context and returns at once with an error (wrapping ctx's) that names
// the messages still being handled: their leases expire and they are
// delivered again. Close the backend only after Shutdown. Calling it again
// waits again.
func (w *Worker) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.stop()
	select {
	case <-w.done:
		w.abandon()
		return nil
	case <-ctx.Done():
	}
	w.abandon()
	w.mu.Lock()
	defer w.mu.Unlock()
	var ids []string
	for _, s := range w.running {
		if !s.started.IsZero() {
			ids = append(ids, s.id.String())
		}
	}
	if len(ids) == 0 {
		return fmt.Errorf("queue: worker shutdown left %d loops settling their last messages, cancelled; unsettled ones are redelivered when their leases end: %w",
			w.live, ctx.Err())
	}
	return fmt.Errorf("queue: worker shutdown left %d handlers running (messages %s), cancelled; they are redelivered when their leases end: %w",
		len(ids), strings.Join(ids, ", "), ctx.Err())
}
