package feature

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
)

// Option configures New. Options only record settings; New checks them all
// before it builds the registry, so no option sees a half-built one.
type Option interface{ apply(*config) }

// config is what the options set; New validates it.
type config struct {
	clock     clock.Clock
	log       *slog.Logger
	mp        metric.MeterProvider
	dir       string
	instance  string
	snapEvery time.Duration
	key       []byte // nil: none given
	driftSize int
	report    *ReportFile
	onSave    func(path string, err error)
	audit     audit.Sink
	store     fleet.Store
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithClock sets the clock (default the wall clock). Tests pass a
// *clock.Fake: on any clock but the wall clock the registry reads the time
// at every use instead of keeping a coarse clock, so a use right after
// Advance counts in the new minute.
func WithClock(c clock.Clock) Option { return optionFunc(func(cfg *config) { cfg.clock = c }) }

// WithLogger sets where background failures (a snapshot that cannot be
// written) are logged; the default is slog.Default(). The hot path never logs.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(cfg *config) { cfg.log = l }) }

// WithMeterProvider sets the OpenTelemetry meter provider (default
// otel.GetMeterProvider()).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(cfg *config) { cfg.mp = mp })
}

// WithDir keeps snapshots in dir (created with mode 0700 if needed): the
// registry restores its own snapshot at start, saves it every snapshot
// interval and on Shutdown, and reports merge the snapshots of every
// instance found in dir. Without a directory nothing is persisted.
func WithDir(dir string) Option { return optionFunc(func(cfg *config) { cfg.dir = dir }) }

// WithInstance names this process's snapshot file. Instances sharing a
// directory must have distinct names; the default is the host name.
func WithInstance(id string) Option { return optionFunc(func(cfg *config) { cfg.instance = id }) }

// WithSnapshotEvery sets the snapshot interval (default DefaultSnapshotEvery).
func WithSnapshotEvery(d time.Duration) Option {
	return optionFunc(func(cfg *config) { cfg.snapEvery = d })
}

// WithTenantKey sets the 16-byte secret that tenant ids are hashed with.
// Instances whose snapshots are merged must share it. Without it a registry
// with a fleet store takes the store's key (WithStore); one with a
// directory keeps a random key in DIR/feature-tenant.key (mode 0600),
// created by the first process to start; without either the key is random
// per process.
func WithTenantKey(key []byte) Option {
	key = append([]byte{}, key...) // the caller may reuse its slice
	return optionFunc(func(cfg *config) { cfg.key = key })
}

// WithDriftSize bounds how many undeclared names are remembered (default
// DefaultDriftSize); the least recently used are forgotten first.
func WithDriftSize(n int) Option { return optionFunc(func(cfg *config) { cfg.driftSize = n }) }

// WithOnSave calls fn after every background snapshot or report write, with
// the file written and the error, if any. It runs on the registry's own
// goroutine with no lock held; Shutdown waits for it only until its
// context ends.
func WithOnSave(fn func(path string, err error)) Option {
	return optionFunc(func(cfg *config) { cfg.onSave = fn })
}

// WithReportFile makes the registry's goroutine write the report to a file
// every f.Every, the first one f.Every after New.
func WithReportFile(f ReportFile) Option {
	return optionFunc(func(cfg *config) { cfg.report = &f })
}

// WithAudit sets where every switch of a feature (Feature.Switch,
// SwitchHandler) is recorded. A switch is made only after its record is
// written, so without a sink Feature.Switch fails (SwitchHandler falls
// back to its guard's Sink).
func WithAudit(s audit.Sink) Option { return optionFunc(func(cfg *config) { cfg.audit = s }) }

// WithStore makes the registry one replica of a fleet sharing s: the
// tenant key is the store's (FleetKeyName, created once by whichever
// replica asks first), so every replica hashes tenants alike; the
// registry publishes its state (kind FleetKind, under its WithInstance
// name) every snapshot interval and on Shutdown, restores it at start when
// no directory snapshot is found, and takes up switches made on other
// replicas at each publish. Report, Handler, Stats, Tenant and Impact
// merge every replica's state: uses and failures summed exactly, tenant
// bitmaps and filters ORed, so distinct tenants are fleet-wide within the
// stated error. A store failure after start is logged and shown as a
// warning on reports; local counts are kept and published at the next
// success. A replica's state must fit in fleet.MaxData (8 MiB): a feature
// used by 5,000 tenants every day of the 90 kept takes about 178 KB, so
// about 45 such features fit; a larger state fails to publish, with that
// warning. New fails when the store cannot give the key. With a store,
// reports read the other replicas from it, not from WithDir's directory
// (which then only keeps this replica's own snapshot).
func WithStore(s fleet.Store) Option { return optionFunc(func(cfg *config) { cfg.store = s }) }
