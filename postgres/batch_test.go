package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/postgres"
	"github.com/opskit/opskit/queue"
)

// drain receives and acks every ready message, returning payload by id.
func drain(t *testing.T, q *postgres.Queue) map[queue.ID]string {
	t.Helper()
	ctx := context.Background()
	got := map[queue.ID]string{}
	for {
		m, err := q.TryReceive(ctx, time.Minute)
		if errors.Is(err, queue.ErrEmpty) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[m.ID]; dup {
			t.Fatalf("message %s delivered twice", m.ID)
		}
		got[m.ID] = string(m.Payload)
		if err := q.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEnqueueBatchResolvesDedupeKeysPerItem(t *testing.T) {
	pool := newPool(t, 4)
	q := open(t, pool, migrated(t, pool), clock.NewFake(start))
	ctx := context.Background()
	held, err := q.Enqueue(ctx, []byte("held"), queue.WithDedupeKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	items := []postgres.Item{
		{Payload: []byte("a")},
		{Payload: []byte("b"), Options: []queue.EnqueueOption{queue.WithDedupeKey("k1")}}, // held by a stored message
		{Payload: []byte("c"), Options: []queue.EnqueueOption{queue.WithDedupeKey("k2")}},
		{Payload: []byte("d"), Options: []queue.EnqueueOption{queue.WithDedupeKey("k2")}}, // held by item 2
		{Payload: nil},
		{Payload: []byte("f"), Options: []queue.EnqueueOption{queue.WithDelay(time.Hour)}},
	}
	res, err := q.EnqueueBatch(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(items) {
		t.Fatalf("%d results for %d items", len(res), len(items))
	}
	for _, i := range []int{0, 2, 4, 5} {
		if res[i].Err != nil || res[i].ID == 0 || res[i].ID == held {
			t.Errorf("item %d: %+v; want a new id", i, res[i])
		}
	}
	if !errors.Is(res[1].Err, queue.ErrDuplicate) || res[1].ID != held {
		t.Errorf("item 1: %+v; want %s, ErrDuplicate", res[1], held)
	}
	if !errors.Is(res[3].Err, queue.ErrDuplicate) || res[3].ID != res[2].ID {
		t.Errorf("item 3: %+v; want %s (item 2), ErrDuplicate", res[3], res[2].ID)
	}
	want := map[queue.ID]string{held: "held", res[0].ID: "a", res[2].ID: "c", res[4].ID: ""}
	if got := drain(t, q); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %v; want %v (the delayed item not yet)", got, want)
	}
	if s, err := q.Stats(ctx); err != nil || s.Delayed != 1 || s.Enqueued != 5 {
		t.Errorf("Stats = %+v, %v; want 1 delayed, 5 enqueued", s, err)
	}
}

func TestEnqueueBatchRejectsBadItemsWhole(t *testing.T) {
	pool := newPool(t, 2)
	q := open(t, pool, migrated(t, pool), clock.NewFake(start), postgres.WithMaxPayload(4))
	ctx := context.Background()
	_, err := q.EnqueueBatch(ctx, []postgres.Item{{Payload: []byte("ok")}, {Payload: []byte("too big")}})
	if err == nil || !strings.Contains(err.Error(), "batch item 1") {
		t.Errorf("oversized item: %v; want an error naming item 1", err)
	}
	_, err = q.EnqueueBatch(ctx, make([]postgres.Item, postgres.MaxBatch+1))
	if err == nil || !strings.Contains(err.Error(), "10001") {
		t.Errorf("MaxBatch+1 items: %v; want an error naming the count", err)
	}
	if res, err := q.EnqueueBatch(ctx, nil); err != nil || len(res) != 0 {
		t.Errorf("empty batch = %v, %v", res, err)
	}
	if got := drain(t, q); len(got) != 0 {
		t.Errorf("rejected batches stored %v", got)
	}
}

func TestEnqueueBatchTxRollsBackWithTheCaller(t *testing.T) {
	pool := newPool(t, 4)
	q := open(t, pool, migrated(t, pool), clock.NewFake(start))
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := q.EnqueueBatchTx(ctx, tx, []postgres.Item{{Payload: []byte("x")}, {Payload: []byte("y")}})
	if err != nil || len(res) != 2 {
		t.Fatal(res, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, q); len(got) != 0 {
		t.Errorf("rolled-back batch delivered %v", got)
	}
	if _, err := q.EnqueueBatchTx(ctx, nil, nil); err == nil {
		t.Error("EnqueueBatchTx(nil tx) succeeded")
	}
}

// TestConcurrentEnqueueSharesCommitsAndKeepsDedupe runs 64 producers whose
// dedupe keys collide four ways: each key is stored once, the other three
// callers get its holder's id, and no other message is lost or doubled.
func TestConcurrentEnqueueSharesCommitsAndKeepsDedupe(t *testing.T) {
	pool := newPool(t, 8)
	q := open(t, pool, migrated(t, pool), clock.NewFake(start))
	ctx := context.Background()
	const producers, rounds = 64, 5
	type out struct {
		key     string
		payload string
		id      queue.ID
		err     error
	}
	outs := make(chan out, producers*rounds*2)
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for r := range rounds {
				key := fmt.Sprintf("k%d-%d", r, p/4)
				payload := fmt.Sprintf("keyed %d %d", r, p)
				id, err := q.Enqueue(ctx, []byte(payload), queue.WithDedupeKey(key))
				outs <- out{key, payload, id, err}
				payload = fmt.Sprintf("plain %d %d", r, p)
				id, err = q.Enqueue(ctx, []byte(payload))
				outs <- out{"", payload, id, err}
			}
		})
	}
	wg.Wait()
	close(outs)
	stored := map[queue.ID]string{}
	holder := map[string]queue.ID{}
	var dups []out
	for o := range outs {
		switch {
		case o.err == nil:
			if _, twice := stored[o.id]; twice {
				t.Fatalf("id %s returned to two callers", o.id)
			}
			stored[o.id] = o.payload
			if o.key != "" {
				if _, ok := holder[o.key]; ok {
					t.Fatalf("key %s stored twice", o.key)
				}
				holder[o.key] = o.id
			}
		case errors.Is(o.err, queue.ErrDuplicate):
			dups = append(dups, o)
		default:
			t.Fatalf("Enqueue %q: %v", o.payload, o.err)
		}
	}
	if want := producers * rounds / 4; len(holder) != want || len(dups) != 3*want {
		t.Fatalf("%d keys stored, %d duplicates; want %d and %d", len(holder), len(dups), want, 3*want)
	}
	for _, d := range dups {
		if holder[d.key] != d.id {
			t.Errorf("duplicate of %s got id %s; holder is %s", d.key, d.id, holder[d.key])
		}
	}
	if got := drain(t, q); fmt.Sprint(got) != fmt.Sprint(stored) {
		t.Errorf("delivered %d messages, stored %d (or different payloads)", len(got), len(stored))
	}
}

// TestEnqueueGivesUpWhileWaiting: a caller whose context has ended gets
// its error, and its message is stored only if its insert had begun
// (never silently lost: an id comes back with it).
func TestEnqueueGivesUpWhileWaiting(t *testing.T) {
	pool := newPool(t, 8)
	q := open(t, pool, migrated(t, pool), clock.NewFake(start))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	ids := make(chan queue.ID, 32)
	for range 32 {
		wg.Go(func() {
			id, err := q.Enqueue(ctx, []byte("x"))
			if err == nil {
				ids <- id
				return
			}
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Enqueue with a cancelled context: %v; want context.Canceled", err)
			}
		})
	}
	wg.Wait()
	close(ids)
	want := map[queue.ID]string{}
	for id := range ids {
		want[id] = "x"
	}
	if got := drain(t, q); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %v; want exactly the ids returned without error %v", got, want)
	}
}

// TestStatsCountsAreBoundedAndEstimatedBeyond: below StatsExact the counts
// are exact; above it Ready comes from the planner's estimate (here within
// 10 % of the truth after ANALYZE) and is never at or below the bound.
func TestStatsCountsAreBoundedAndEstimatedBeyond(t *testing.T) {
	pool := newPool(t, 4)
	schema := migrated(t, pool)
	clk := clock.NewFake(start)
	q := open(t, pool, schema, clk)
	ctx := context.Background()
	items := make([]postgres.Item, 30)
	for i := range items {
		items[i].Payload = []byte("x")
		if i%3 == 0 {
			items[i].Options = []queue.EnqueueOption{queue.WithDelay(time.Hour)}
		}
	}
	if _, err := q.EnqueueBatch(ctx, items); err != nil {
		t.Fatal(err)
	}
	if _, err := q.TryReceive(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	s, err := q.Stats(ctx)
	if err != nil || s.Ready != 19 || s.Delayed != 10 || s.InFlight != 1 || s.Dead != 0 || s.Depth != 30 {
		t.Fatalf("Stats = %+v, %v; want 19 ready, 10 delayed, 1 in flight", s, err)
	}
	const many = postgres.StatsExact * 3
	table := pgx.Identifier{schema, "queue"}.Sanitize()
	if _, err := pool.Exec(ctx, `INSERT INTO `+table+` (available_at, enqueued_at, payload)
SELECT $1, $1, 'x' FROM generate_series(1, `+strconv.Itoa(many)+`)`, start.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+table); err != nil {
		t.Fatal(err)
	}
	s, err = q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := many + 19; s.Ready <= postgres.StatsExact || s.Ready < want*9/10 || s.Ready > want*11/10 {
		t.Errorf("Ready = %d over the bound; want %d ±10 %%", s.Ready, want)
	}
	if s.Delayed != 10 || s.InFlight != 1 {
		t.Errorf("Stats = %+v; the counts under the bound must stay exact", s)
	}
}
