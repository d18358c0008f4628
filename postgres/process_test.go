package postgres_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/postgres"
	"github.com/opskit/opskit/queue"
)

// childEnv names the schema a re-executed test binary consumes from.
const childEnv = "OPSKIT_PG_TEST_CHILD_SCHEMA"

const childLease = time.Hour

func migrated(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	schema := newSchema(t, pool)
	if err := postgres.Migrate(context.Background(), pool, postgres.WithSchema(schema)); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return schema
}

func open(t *testing.T, pool *pgxpool.Pool, schema string, clk clock.Clock, opts ...postgres.QueueOption) *postgres.Queue {
	t.Helper()
	opts = append([]postgres.QueueOption{postgres.WithSchema(schema), postgres.WithClock(clk),
		postgres.WithPollInterval(50 * time.Millisecond)}, opts...)
	q, err := postgres.OpenQueue(context.Background(), pool, opts...)
	if err != nil {
		t.Fatalf("OpenQueue: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// TestKilledConsumerRedelivers runs a consumer in a child process (this
// test binary again), lets it lease a message, SIGKILLs it, and checks the
// message stays hidden until the lease ends and is then delivered again,
// while the dead consumer's lease can no longer settle it.
func TestKilledConsumerRedelivers(t *testing.T) {
	if schema := os.Getenv(childEnv); schema != "" {
		childConsumer(t, schema)
		return
	}
	pool := newPool(t, 4)
	schema := migrated(t, pool)
	clk := clock.NewFake(time.Now()) // the child leases on the real clock
	q := open(t, pool, schema, clk)
	ctx := context.Background()
	id, err := q.Enqueue(ctx, []byte("job"))
	if err != nil {
		t.Fatal(err)
	}

	cmd, out := startChild(t, "TestKilledConsumerRedelivers", childEnv, schema)
	var gotID, lease uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "leased %d %d", &gotID, &lease); err == nil {
			break
		}
	}
	if lease == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child exited without leasing a message")
	}
	if queue.ID(gotID) != id {
		t.Fatalf("child leased %d, want %d", gotID, id)
	}
	if m, err := q.TryReceive(ctx, time.Minute); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("TryReceive while the child holds the lease = %v, %v; want ErrEmpty", m, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child exit: %v, want killed", err)
	}
	// The lease is a row, not a connection-bound lock: it outlives its
	// holder until its deadline.
	if m, err := q.TryReceive(ctx, time.Minute); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("TryReceive after the kill, lease still valid = %v, %v; want ErrEmpty", m, err)
	}
	clk.Advance(childLease + time.Minute)
	m, err := q.TryReceive(ctx, time.Minute)
	if err != nil || m.ID != id || m.Attempt != 2 {
		t.Fatalf("TryReceive after the lease ended = %+v, %v; want id %s attempt 2", m, err, id)
	}
	stale := &queue.Message{ID: id, Lease: lease, Attempt: 1}
	if err := q.Ack(ctx, stale); !errors.Is(err, queue.ErrLeaseLost) {
		t.Fatalf("Ack with the killed consumer's lease = %v, want ErrLeaseLost", err)
	}
	if err := q.Ack(ctx, m); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

// childConsumer leases one message on the real clock, reports it on
// stdout, and waits to be killed.
func childConsumer(t *testing.T, schema string) {
	pool := newPool(t, 2)
	q, err := postgres.OpenQueue(context.Background(), pool, postgres.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	m, err := q.TryReceive(context.Background(), childLease)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("leased %d %d\n", m.ID, m.Lease)
	io.Copy(io.Discard, os.Stdin) // until killed (or the parent goes away)
	t.Fatal("child consumer was not killed")
}

// TestConcurrentConsumersNoDoubleDelivery runs consumers on separate pools
// (separate connections, as separate processes would) while a producer
// enqueues, and checks that every message is delivered exactly once: the
// clock never moves, so no lease expires and any second delivery would
// be a double delivery within a lease.
func TestConcurrentConsumersNoDoubleDelivery(t *testing.T) {
	const consumers, messages = 4, 200
	pool := newPool(t, 4)
	schema := migrated(t, pool)
	clk := clock.NewFake(time.Now())
	producer := open(t, pool, schema, clk)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu        sync.Mutex
		inFlight  = map[queue.ID]int{} // consumer holding each lease
		delivered = map[queue.ID]int{}
		acked     atomic.Int64
		wg        sync.WaitGroup
	)
	for c := range consumers {
		q := open(t, newPool(t, 2), schema, clk)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := q.Receive(ctx, time.Minute)
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("consumer %d: Receive: %v", c, err)
					}
					return
				}
				mu.Lock()
				if other, ok := inFlight[m.ID]; ok {
					t.Errorf("message %s delivered to consumer %d while consumer %d holds its lease", m.ID, c, other)
				}
				inFlight[m.ID] = c
				delivered[m.ID]++
				mu.Unlock()
				err = q.Ack(ctx, m)
				mu.Lock()
				delete(inFlight, m.ID) // after the Ack: the lease is held until then
				mu.Unlock()
				if err != nil {
					t.Errorf("consumer %d: Ack(%s): %v", c, m.ID, err)
					return
				}
				if acked.Add(1) == messages {
					cancel()
				}
			}
		}()
	}
	ids := map[queue.ID]bool{}
	for i := range messages {
		id, err := producer.Enqueue(context.Background(), []byte(fmt.Sprint("m", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	wg.Wait()
	if len(delivered) != messages {
		t.Fatalf("%d distinct messages delivered, want %d", len(delivered), messages)
	}
	for id, n := range delivered {
		if n != 1 || !ids[id] {
			t.Errorf("message %s delivered %d times (enqueued: %v), want once", id, n, ids[id])
		}
	}
	s, err := producer.Stats(context.Background())
	if err != nil || s.Depth != 0 {
		t.Fatalf("Stats = %+v, %v; want Depth 0", s, err)
	}
}
