package postgres

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
)

// Defaults for the options of OpenQueue, OpenStore and Migrate.
const (
	DefaultSchema       = "opskit"
	DefaultTable        = "queue"
	DefaultPollInterval = time.Second
	DefaultMaxPayload   = 16 << 20
	// maxIdent leaves room under PostgreSQL's 63-byte identifier limit for
	// the suffixes of the index and migration-table names.
	maxIdent = 48
)

// QueueOption configures OpenQueue.
type QueueOption interface{ apply(*config) }

// StoreOption configures OpenStore: only WithSchema.
type StoreOption interface{ applyStore(*config) }

// MigrateOption configures Migrate: only WithSchema and WithTable, which
// OpenQueue takes too.
type MigrateOption interface{ applyMigrate(*config) }

// TableOption names the queue's table; both OpenQueue and Migrate take it.
type TableOption struct{ set func(*config) }

func (o TableOption) apply(c *config)        { o.set(c) }
func (o TableOption) applyMigrate(c *config) { o.set(c) }

// SchemaOption names the schema; OpenQueue, OpenStore and Migrate take it.
type SchemaOption struct{ name string }

func (o SchemaOption) apply(c *config)        { c.schema = o.name }
func (o SchemaOption) applyMigrate(c *config) { c.schema = o.name }
func (o SchemaOption) applyStore(c *config)   { c.schema = o.name }

// optionFunc adapts a function to QueueOption.
type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	schema, table string
	mp            metric.MeterProvider
	log           *slog.Logger
	clk           clock.Clock
	policy        retry.Policy
	poll          time.Duration
	maxPayload    int
}

// WithSchema sets the schema holding the queue's and the fleet store's
// tables; default DefaultSchema. It must be a lower-case SQL identifier
// (letters, digits, underscores, not starting with a digit), at most 48
// bytes.
func WithSchema(name string) SchemaOption { return SchemaOption{name} }

// WithTable sets the queue table's name, with the same rules as
// WithSchema; default DefaultTable. Several queues can share a schema
// under different table names; names starting with "fleet" are the fleet
// store's.
func WithTable(name string) TableOption {
	return TableOption{func(c *config) { c.table = name }}
}

// WithMeterProvider sets where metrics go; default otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) QueueOption {
	return optionFunc(func(c *config) { c.mp = mp })
}

// WithLogger sets the logger for background errors (the notification
// listener reconnecting, leases that could not be released at Close);
// default slog.Default().
func WithLogger(l *slog.Logger) QueueOption { return optionFunc(func(c *config) { c.log = l }) }

// WithClock sets the clock for not-before times, lease deadlines, backoff
// and ages; default the real clock. The database's own now() is never
// used for these, so every process sharing a queue should run on a clock
// that agrees (NTP) within a small fraction of the visibility timeout.
func WithClock(clk clock.Clock) QueueOption { return optionFunc(func(c *config) { c.clk = clk }) }

// WithRetryPolicy sets the Nack backoff and the dead-letter threshold, as
// for the file queue: a delivery that fails (Nack or an expired lease)
// once its attempt number has reached p.MaxAttempts dead-letters the
// message. Without this option queue.DefaultRetryPolicy() applies.
func WithRetryPolicy(p retry.Policy) QueueOption { return optionFunc(func(c *config) { c.policy = p }) }

// WithPollInterval bounds how long an idle Receive waits, in wall-clock
// time, before it looks at the table again without having been notified;
// default DefaultPollInterval. Notifications (LISTEN/NOTIFY) normally wake
// it at once; the poll covers a listener that is reconnecting and
// messages that become due on another process's clock.
func WithPollInterval(d time.Duration) QueueOption { return optionFunc(func(c *config) { c.poll = d }) }

// WithMaxPayload sets the largest accepted payload; default
// DefaultMaxPayload.
func WithMaxPayload(n int) QueueOption { return optionFunc(func(c *config) { c.maxPayload = n }) }

// configure applies opts, each through apply, over the defaults and
// checks the result: one place for every constructor's options.
func configure[O any](opts []O, apply func(O, *config)) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		if any(o) != nil {
			apply(o, &c)
		}
	}
	return c.check()
}

func defaultConfig() config {
	return config{schema: DefaultSchema, table: DefaultTable, policy: queue.DefaultRetryPolicy(),
		poll: DefaultPollInterval, maxPayload: DefaultMaxPayload}
}

// check fills the defaults of nil fields and reports the first bad one.
func (c config) check() (config, error) {
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.clk = timer.Or(c.clk)
	if c.policy.MaxAttempts == 0 {
		c.policy.MaxAttempts = retry.DefaultMaxAttempts
	}
	if err := ValidIdentifier(c.schema); err != nil {
		return c, fmt.Errorf("postgres: Schema: %w", err)
	}
	if err := ValidIdentifier(c.table); err != nil {
		return c, fmt.Errorf("postgres: Table: %w", err)
	}
	if strings.HasPrefix(c.table, "fleet") {
		return c, fmt.Errorf("postgres: Table %q starts with \"fleet\", which names the fleet store's tables", c.table)
	}
	switch {
	case c.poll <= 0:
		return c, fmt.Errorf("postgres: PollInterval is %v, want > 0", c.poll)
	case c.maxPayload <= 0 || c.maxPayload > 1<<30-1:
		return c, fmt.Errorf("postgres: MaxPayload is %d, want 1..%d", c.maxPayload, 1<<30-1)
	}
	if err := c.policy.Validate(); err != nil {
		return c, fmt.Errorf("postgres: retry policy: %w", err)
	}
	return c, nil
}

// ValidIdentifier reports why name cannot be a schema or table name: it
// must be 1 to 48 bytes of lower-case ASCII letters, digits and
// underscores, not starting with a digit. Names are quoted in every
// statement anyway; the rule keeps them portable and unambiguous.
func ValidIdentifier(name string) error {
	if name == "" || len(name) > maxIdent {
		return fmt.Errorf("name %q is %d bytes, want 1..%d", name, len(name), maxIdent)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return fmt.Errorf("name %q has %q at byte %d, want lower-case letters, digits (not first) and underscores", name, c, i)
		}
	}
	return nil
}

// names are the quoted SQL names of one queue's objects.
type names struct {
	table      string // "schema"."table"
	migrations string // "schema"."table_migrations"
	schema     string // "schema"
	channel    string // NOTIFY channel, unquoted
	lockKey    int64  // advisory lock key for Migrate
	plain      string // schema.table, for messages and metric attributes
}

func newNames(schema, table string) names {
	h := fnv.New64a()
	h.Write([]byte(schema + "." + table))
	sum := h.Sum64()
	return names{
		table:      pgx.Identifier{schema, table}.Sanitize(),
		migrations: pgx.Identifier{schema, table + "_migrations"}.Sanitize(),
		schema:     pgx.Identifier{schema}.Sanitize(),
		channel:    fmt.Sprintf("opskit_queue_%016x", sum),
		lockKey:    int64(sum),
		plain:      schema + "." + table,
	}
}

// index returns the quoted name of the table's index with suffix.
func (n names) index(table, suffix string) string {
	return pgx.Identifier{table + "_" + suffix}.Sanitize()
}
