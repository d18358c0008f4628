package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/opskit/opskit/internal/component"
	"github.com/opskit/opskit/postgres"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" || os.Getenv(leaderEnv) != "" {
		// A consumer started by TestKilledConsumerRedelivers, or a leader
		// started by TestKilledLeaderHandsOver: it holds a lease until it
		// is killed, so there is nothing for goleak to see.
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

// checkPlans fails t for each target whose plan (seq scans off, as on a
// table too big to scan) does not run on its index: an index scan, or an
// INSERT's conflict arbiter.
func checkPlans(t *testing.T, pool *pgxpool.Pool, targets []postgres.PlanTarget) {
	t.Helper()
	ctx := context.Background()
	for _, pt := range targets {
		var plan string
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
				return err
			}
			return tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+pt.SQL, pt.Args...).Scan(&plan)
		})
		if err != nil {
			t.Fatalf("%s: EXPLAIN: %v", pt.Name, err)
		}
		onIndex := strings.Contains(plan, `"Index Name": "`+pt.Index+`"`) ||
			strings.Contains(plan, `"Conflict Arbiter Indexes": ["`+pt.Index+`"]`)
		if strings.Contains(plan, `"Seq Scan"`) || !onIndex {
			t.Errorf("%s: plan does not run on index %s:\n%s", pt.Name, pt.Index, plan)
		}
	}
}

// startChild runs test in a child process (this test binary again) with
// env set to value, and returns its stdout and stdin: a child blocks on
// its stdin until it is killed.
func startChild(t *testing.T, test, env, value string) (*exec.Cmd, io.ReadCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+value)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, out
}
