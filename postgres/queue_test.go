package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/postgres"
	"github.com/opskit/opskit/queue"
)

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Allocation budgets of TestHotPathAllocations.
const enqueueAllocs, cycleAllocs = 50, 65

// TestQueryPlansUseIndexes checks that every per-message and per-scrape
// statement runs on its index over a table of 20,000 analysed rows (most
// due, some leased, some dead), with sequential scans priced out: a plan
// that still scans the table would mean no index serves it.
func TestQueryPlansUseIndexes(t *testing.T) {
	pool := newPool(t, 2)
	schema := migrated(t, pool)
	q := open(t, pool, schema, clock.NewFake(start))
	ctx := context.Background()
	table := pgx.Identifier{schema, "queue"}.Sanitize()
	_, err := pool.Exec(ctx, `INSERT INTO `+table+` (state, available_at, enqueued_at, payload, attempts, lease)
SELECT CASE WHEN i % 20 = 0 THEN 1 WHEN i % 20 = 1 THEN 2 ELSE 0 END,
	$1::timestamptz + i * interval '1 millisecond', $1, 'x', 1, i
FROM generate_series(1, 20000) AS i`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+table); err != nil {
		t.Fatal(err)
	}
	checkPlans(t, pool, postgres.PlanTargets(q))
}

func TestEnqueueTxCommitsWithTheCallersTransaction(t *testing.T) {
	pool := newPool(t, 4)
	clk := clock.NewFake(start)
	q := open(t, pool, migrated(t, pool), clk)
	ctx := context.Background()

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.EnqueueTx(ctx, tx, []byte("rolled back"), queue.WithDedupeKey("k")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := q.TryReceive(ctx, time.Minute); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("TryReceive after rollback = %v, %v; want ErrEmpty", m, err)
	}

	tx, err = pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, err := q.EnqueueTx(ctx, tx, []byte("committed"), queue.WithDedupeKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	dup, err := q.EnqueueTx(ctx, tx, []byte("again"), queue.WithDedupeKey("k"))
	if !errors.Is(err, queue.ErrDuplicate) || dup != id {
		t.Fatalf("duplicate EnqueueTx = %s, %v; want %s, ErrDuplicate", dup, err, id)
	}
	if m, err := q.TryReceive(ctx, time.Minute); !errors.Is(err, queue.ErrEmpty) {
		t.Fatalf("TryReceive before commit = %v, %v; want ErrEmpty", m, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit after a duplicate: %v (the duplicate must not abort the transaction)", err)
	}
	m, err := q.TryReceive(ctx, time.Minute)
	if err != nil || m.ID != id || string(m.Payload) != "committed" {
		t.Fatalf("TryReceive after commit = %+v, %v; want %s committed", m, err, id)
	}
	if _, err := q.EnqueueTx(ctx, nil, []byte("x")); err == nil {
		t.Error("EnqueueTx(nil tx) succeeded")
	}
}

func TestBadInputIsAnError(t *testing.T) {
	pool := newPool(t, 2)
	q := open(t, pool, migrated(t, pool), clock.NewFake(start), postgres.WithMaxPayload(8))
	ctx := context.Background()
	for name, err := range map[string]error{
		"oversized payload": func() error { _, err := q.Enqueue(ctx, make([]byte, 9)); return err }(),
		"negative delay":    func() error { _, err := q.Enqueue(ctx, nil, queue.WithDelay(-time.Second)); return err }(),
		"zero visibility":   func() error { _, err := q.TryReceive(ctx, 0); return err }(),
		"nil message":       q.Ack(ctx, nil),
		"nil nack":          q.Nack(ctx, nil, nil),
		"zero extension":    q.Extend(ctx, &queue.Message{ID: 1}, 0),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("%s: err = %v, want an error starting with postgres:", name, err)
		}
	}
	// An empty payload is a valid message.
	if _, err := q.Enqueue(ctx, nil); err != nil {
		t.Fatalf("Enqueue(nil payload): %v", err)
	}
	if m, err := q.TryReceive(ctx, time.Minute); err != nil || len(m.Payload) != 0 {
		t.Fatalf("TryReceive = %+v, %v; want an empty payload", m, err)
	}
}

func TestDeadLetterReasonKeepsAnyErrorText(t *testing.T) {
	pool := newPool(t, 2)
	q := open(t, pool, migrated(t, pool), clock.NewFake(start))
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, []byte{0, 0xff}, queue.WithDedupeKey("k\x00\xff")); err != nil {
		t.Fatalf("Enqueue with binary payload and key: %v", err)
	}
	m, err := q.TryReceive(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("bad \x00 bytes \xff" + strings.Repeat("x", 2000))
	if err := q.Reject(ctx, m, cause); err != nil {
		t.Fatalf("Reject with NUL and invalid UTF-8 in the reason: %v", err)
	}
	dead, err := q.DeadLetters(ctx, queue.DeadFilter{})
	if err != nil || len(dead) != 1 {
		t.Fatalf("DeadLetters = %+v, %v", dead, err)
	}
	if r := dead[0].Reason; !strings.HasPrefix(r, "bad \uFFFD bytes \uFFFD") || len(r) > 1024 {
		t.Fatalf("Reason = %q (%d bytes), want the cause made valid and bounded", r[:20], len(r))
	}
	if _, err := q.Enqueue(ctx, nil, queue.WithDedupeKey("k\x00\xff")); !errors.Is(err, queue.ErrDuplicate) {
		t.Fatalf("Enqueue with a dead letter's key = %v, want ErrDuplicate", err)
	}
}

func TestCloseWakesWaitingReceive(t *testing.T) {
	pool := newPool(t, 4)
	clk := clock.NewFake(start)
	q, err := postgres.OpenQueue(context.Background(), pool, postgres.WithSchema(migrated(t, pool)),
		postgres.WithClock(clk), postgres.WithPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := q.Receive(context.Background(), time.Minute)
		errc <- err
	}()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Receive across Close = %v, want ErrClosed", err)
	}
	if err := q.Check(context.Background()); !errors.Is(err, queue.ErrClosed) {
		t.Fatalf("Check after Close = %v, want ErrClosed", err)
	}
}

func TestReceiveWakesWhenTheClockReachesADelayedMessage(t *testing.T) {
	pool := newPool(t, 4)
	clk := clock.NewFake(start)
	q := open(t, pool, migrated(t, pool), clk, postgres.WithPollInterval(time.Hour))
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, []byte("later"), queue.WithDelay(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := make(chan *queue.Message, 1)
	go func() {
		m, err := q.Receive(ctx, time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- m
	}()
	clk.WaitForTimers(1) // parked on the clock for the message's due time
	clk.Advance(time.Minute)
	if m := <-got; m == nil || string(m.Payload) != "later" {
		t.Fatalf("Receive = %+v, want later", m)
	}
}

func TestHealthChecks(t *testing.T) {
	pool := newPool(t, 2)
	clk := clock.NewFake(start)
	schema := migrated(t, pool)
	q := open(t, pool, schema, clk)
	ctx := context.Background()
	if err := q.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	check := q.HealthCheck(queue.Limits{MaxDepth: 2, MaxAge: time.Minute})
	for range 3 {
		if err := check(ctx); err != nil {
			t.Fatalf("HealthCheck under the limits: %v", err)
		}
		if _, err := q.Enqueue(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var be *queue.BacklogError
	if err := check(ctx); !errors.Is(err, queue.ErrBacklog) || !errors.As(err, &be) || be.Depth != 3 {
		t.Fatalf("HealthCheck over depth = %v, want a BacklogError with Depth 3", err)
	}
	if err := q.HealthCheck(queue.Limits{MaxAge: time.Minute})(ctx); err != nil {
		t.Fatalf("HealthCheck, age at the limit: %v", err)
	}
	clk.Advance(time.Minute + time.Second)
	if err := q.HealthCheck(queue.Limits{MaxAge: time.Minute})(ctx); !errors.As(err, &be) || be.OldestAge != time.Minute+time.Second {
		t.Fatalf("HealthCheck over age = %v, want OldestAge 1m1s", err)
	}
	if _, err := pool.Exec(ctx, "DROP TABLE "+pgx.Identifier{schema, "queue"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if err := q.Check(ctx); err == nil || !strings.Contains(err.Error(), schema+".queue") {
		t.Fatalf("Check with the table gone = %v, want an error naming the table", err)
	}
}

func TestMetricsReportTheTable(t *testing.T) {
	pool := newPool(t, 2)
	clk := clock.NewFake(start)
	reader := metric.NewManualReader()
	mp := metric.NewMeterProvider(metric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	q := open(t, pool, migrated(t, pool), clk, postgres.WithMeterProvider(mp))
	ctx := context.Background()
	for range 3 {
		if _, err := q.Enqueue(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	m, err := q.TryReceive(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Ack(ctx, m); err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Second)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			switch d := mt.Data.(type) {
			case metricdata.Gauge[int64]:
				got[mt.Name] = float64(d.DataPoints[0].Value)
			case metricdata.Gauge[float64]:
				got[mt.Name] = d.DataPoints[0].Value
			case metricdata.Sum[int64]:
				got[mt.Name] = float64(d.DataPoints[0].Value)
				if v, _ := d.DataPoints[0].Attributes.Value("opskit.queue.table"); v.AsString() != q.Table() {
					t.Errorf("%s has table attribute %q, want %q", mt.Name, v.AsString(), q.Table())
				}
			}
		}
	}
	for name, want := range map[string]float64{
		"opskit.queue.depth": 2, "opskit.queue.dead": 0, "opskit.queue.oldest_age": 30,
		"opskit.queue.enqueued": 3, "opskit.queue.acked": 1, "opskit.queue.nacked": 0,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if got["opskit.queue.bytes"] <= 0 {
		t.Errorf("opskit.queue.bytes = %v, want > 0", got["opskit.queue.bytes"])
	}
}

// TestReceiveWakesOnAnotherProcesssEnqueue parks a receiver with an hour's
// poll interval and a clock that never moves: only the NOTIFY sent after
// another Queue's Enqueue can wake it. The context bounds a broken run; it
// is not what the test waits for.
func TestReceiveWakesOnAnotherProcesssEnqueue(t *testing.T) {
	pool := newPool(t, 4)
	schema := migrated(t, pool)
	clk := clock.NewFake(start)
	consumer := open(t, newPool(t, 2), schema, clk, postgres.WithPollInterval(time.Hour))
	producer := open(t, pool, schema, clk)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A message due in a day makes the parked receiver arm a clock timer,
	// which tells the test it is parked.
	if _, err := producer.Enqueue(ctx, []byte("tomorrow"), queue.WithDelay(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		m, err := consumer.Receive(ctx, time.Minute)
		if err == nil && string(m.Payload) != "hello" {
			err = errors.New("wrong payload " + string(m.Payload))
		}
		got <- err
	}()
	clk.WaitForTimers(1)
	if _, err := producer.Enqueue(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Receive on the other Queue: %v", err)
	}
}

// TestHotPathAllocations bounds the allocations of one Enqueue and of one
// TryReceive+Ack, most of which are pgx's own (encoding, result reading).
// The budgets sit a little above what was measured (Enqueue 41,
// TryReceive+Ack 53), to catch a regression such as a per-call batch or
// statement string.
func TestHotPathAllocations(t *testing.T) {
	pool := newPool(t, 2)
	q := open(t, pool, migrated(t, pool), clock.NewFake(start))
	ctx := context.Background()
	payload := make([]byte, 1024)
	enq := testing.AllocsPerRun(50, func() {
		if _, err := q.Enqueue(ctx, payload); err != nil {
			t.Fatal(err)
		}
	})
	cycle := testing.AllocsPerRun(50, func() {
		m, err := q.TryReceive(ctx, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Ack(ctx, m); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("allocations: Enqueue %.0f, TryReceive+Ack %.0f", enq, cycle)
	if enq > enqueueAllocs || cycle > cycleAllocs {
		t.Fatalf("allocations: Enqueue %.0f (budget %d), TryReceive+Ack %.0f (budget %d)", enq, enqueueAllocs, cycle, cycleAllocs)
	}
}

// Release's batch turns synchronous_commit off for its own transaction
// only: a refusal costs no WAL flush, and other statements still wait for
// theirs.
func TestReleaseCommitsAsynchronously(t *testing.T) {
	pool := newPool(t, 1) // one connection: the next query reuses it
	ctx := context.Background()
	b := &pgx.Batch{}
	b.Queue(postgres.AsyncCommit)
	b.Queue(`SELECT current_setting('synchronous_commit')`)
	br := pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		t.Fatal(err)
	}
	var inBatch, after string
	if err := br.QueryRow().Scan(&inBatch); err != nil {
		t.Fatal(err)
	}
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if inBatch != "off" || after != "on" {
		t.Fatalf("synchronous_commit in the batch %q, after it %q; want off, then on", inBatch, after)
	}
}
