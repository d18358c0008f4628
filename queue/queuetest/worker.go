package queuetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
)

// probe wraps a backend under a Worker: it reports the calls the Worker
// makes, so a test knows where the Worker is without sleeping, and fails
// the first calls it is told to.
type probe struct {
	queue.Backend
	events chan event

	mu                    sync.Mutex // guards the counts
	failReceive, failAcks int
	background            int // timers armed before the Worker started
}

type event struct {
	op  string // "receiving" when Receive starts; the method's name when it returns
	err error
}

var errInjected = errors.New("queuetest: injected failure")

func newProbe(b queue.Backend) *probe {
	return &probe{Backend: b, events: make(chan event, 4096)}
}

func (p *probe) emit(op string, err error) {
	select {
	case p.events <- event{op, err}:
	default: // nobody is reading that far; never block the Worker
	}
}

// take reports whether to fail this call, counting *n down.
func (p *probe) take(n *int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if *n > 0 {
		*n--
		return true
	}
	return false
}

func (p *probe) Receive(ctx context.Context, visibility time.Duration) (*queue.Message, error) {
	p.emit("receiving", nil)
	if p.take(&p.failReceive) {
		p.emit("Receive", errInjected)
		return nil, errInjected
	}
	m, err := p.Backend.Receive(ctx, visibility)
	p.emit("Receive", err)
	return m, err
}

func (p *probe) Ack(ctx context.Context, m *queue.Message) error {
	err := errInjected
	if !p.take(&p.failAcks) {
		err = p.Backend.Ack(ctx, m)
	}
	p.emit("Ack", err)
	return err
}

func (p *probe) Nack(ctx context.Context, m *queue.Message, cause error) error {
	err := p.Backend.Nack(ctx, m, cause)
	p.emit("Nack", err)
	return err
}

func (p *probe) Reject(ctx context.Context, m *queue.Message, cause error) error {
	err := p.Backend.Reject(ctx, m, cause)
	p.emit("Reject", err)
	return err
}

func (p *probe) Release(ctx context.Context, m *queue.Message, d time.Duration) error {
	err := p.Backend.Release(ctx, m, d)
	p.emit("Release", err)
	return err
}

// waitTimer waits until the Worker has armed its timer (a backoff or a
// pause) on top of the timers the backend keeps armed in the background
// (a relaxed file queue's sync ticker).
func (p *probe) waitTimer(e *env) {
	e.clk.WaitForTimers(p.background + 1)
}

// await returns the next event for op, skipping others.
func (p *probe) await(e *env, op string) event {
	e.t.Helper()
	for ev := range p.events {
		if ev.op == op {
			return ev
		}
	}
	panic("unreachable")
}

// call is one handler call, as the handler saw it.
type call struct {
	m   *queue.Message
	at  time.Time
	ctx context.Context
}

// startWorker starts a Worker on a probe around e's backend, on e's clock,
// with a 1s backoff without jitter. Each handler call is sent on the
// returned channel before verdict decides its answer.
func (e *env) startWorker(cfg queue.WorkerConfig, verdict func(call) error, setup ...func(*probe)) (*queue.Worker, *probe, <-chan call) {
	e.t.Helper()
	p := newProbe(e.b)
	p.background = e.clk.Timers()
	for _, f := range setup {
		f(p)
	}
	calls := make(chan call, 64)
	cfg.Clock = e.clk
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.Backoff.BaseDelay == 0 {
		cfg.Backoff = retry.Policy{BaseDelay: time.Second, MaxDelay: time.Second, Jitter: retry.JitterNone}
	}
	w, err := queue.StartWorker(p, func(ctx context.Context, m *queue.Message) error {
		c := call{m: m, at: e.clk.Now(), ctx: ctx}
		calls <- c
		return verdict(c)
	}, cfg)
	if err != nil {
		e.t.Fatalf("StartWorker: %v", err)
	}
	e.t.Cleanup(func() { w.Shutdown(context.Background()) }) // before the backend closes
	return w, p, calls
}

func (e *env) shutdown(w *queue.Worker) {
	e.t.Helper()
	if err := w.Shutdown(context.Background()); err != nil {
		e.t.Fatalf("Shutdown: %v", err)
	}
	if err := w.Check(e.ctx); !errors.Is(err, queue.ErrWorkerStopped) {
		e.t.Fatalf("Check after Shutdown = %v, want ErrWorkerStopped", err)
	}
}

// testWorkerSettles: the handler's verdict settles each message: nil acks,
// a retry.Permanent error (wrapped further) dead-letters at once, an error
// or a panic nacks.
func testWorkerSettles(e *env) {
	for _, p := range []string{"ok", "fail", "perm", "panic"} {
		e.enqueue(p)
	}
	w, p, calls := e.startWorker(queue.WorkerConfig{}, func(c call) error {
		switch string(c.m.Payload) {
		case "fail":
			return errors.New("downstream 503")
		case "perm":
			return fmt.Errorf("order 7: %w", retry.Permanent(errors.New("unknown item")))
		case "panic":
			panic("boom")
		}
		return nil
	})
	for _, op := range []string{"Ack", "Nack", "Reject", "Nack"} {
		if ev := p.await(e, op); ev.err != nil {
			e.t.Fatalf("%s: %v", op, ev.err)
		}
	}
	if len(calls) != 4 {
		e.t.Fatalf("%d handler calls, want 4", len(calls))
	}
	e.shutdown(w)
	e.empty()
	dead := e.dead(queue.DeadFilter{})
	if len(dead) != 1 || string(dead[0].Payload) != "perm" || dead[0].Attempts != 1 ||
		dead[0].Reason != "order 7: unknown item" {
		e.t.Fatalf("DeadLetters = %+v, want perm after 1 attempt", dead)
	}
	e.clk.Advance(policy().Delay(1))
	e.receiveWant("fail", 2)
	e.receiveWant("panic", 2)
}

// testWorkerNotNow: an open breaker or a retry-after hint releases the
// message without spending its attempt and pauses the whole Worker.
func testWorkerNotNow(e *env) {
	e.enqueue("x")
	e.enqueue("y")
	var mu sync.Mutex
	n := 0
	w, p, calls := e.startWorker(queue.WorkerConfig{}, func(c call) error {
		mu.Lock()
		defer mu.Unlock()
		switch n++; n {
		case 1:
			return fmt.Errorf("deliver: %w", retry.ErrCircuitOpen)
		case 2:
			return retry.After(errors.New("downstream 429"), 5*time.Second)
		}
		return nil
	})
	c1 := <-calls
	p.await(e, "Release")
	p.waitTimer(e) // the pause; the Worker receives nothing meanwhile
	select {
	case c := <-calls:
		e.t.Fatalf("handler called with %q during the pause", c.m.Payload)
	default:
	}
	if err := w.Check(e.ctx); err != nil {
		e.t.Fatalf("Check while paused = %v, want nil", err)
	}
	e.clk.Advance(time.Second) // the backoff's first wait
	c2 := <-calls
	p.await(e, "Release")
	p.waitTimer(e)
	e.clk.Advance(5 * time.Second) // the hint
	c3 := <-calls
	c4 := <-calls
	p.await(e, "Ack")
	p.await(e, "Ack")
	for i, c := range []call{c1, c2, c3, c4} {
		if c.m.Attempt != 1 {
			e.t.Fatalf("call %d: %q attempt %d, want 1 (not now spends no attempt)", i+1, c.m.Payload, c.m.Attempt)
		}
	}
	if c2.at.Sub(c1.at) < time.Second || c3.at.Sub(c2.at) < 5*time.Second {
		e.t.Fatalf("calls at %v, %v, %v: want pauses of 1s and 5s", c1.at, c2.at, c3.at)
	}
	e.shutdown(w)
	if s := e.stats(); s.Depth != 0 || s.Dead != 0 {
		e.t.Fatalf("Stats = %+v, want both delivered", s)
	}
}

// testWorkerSurvives: failed Receive and Ack calls are retried after a
// backoff; Check reports the Worker failing meanwhile and healthy after.
func testWorkerSurvives(e *env) {
	e.enqueue("a")
	w, p, calls := e.startWorker(queue.WorkerConfig{}, func(call) error { return nil },
		func(p *probe) { p.failReceive, p.failAcks = 3, 2 })
	for i := 1; i <= 3; i++ {
		if ev := p.await(e, "Receive"); !errors.Is(ev.err, errInjected) {
			e.t.Fatalf("Receive %d = %v, want the injected failure", i, ev.err)
		}
		p.waitTimer(e) // the backoff
		err := w.Check(e.ctx)
		if i < 3 && err != nil {
			e.t.Fatalf("Check after %d failures = %v, want nil", i, err)
		}
		if i == 3 && (err == nil || !strings.Contains(err.Error(), "failing") || !errors.Is(err, errInjected)) {
			e.t.Fatalf("Check after 3 failures = %v, want failing with the last error", err)
		}
		e.clk.Advance(time.Second)
	}
	if c := <-calls; string(c.m.Payload) != "a" {
		e.t.Fatalf("handled %q, want a", c.m.Payload)
	}
	for range 2 {
		if ev := p.await(e, "Ack"); !errors.Is(ev.err, errInjected) {
			e.t.Fatalf("Ack = %v, want the injected failure", ev.err)
		}
		p.waitTimer(e)
		e.clk.Advance(time.Second)
	}
	if ev := p.await(e, "Ack"); ev.err != nil {
		e.t.Fatalf("third Ack = %v", ev.err)
	}
	p.await(e, "receiving") // back to consuming
	if err := w.Check(e.ctx); err != nil {
		e.t.Fatalf("Check after recovery = %v, want nil", err)
	}
	e.shutdown(w)
	if s := e.stats(); s.Depth != 0 {
		e.t.Fatalf("Stats = %+v, want the message acked", s)
	}
}

// testWorkerShutdownBounded: Shutdown returns when its context ends, even
// with a handler that ignores its own, naming the message left.
func testWorkerShutdownBounded(e *env) {
	id := e.enqueue("a")
	release := make(chan struct{})
	w, _, calls := e.startWorker(queue.WorkerConfig{}, func(call) error {
		<-release
		return nil
	})
	<-calls
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	err := w.Shutdown(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), id.String()) {
		t := e.t
		close(release)
		t.Fatalf("Shutdown with an ended context = %v, want context.Canceled naming %s", err, id)
	}
	close(release)
	if err := w.Shutdown(e.ctx); err != nil {
		e.t.Fatalf("second Shutdown = %v", err)
	}
}

// testWorkerStuck: a handler running past its timeout shows in Check.
func testWorkerStuck(e *env) {
	id := e.enqueue("a")
	release := make(chan struct{})
	ctxErr := make(chan error, 1)
	w, _, calls := e.startWorker(queue.WorkerConfig{HandlerTimeout: 10 * time.Second}, func(c call) error {
		<-release
		ctxErr <- c.ctx.Err()
		return nil
	})
	<-calls
	if err := w.Check(e.ctx); err != nil {
		close(release)
		e.t.Fatalf("Check with a fresh handler = %v", err)
	}
	e.clk.Advance(20 * time.Second)
	err := w.Check(e.ctx)
	close(release)
	if err == nil || !strings.Contains(err.Error(), "stuck") || !strings.Contains(err.Error(), id.String()) {
		e.t.Fatalf("Check with a handler 20s into a 10s timeout = %v, want stuck naming %s", err, id)
	}
	if err := <-ctxErr; !errors.Is(err, context.DeadlineExceeded) {
		e.t.Fatalf("handler's context after its timeout: %v, want DeadlineExceeded", err)
	}
	e.shutdown(w)
}

// testWorkerBackendClosed: a Worker whose backend is closed under it says
// so in Check instead of stopping silently.
func testWorkerBackendClosed(e *env) {
	w, p, _ := e.startWorker(queue.WorkerConfig{}, func(call) error { return nil })
	p.await(e, "receiving")
	if err := e.b.Close(); err != nil {
		e.t.Fatal(err)
	}
	if ev := p.await(e, "Receive"); !errors.Is(ev.err, queue.ErrClosed) {
		e.t.Fatalf("Receive after Close = %v, want ErrClosed", ev.err)
	}
	if err := w.Shutdown(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if err := w.Check(e.ctx); !errors.Is(err, queue.ErrWorkerStopped) || !errors.Is(err, queue.ErrClosed) {
		e.t.Fatalf("Check = %v, want ErrWorkerStopped and ErrClosed", err)
	}
}
