package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotMigrated is returned by OpenQueue and OpenStore when their tables
// are missing or older than this package needs: run Migrate first.
var ErrNotMigrated = errors.New("postgres: schema not migrated")

// step is one versioned schema change. Steps are applied in order, each in
// the transaction that records it, and never edited once released: a
// change is a new step.
type step struct {
	version     int
	description string
	sql         string // {table} {schema} and {idx_*} are replaced
}

// The state column, written as literals in the SQL (they are part of the
// partial indexes' predicates, which must match the queries to text):
// 0 ready, 1 leased, 2 dead. A ready row whose available_at is in the
// future is delayed (a not-before time or a Nack backoff); a leased row's
// available_at is its lease deadline.

var steps = []step{{
	version:     1,
	description: "queue table, lease and dead-letter indexes, dedupe key index",
	sql: `
CREATE TABLE {table} (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	state        smallint NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
	available_at timestamptz NOT NULL,
	attempts     integer NOT NULL DEFAULT 0,
	lease        bigint NOT NULL DEFAULT 0,
	owner        bigint NOT NULL DEFAULT 0,
	enqueued_at  timestamptz NOT NULL,
	dedupe_key   bytea,
	payload      bytea NOT NULL,
	dead_at      timestamptz,
	reason       text
);
-- The lease query: the first due row that is not dead, oldest due first.
CREATE INDEX {idx_available} ON {table} (available_at, id) WHERE state <> 2;
-- Expired leases (to dead-letter exhausted ones) and the in-flight count.
CREATE INDEX {idx_leased} ON {table} (available_at) WHERE state = 1;
-- Dead letters in id order.
CREATE INDEX {idx_dead} ON {table} (id) WHERE state = 2;
-- A dedupe key is held while its message is stored, dead letters included.
CREATE UNIQUE INDEX {idx_dedupe} ON {table} (dedupe_key) WHERE dedupe_key IS NOT NULL;
`,
}}

// SchemaVersion is the migration version of the queue's table that this
// package needs (the fleet store's tables are versioned apart, see
// Migrate).
func SchemaVersion() int { return steps[len(steps)-1].version }

// stream is one versioned set of tables: a queue's table, or the fleet
// store's tables of a schema. Each records its steps in its own
// migrations table and serialises on its own advisory lock.
type stream struct {
	migrations string // quoted migrations table
	lockKey    int64
	steps      []step
	expand     func(string) string
	plain      string // for messages
}

func (s stream) version() int { return s.steps[len(s.steps)-1].version }

// queueStream is the queue table's stream.
func queueStream(table string, n names) stream {
	return stream{migrations: n.migrations, lockKey: n.lockKey, steps: steps,
		expand: func(sql string) string { return expand(sql, table, n) }, plain: n.plain}
}

// Migrate creates or upgrades the queue's schema, table and indexes, and
// the fleet store's tables in the same schema (see OpenStore). Each
// applied step is recorded: the queue's in a "<table>_migrations" table
// beside it, the fleet store's in "fleet_migrations". It is idempotent
// and safe to run from several processes at once (they serialise on an
// advisory lock per table set); run it at deploy or start-up, before
// OpenQueue and OpenStore.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...MigrateOption) error {
	if pool == nil {
		return errors.New("postgres: Migrate needs a pool")
	}
	c, err := configure(opts, MigrateOption.applyMigrate)
	if err != nil {
		return err
	}
	if err := migrate(ctx, pool, c.schema, fleetStream(c.schema)); err != nil {
		return err
	}
	return migrate(ctx, pool, c.schema, queueStream(c.table, newNames(c.schema, c.table)))
}

// migrate applies the steps of st that its migrations table lacks, in one
// transaction holding st's advisory lock.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string, st stream) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, st.lockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+st.migrations+` (
	version     integer PRIMARY KEY,
	description text NOT NULL,
	applied_at  timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+st.migrations).Scan(&have); err != nil {
			return err
		}
		if have > st.version() {
			return fmt.Errorf("schema version %d is newer than this package's %d", have, st.version())
		}
		for _, s := range st.steps {
			if s.version <= have {
				continue
			}
			if _, err := tx.Exec(ctx, st.expand(s.sql)); err != nil {
				return fmt.Errorf("step %d: %w", s.version, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+st.migrations+` (version, description) VALUES ($1, $2)`,
				s.version, s.description); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate %s: %w", st.plain, err)
	}
	return nil
}

// expand fills a queue step's placeholders with quoted names.
func expand(sql, table string, n names) string {
	return strings.NewReplacer(
		"{table}", n.table,
		"{schema}", n.schema,
		"{idx_available}", n.index(table, "available"),
		"{idx_leased}", n.index(table, "leased"),
		"{idx_dead}", n.index(table, "dead"),
		"{idx_dedupe}", n.index(table, "dedupe"),
	).Replace(sql)
}

// checkVersion returns ErrNotMigrated unless st's tables are at its
// newest version.
func checkVersion(ctx context.Context, pool *pgxpool.Pool, st stream) error {
	var have int
	err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+st.migrations).Scan(&have)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") { // undefined table / schema
		return fmt.Errorf("%w: %s has no migrations table", ErrNotMigrated, st.plain)
	}
	if err != nil {
		return fmt.Errorf("postgres: reading schema version of %s: %w", st.plain, err)
	}
	switch {
	case have < st.version():
		return fmt.Errorf("%w: %s is at version %d, want %d", ErrNotMigrated, st.plain, have, st.version())
	case have > st.version():
		return fmt.Errorf("postgres: %s is at schema version %d, newer than this package's %d", st.plain, have, st.version())
	}
	return nil
}
