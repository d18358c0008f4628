package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/opskit/opskit/internal/component"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		// A consumer started by TestKilledConsumerRedelivers: it holds a
		// lease until it is killed, so there is nothing for goleak to see.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		component.Report("postgres")
		os.Exit(code)
	}))
}

// dbURL returns the test database's URL, skipping the test without one
// (or failing it when CI requires every component).
func dbURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("OPSKIT_POSTGRES_URL")
	if url != "" {
		return url
	}
	component.Missing(t, "PostgreSQL", "OPSKIT_POSTGRES_URL is not set; start a throwaway PostgreSQL with "+
		"`eval \"$(.ci/start-postgres)\"` from the repository root, then run the tests again")
	return ""
}

// newPool opens a pool on the test database, closed when the test ends.
func newPool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL(t))
	if err != nil {
		t.Fatalf("parse OPSKIT_POSTGRES_URL: %v", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgxpool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newSchema returns a fresh random schema name, dropped (with everything
// in it) when the test ends.
func newSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "opskit_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}
