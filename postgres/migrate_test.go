package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/opskit/opskit/postgres"
)

func TestMigrateIsIdempotentAndSafeConcurrently(t *testing.T) {
	pool := newPool(t, 6)
	schema := newSchema(t, pool)
	ctx := context.Background()
	opts := []postgres.MigrateOption{postgres.WithSchema(schema), postgres.WithTable("jobs")}

	if _, err := postgres.OpenQueue(ctx, pool, postgres.WithSchema(schema), postgres.WithTable("jobs")); !errors.Is(err, postgres.ErrNotMigrated) {
		t.Fatalf("OpenQueue before Migrate = %v, want ErrNotMigrated", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, pool, opts...) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	if err := postgres.Migrate(ctx, pool, opts...); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	var versions, max int
	err := pool.QueryRow(ctx, "SELECT count(*), max(version) FROM "+pgx.Identifier{schema, "jobs_migrations"}.Sanitize()).
		Scan(&versions, &max)
	if err != nil || versions != postgres.SchemaVersion() || max != postgres.SchemaVersion() {
		t.Fatalf("migrations table: %d rows, max %d, %v; want %d steps", versions, max, err, postgres.SchemaVersion())
	}
	q, err := postgres.OpenQueue(ctx, pool, postgres.WithSchema(schema), postgres.WithTable("jobs"))
	if err != nil {
		t.Fatalf("OpenQueue after Migrate: %v", err)
	}
	if got, want := q.Table(), schema+".jobs"; got != want {
		t.Errorf("Table() = %q, want %q", got, want)
	}
	q.Close()

	// A schema from a newer release is refused, not silently used.
	if _, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "jobs_migrations"}.Sanitize()+
		" (version, description) VALUES (999, 'from the future')"); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.OpenQueue(ctx, pool, postgres.WithSchema(schema), postgres.WithTable("jobs")); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenQueue on a newer schema = %v, want an error saying it is newer", err)
	}
	if err := postgres.Migrate(ctx, pool, opts...); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Migrate on a newer schema = %v, want an error saying it is newer", err)
	}
}

func TestOptionsAreValidated(t *testing.T) {
	pool := newPool(t, 2)
	ctx := context.Background()
	for _, tc := range []struct {
		opt interface {
			postgres.QueueOption
			postgres.MigrateOption
		}
		want string
	}{
		{postgres.WithSchema(""), "Schema"},
		{postgres.WithSchema("Orders"), `"Orders"`},
		{postgres.WithTable("jobs; DROP TABLE x"), "Table"},
		{postgres.WithTable("9lives"), `'9'`},
		{postgres.WithTable(strings.Repeat("a", 49)), "49 bytes"},
		{postgres.WithTable("fleet_keys"), "fleet store's"},
	} {
		_, err := postgres.OpenQueue(ctx, pool, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("OpenQueue with a bad option = %v, want an error naming %s", err, tc.want)
		}
		if err := postgres.Migrate(ctx, pool, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Migrate with a bad option = %v, want an error naming %s", err, tc.want)
		}
	}
	for _, tc := range []struct {
		opt  postgres.QueueOption
		want string
	}{
		{postgres.WithPollInterval(0), "PollInterval"},
		{postgres.WithMaxPayload(0), "MaxPayload"},
	} {
		_, err := postgres.OpenQueue(ctx, pool, tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("OpenQueue with a bad option = %v, want an error naming %s", err, tc.want)
		}
	}
	if _, err := postgres.OpenStore(ctx, pool, postgres.WithSchema("Fleet")); err == nil || !strings.Contains(err.Error(), `"Fleet"`) {
		t.Errorf("OpenStore with a bad schema = %v, want an error naming it", err)
	}
	if _, err := postgres.OpenStore(ctx, nil); err == nil {
		t.Error("OpenStore(nil pool) succeeded")
	}
	if _, err := postgres.OpenQueue(ctx, nil); err == nil {
		t.Error("OpenQueue(nil pool) succeeded")
	}
	if err := postgres.Migrate(ctx, nil); err == nil {
		t.Error("Migrate(nil pool) succeeded")
	}
}

func TestValidIdentifier(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"queue", true}, {"_q1", true}, {"a_b_9", true}, {strings.Repeat("x", 48), true},
		{"", false}, {"1q", false}, {"Q", false}, {"a-b", false}, {`a"b`, false}, {"a.b", false},
		{"é", false}, {strings.Repeat("x", 49), false},
	} {
		if err := postgres.ValidIdentifier(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidIdentifier(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func FuzzValidIdentifier(f *testing.F) {
	for _, s := range []string{"queue", "", "1a", "a\"b", "ñ", "a_b", "UPPER", "x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if postgres.ValidIdentifier(s) != nil {
			return
		}
		if len(s) == 0 || len(s) > 48 || s[0] >= '0' && s[0] <= '9' {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				t.Fatalf("accepted %q with %q", s, r)
			}
		}
		// An accepted name needs no quoting: it reads back unchanged.
		if q := (pgx.Identifier{s}).Sanitize(); q != `"`+s+`"` {
			t.Fatalf("quoted %q as %s", s, q)
		}
	})
}
