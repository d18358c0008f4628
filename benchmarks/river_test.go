package benchmarks

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// River (github.com/riverqueue/river with its pgx v5 driver) runs beside
// opskit's PostgreSQL queue in the same benchmarks, on a pool of the same
// size and the same durability (synchronous_commit on), in the bench's own
// schema. Its job carries the same 1 KiB, as a JSON string.

// riverArgs is the benchmarks' River job.
type riverArgs struct {
	Data string `json:"data"`
}

func (riverArgs) Kind() string { return "opskit_bench" }

// riverData is queueMsg's size as JSON text.
var riverData = strings.Repeat("x", len(queueMsg))

// riverWorker counts the jobs it has run.
type riverWorker struct {
	river.WorkerDefaults[riverArgs]
	ran atomic.Int64
}

func (w *riverWorker) Work(context.Context, *river.Job[riverArgs]) error {
	w.ran.Add(1)
	return nil
}

// riverMigrate installs River's tables in schema.
func riverMigrate(b *testing.B, pool *pgxpool.Pool, schema string) {
	b.Helper()
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(context.Background(), rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
}

// riverInsertClient returns a River client that only inserts.
func riverInsertClient(b *testing.B, pool *pgxpool.Pool, schema string) *river.Client[pgx.Tx] {
	b.Helper()
	riverMigrate(b, pool, schema)
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// riverInsertMany is one InsertMany of n jobs.
func riverInsertMany(ctx context.Context, c *river.Client[pgx.Tx], n int) error {
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: riverArgs{Data: riverData}}
	}
	_, err := c.InsertMany(ctx, params)
	return err
}
