// Package queuetest is the conformance suite every queue.Backend passes.
//
// The suite drives time with a fake clock: the backend must take every time
// decision (not-before times, lease deadlines, backoff, ages) from
// Options.Clock and never from its own wall clock or its database's. No
// test sleeps; waiting calls (Receive) are only used where a message is
// already ready or arrives from another goroutine.
//
// Beyond the basic contract it holds every backend to: Release ("not
// now") spending no attempt, even the last; waits above queue.MaxWait
// refused or clamped, never wrapped; ids in one textual form, JSON
// included; dead letters paged and filtered by queue.DeadFilter, requeued
// and purged in bulk; queue.DeadLetterHandler over the backend (refusals,
// audit records, an id copied from the list requeues that message); and a
// queue.Worker over it, with failures injected between the two: verdicts
// settle messages, "not now" pauses, failed calls are retried and show in
// Check, Shutdown is bounded, stuck handlers and a closed backend are
// reported.
//
//	func TestConformance(t *testing.T) {
//		queuetest.Run(t, func(t *testing.T) queuetest.Opener {
//			dir := t.TempDir()
//			return func(o queuetest.Options) (queue.Backend, error) {
//				return queue.Open(dir, queue.WithClock(o.Clock), queue.WithRetryPolicy(o.Retry))
//			}
//		})
//	}
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
)

// Options are what the suite opens every backend with.
type Options struct {
	// Clock is a fake clock; the backend must read time only from it.
	Clock clock.Clock
	// Retry is the Nack backoff and dead-letter threshold: MaxAttempts 3,
	// delays without jitter (1s, 2s, then capped at 4s).
	Retry retry.Policy
}

// start is the fake clock's start time in every test.
var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// policy is the retry policy of Options.Retry.
func policy() retry.Policy {
	return retry.Policy{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 4 * time.Second, Jitter: retry.JitterNone}
}

// Opener opens the store it was made for. Calling it again after Close
// must reopen the same store, with everything stored still there.
type Opener func(Options) (queue.Backend, error)

// NewStore returns an Opener for a new, empty store. It is called once per
// test; cleanup belongs in t.Cleanup.
type NewStore func(t *testing.T) Opener

const vis = 30 * time.Second

// env is one test's backend and clock.
type env struct {
	t    *testing.T
	clk  *clock.Fake
	open Opener
	b    queue.Backend
	ctx  context.Context
}

func newEnv(t *testing.T, ns NewStore) *env {
	t.Helper()
	e := &env{t: t, clk: clock.NewFake(start), open: ns(t), ctx: context.Background()}
	e.reopen(false)
	t.Cleanup(func() {
		if e.b != nil {
			e.b.Close()
		}
	})
	return e
}

func (e *env) reopen(closeFirst bool) {
	e.t.Helper()
	if closeFirst {
		if err := e.b.Close(); err != nil {
			e.t.Fatalf("Close: %v", err)
		}
	}
	b, err := e.open(Options{Clock: e.clk, Retry: policy()})
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	e.b = b
}

func (e *env) enqueue(payload string, opts ...queue.EnqueueOption) queue.ID {
	e.t.Helper()
	id, err := e.b.Enqueue(e.ctx, []byte(payload), opts...)
	if err != nil {
		e.t.Fatalf("Enqueue(%q): %v", payload, err)
	}
	return id
}

func (e *env) receive() *queue.Message {
	e.t.Helper()
	m, err := e.b.TryReceive(e.ctx, vis)
	if err != nil {
		e.t.Fatalf("TryReceive: %v, want a message", err)
	}
	return m
}

func (e *env) receiveWant(payload string, attempt int) *queue.Message {
	e.t.Helper()
	m := e.receive()
	if string(m.Payload) != payload || m.Attempt != attempt {
		e.t.Fatalf("TryReceive = %q attempt %d, want %q attempt %d", m.Payload, m.Attempt, payload, attempt)
	}
	return m
}

func (e *env) empty() {
	e.t.Helper()
	if m, err := e.b.TryReceive(e.ctx, vis); !errors.Is(err, queue.ErrEmpty) {
		e.t.Fatalf("TryReceive = %v, %v; want ErrEmpty", m, err)
	}
}

func (e *env) ack(m *queue.Message) {
	e.t.Helper()
	if err := e.b.Ack(e.ctx, m); err != nil {
		e.t.Fatalf("Ack(%s): %v", m.ID, err)
	}
}

func (e *env) stats() queue.Stats {
	e.t.Helper()
	s, err := e.b.Stats(e.ctx)
	if err != nil {
		e.t.Fatalf("Stats: %v", err)
	}
	return s
}

// Run runs the whole suite against the backend that ns makes.
func Run(t *testing.T, ns NewStore) {
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"FIFO", testFIFO},
		{"AckDeletes", testAckDeletes},
		{"LeaseHidesMessage", testLeaseHides},
		{"LeaseExpiryRedelivers", testLeaseExpiry},
		{"Extend", testExtend},
		{"NackBacksOff", testNackBackoff},
		{"DeadLetterAfterMaxAttempts", testDeadLetter},
		{"RejectRequeuePurge", testRejectRequeuePurge},
		{"Delay", testDelay},
		{"Dedupe", testDedupe},
		{"ReopenKeepsState", testReopen},
		{"ReceiveWaits", testReceiveWaits},
		{"Closed", testClosed},
		{"Stats", testStats},
		{"Release", testRelease},
		{"WaitBounds", testWaitBounds},
		{"IDText", testIDText},
		{"DeadLetterFilters", testDeadFilters},
		{"BulkRequeuePurge", testBulkDead},
		{"DeadLetterHandler", testDeadHandler},
		{"WorkerSettles", testWorkerSettles},
		{"WorkerNotNow", testWorkerNotNow},
		{"WorkerSurvivesBackendErrors", testWorkerSurvives},
		{"WorkerShutdownBounded", testWorkerShutdownBounded},
		{"WorkerStuck", testWorkerStuck},
		{"WorkerBackendClosed", testWorkerBackendClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(newEnv(t, ns)) })
	}
}

func testFIFO(e *env) {
	var ids []queue.ID
	for i := range 5 {
		ids = append(ids, e.enqueue(fmt.Sprint("m", i)))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			e.t.Fatalf("ids %v do not increase", ids)
		}
	}
	for i := range 5 {
		m := e.receiveWant(fmt.Sprint("m", i), 1)
		if m.ID != ids[i] {
			e.t.Fatalf("message %d has id %s, want %s", i, m.ID, ids[i])
		}
		if !m.EnqueuedAt.Equal(start) {
			e.t.Fatalf("EnqueuedAt = %v, want %v", m.EnqueuedAt, start)
		}
	}
	e.empty()
}

func testAckDeletes(e *env) {
	e.enqueue("a")
	m := e.receive()
	e.ack(m)
	if err := e.b.Ack(e.ctx, m); !errors.Is(err, queue.ErrLeaseLost) {
		e.t.Fatalf("second Ack = %v, want ErrLeaseLost", err)
	}
	e.clk.Advance(time.Hour)
	e.empty()
}

func testLeaseHides(e *env) {
	e.enqueue("a")
	e.enqueue("b")
	a := e.receiveWant("a", 1)
	e.receiveWant("b", 1)
	e.empty()
	e.ack(a)
}

func testLeaseExpiry(e *env) {
	e.enqueue("a")
	m := e.receiveWant("a", 1)
	if want := start.Add(vis); !m.Deadline.Equal(want) {
		e.t.Fatalf("Deadline = %v, want %v", m.Deadline, want)
	}
	e.clk.Advance(vis - time.Second)
	e.empty()
	e.clk.Advance(time.Second)
	again := e.receiveWant("a", 2)
	if again.ID != m.ID {
		e.t.Fatalf("redelivered id %s, want %s", again.ID, m.ID)
	}
	if err := e.b.Ack(e.ctx, m); !errors.Is(err, queue.ErrLeaseLost) {
		e.t.Fatalf("Ack with the expired lease = %v, want ErrLeaseLost", err)
	}
	e.ack(again)
}

func testExtend(e *env) {
	e.enqueue("a")
	m := e.receive()
	e.clk.Advance(vis - time.Second)
	if err := e.b.Extend(e.ctx, m, time.Minute); err != nil {
		e.t.Fatalf("Extend: %v", err)
	}
	e.clk.Advance(time.Minute - time.Second)
	e.empty()
	e.ack(m)
}

func testNackBackoff(e *env) {
	e.enqueue("a")
	m := e.receiveWant("a", 1)
	if err := e.b.Nack(e.ctx, m, errors.New("down")); err != nil {
		e.t.Fatalf("Nack: %v", err)
	}
	e.empty()
	e.clk.Advance(policy().Delay(1) - time.Millisecond)
	e.empty()
	e.clk.Advance(time.Millisecond)
	m = e.receiveWant("a", 2)
	if err := e.b.Nack(e.ctx, m, errors.New("down")); err != nil {
		e.t.Fatalf("Nack: %v", err)
	}
	e.clk.Advance(policy().Delay(2) - time.Millisecond)
	e.empty()
	e.clk.Advance(time.Millisecond)
	e.ack(e.receiveWant("a", 3))
}

func testDeadLetter(e *env) {
	id := e.enqueue("poison")
	for attempt := 1; attempt <= policy().MaxAttempts; attempt++ {
		m := e.receiveWant("poison", attempt)
		if err := e.b.Nack(e.ctx, m, fmt.Errorf("fail %d", attempt)); err != nil {
			e.t.Fatalf("Nack: %v", err)
		}
		e.clk.Advance(time.Minute)
	}
	e.empty()
	dead, err := e.b.DeadLetters(e.ctx, queue.DeadFilter{})
	if err != nil {
		e.t.Fatalf("DeadLetters: %v", err)
	}
	if len(dead) != 1 || dead[0].ID != id || string(dead[0].Payload) != "poison" ||
		dead[0].Attempts != policy().MaxAttempts || dead[0].Reason != "fail 3" {
		e.t.Fatalf("DeadLetters = %+v, want poison after %d attempts with reason %q", dead, policy().MaxAttempts, "fail 3")
	}
	if s := e.stats(); s.Dead != 1 || s.Depth != 0 {
		e.t.Fatalf("Stats = %+v, want Dead 1 Depth 0", s)
	}
	// An expired lease on the last attempt dead-letters too.
	e.enqueue("stuck")
	for range policy().MaxAttempts {
		e.receive()
		e.clk.Advance(vis)
	}
	e.empty()
	if dead, _ := e.b.DeadLetters(e.ctx, queue.DeadFilter{}); len(dead) != 2 {
		e.t.Fatalf("DeadLetters = %+v, want 2", dead)
	}
	if dead, _ := e.b.DeadLetters(e.ctx, queue.DeadFilter{Limit: 1}); len(dead) != 1 || dead[0].ID != id {
		e.t.Fatalf("DeadLetters(limit 1) = %+v, want the oldest", dead)
	}
}

func testRejectRequeuePurge(e *env) {
	a := e.enqueue("a")
	b := e.enqueue("b")
	for range 2 {
		if err := e.b.Reject(e.ctx, e.receive(), errors.New("bad input")); err != nil {
			e.t.Fatalf("Reject: %v", err)
		}
	}
	e.empty()
	if err := e.b.Requeue(e.ctx, a); err != nil {
		e.t.Fatalf("Requeue: %v", err)
	}
	e.ack(e.receiveWant("a", 1))
	if err := e.b.Purge(e.ctx, b); err != nil {
		e.t.Fatalf("Purge: %v", err)
	}
	if err := e.b.Purge(e.ctx, b); !errors.Is(err, queue.ErrNotFound) {
		e.t.Fatalf("second Purge = %v, want ErrNotFound", err)
	}
	if err := e.b.Requeue(e.ctx, a); !errors.Is(err, queue.ErrNotFound) {
		e.t.Fatalf("Requeue of an acked message = %v, want ErrNotFound", err)
	}
	if dead, _ := e.b.DeadLetters(e.ctx, queue.DeadFilter{}); len(dead) != 0 {
		e.t.Fatalf("DeadLetters = %+v, want none", dead)
	}
	e.empty()
}

func testDelay(e *env) {
	e.enqueue("later", queue.WithDelay(time.Minute))
	e.enqueue("at", queue.WithNotBefore(start.Add(30*time.Second)))
	e.enqueue("now")
	e.ack(e.receiveWant("now", 1))
	e.empty()
	if s := e.stats(); s.Delayed != 2 || s.Depth != 2 {
		e.t.Fatalf("Stats = %+v, want Delayed 2", s)
	}
	e.clk.Advance(30 * time.Second)
	e.ack(e.receiveWant("at", 1))
	e.empty()
	e.clk.Advance(30 * time.Second)
	e.ack(e.receiveWant("later", 1))
}

func testDedupe(e *env) {
	id := e.enqueue("a", queue.WithDedupeKey("order-1"))
	got, err := e.b.Enqueue(e.ctx, []byte("a again"), queue.WithDedupeKey("order-1"))
	if !errors.Is(err, queue.ErrDuplicate) || got != id {
		e.t.Fatalf("duplicate Enqueue = %s, %v; want %s, ErrDuplicate", got, err, id)
	}
	e.enqueue("b", queue.WithDedupeKey("order-2"))
	e.reopen(true)
	if _, err := e.b.Enqueue(e.ctx, []byte("x"), queue.WithDedupeKey("order-1")); !errors.Is(err, queue.ErrDuplicate) {
		e.t.Fatalf("duplicate after reopen: %v, want ErrDuplicate", err)
	}
	e.ack(e.receiveWant("a", 1))
	e.enqueue("a2", queue.WithDedupeKey("order-1")) // free again once acked
	e.ack(e.receiveWant("b", 1))
	e.ack(e.receiveWant("a2", 1))
}

func testReopen(e *env) {
	e.enqueue("acked")
	e.enqueue("nacked")
	e.enqueue("dead")
	e.enqueue("leased")
	e.enqueue("delayed", queue.WithDelay(time.Hour))
	e.ack(e.receiveWant("acked", 1))
	if err := e.b.Nack(e.ctx, e.receiveWant("nacked", 1), errors.New("x")); err != nil {
		e.t.Fatal(err)
	}
	if err := e.b.Reject(e.ctx, e.receiveWant("dead", 1), errors.New("bad")); err != nil {
		e.t.Fatal(err)
	}
	e.receiveWant("leased", 1)
	e.reopen(true)
	// The lease holder is gone with the old handle: redelivered at once.
	e.ack(e.receiveWant("leased", 2))
	e.empty()
	e.clk.Advance(policy().Delay(1))
	e.ack(e.receiveWant("nacked", 2))
	e.clk.Advance(time.Hour)
	e.ack(e.receiveWant("delayed", 1))
	if dead, _ := e.b.DeadLetters(e.ctx, queue.DeadFilter{}); len(dead) != 1 || string(dead[0].Payload) != "dead" || dead[0].Reason != "bad" {
		e.t.Fatalf("DeadLetters after reopen = %+v", dead)
	}
	// Ids keep increasing across reopen.
	e.reopen(true)
	if id := e.enqueue("new"); id <= 5 {
		e.t.Fatalf("id after reopen = %s, want > 5", id)
	}
}

func testReceiveWaits(e *env) {
	got := make(chan *queue.Message, 1)
	errc := make(chan error, 1)
	go func() {
		m, err := e.b.Receive(e.ctx, vis)
		got <- m
		errc <- err
	}()
	e.enqueue("late")
	if m, err := <-got, <-errc; err != nil || string(m.Payload) != "late" {
		e.t.Fatalf("Receive = %v, %v; want late", m, err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	if _, err := e.b.Receive(ctx, vis); !errors.Is(err, context.Canceled) {
		e.t.Fatalf("Receive with a cancelled context = %v, want context.Canceled", err)
	}
}

func testClosed(e *env) {
	e.enqueue("a")
	if err := e.b.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	if _, err := e.b.Enqueue(e.ctx, []byte("x")); !errors.Is(err, queue.ErrClosed) {
		e.t.Fatalf("Enqueue after Close = %v, want ErrClosed", err)
	}
	if _, err := e.b.Receive(e.ctx, vis); !errors.Is(err, queue.ErrClosed) {
		e.t.Fatalf("Receive after Close = %v, want ErrClosed", err)
	}
	e.reopen(false)
	e.receiveWant("a", 1)
}

func testStats(e *env) {
	e.enqueue("a")
	e.enqueue("b")
	e.clk.Advance(time.Minute)
	e.enqueue("c")
	m := e.receive()
	s := e.stats()
	if s.Depth != 3 || s.Ready != 2 || s.InFlight != 1 || s.OldestAge != time.Minute || s.OldestAgeSeconds != 60 {
		e.t.Fatalf("Stats = %+v, want Depth 3 Ready 2 InFlight 1 OldestAge 1m", s)
	}
	e.ack(m)
	if s := e.stats(); s.Depth != 2 || s.OldestAge != time.Minute || s.Enqueued != 3 || s.Acked != 1 {
		e.t.Fatalf("Stats after ack = %+v, want Depth 2 OldestAge 1m Enqueued 3 Acked 1", s)
	}
}
