package feature

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/internal/clock"
)

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrInvalid reports a bad argument; the message names the field and value.
	ErrInvalid = errors.New("feature: invalid argument")
	// ErrDuplicate reports a second Define of the same name.
	ErrDuplicate = errors.New("feature: duplicate feature name")
	// ErrClosed reports a Define after Close.
	ErrClosed = errors.New("feature: registry closed")
	// ErrCorrupt reports a snapshot that fails its checksum or cannot be decoded.
	ErrCorrupt = errors.New("feature: corrupt snapshot")
)

const (
	// DefaultSnapshotEvery is how often a registry with a directory saves its
	// snapshot when WithSnapshotEvery is not given.
	DefaultSnapshotEvery = time.Minute
	// DefaultDriftSize bounds the table of undeclared names.
	DefaultDriftSize = 256
	maxNameLen       = 200
)

// Registry is a catalog of declared features and their usage counters.
// Create one with New and stop it with Close. All methods are safe for
// concurrent use.
type Registry struct {
	epoch  atomic.Uint64 // the coarse clock of the hot path: minute slot | day slot<<8
	nowMin atomic.Int64  // the current minute (Unix minutes), for the by-name path

	clock     clock.Clock
	log       *slog.Logger
	key       [2]uint64 // SipHash key for tenant ids
	keySet    bool
	keyLen    int
	dir       string
	instance  string
	snapEvery time.Duration
	report    *ReportFile
	onSave    func(path string, err error)
	mp        metric.MeterProvider
	driftSize int

	byName           atomic.Pointer[map[string]*Feature] // copy-on-write, replaced by Define
	drift            *lru.Cache[string, *driftEntry]
	driftEvicted     atomic.Int64 // names forgotten
	driftEvictedUses atomic.Int64 // their uses, so the drift counter stays monotonic

	mu         sync.Mutex // guards the fields below and every non-atomic field of Feature
	features   []*Feature
	curMinute  int64
	slotMinute [minuteSlots]int64 // which minute each minute slot holds
	slotDay    [daySlots]int64    // which day each day slot holds
	pending    map[string]*featState
	closed     bool

	stop    chan struct{}
	done    chan struct{}
	metrics metric.Registration
}

// Option configures a Registry.
type Option func(*Registry)

// WithClock sets the clock (default the wall clock). Tests pass a clock.Fake.
func WithClock(c clock.Clock) Option { return func(r *Registry) { r.clock = c } }

// WithLogger sets where background failures (a snapshot that cannot be
// written) are logged; the default is slog.Default(). The hot path never logs.
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.log = l } }

// WithMeterProvider sets the OpenTelemetry meter provider (default
// otel.GetMeterProvider()).
func WithMeterProvider(mp metric.MeterProvider) Option { return func(r *Registry) { r.mp = mp } }

// WithDir keeps snapshots in dir: the registry restores its own snapshot at
// start, saves it every snapshot interval and on Close, and reports merge the
// snapshots of every instance found in dir. Without a directory nothing is
// persisted.
func WithDir(dir string) Option { return func(r *Registry) { r.dir = dir } }

// WithInstance names this process's snapshot file. Instances sharing a
// directory must have distinct names; the default is the host name.
func WithInstance(id string) Option { return func(r *Registry) { r.instance = id } }

// WithSnapshotEvery sets the snapshot interval (default DefaultSnapshotEvery).
func WithSnapshotEvery(d time.Duration) Option { return func(r *Registry) { r.snapEvery = d } }

// WithTenantKey sets the 16-byte secret that tenant ids are hashed with.
// Instances whose snapshots are merged must share it. Without it a registry
// with a directory keeps a random key in DIR/feature-tenant.key (mode 0600);
// without a directory the key is random per process.
func WithTenantKey(key []byte) Option {
	return func(r *Registry) {
		if len(key) == 16 {
			r.key = [2]uint64{binary.LittleEndian.Uint64(key), binary.LittleEndian.Uint64(key[8:])}
		}
		r.keySet = true
		r.keyLen = len(key)
	}
}

// WithDriftSize bounds how many undeclared names are remembered (default
// DefaultDriftSize); the least recently used are forgotten first.
func WithDriftSize(n int) Option { return func(r *Registry) { r.driftSize = n } }

// WithOnSave calls fn after every background snapshot or report write, with
// the file written and the error, if any. It runs on the registry's own
// goroutine with no lock held; keep it short.
func WithOnSave(fn func(path string, err error)) Option { return func(r *Registry) { r.onSave = fn } }

// New returns a running registry. It restores this instance's snapshot when a
// directory is set and starts the one goroutine that advances the coarse
// clock and writes snapshots and reports; Close stops it.
func New(opts ...Option) (*Registry, error) {
	r := &Registry{snapEvery: DefaultSnapshotEvery, driftSize: DefaultDriftSize, pending: map[string]*featState{}}
	for _, o := range opts {
		o(r)
	}
	r.clock = clock.OrReal(r.clock)
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.mp == nil {
		r.mp = otel.GetMeterProvider()
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	drift, err := lru.NewWithEvict(r.driftSize, func(_ string, e *driftEntry) {
		r.driftEvicted.Add(1)
		r.driftEvictedUses.Add(e.uses.Load())
	})
	if err != nil {
		return nil, fmt.Errorf("%w: drift size %d: %v", ErrInvalid, r.driftSize, err)
	}
	r.drift = drift
	empty := map[string]*Feature{}
	r.byName.Store(&empty)
	r.initClock(r.clock.Now())
	if r.dir != "" {
		if err := r.openDir(); err != nil {
			return nil, err
		}
	} else if !r.keySet {
		r.key = randomKey()
	}
	if err := r.registerMetrics(); err != nil {
		return nil, err
	}
	r.stop = make(chan struct{})
	r.done = make(chan struct{})
	go r.run()
	return r, nil
}

func (r *Registry) validate() error {
	if r.keySet && r.keyLen != 16 {
		return fmt.Errorf("%w: tenant key length %d, want 16", ErrInvalid, r.keyLen)
	}
	if r.snapEvery <= 0 {
		return fmt.Errorf("%w: snapshot interval %v, want > 0", ErrInvalid, r.snapEvery)
	}
	if r.driftSize <= 0 {
		return fmt.Errorf("%w: drift size %d, want > 0", ErrInvalid, r.driftSize)
	}
	if r.instance == "" {
		h, _ := os.Hostname()
		r.instance = sanitizeInstance(h)
	} else if r.instance != sanitizeInstance(r.instance) {
		return fmt.Errorf("%w: instance %q: use letters, digits, '.', '-' and '_'", ErrInvalid, r.instance)
	}
	if r.report != nil {
		if err := r.report.validate(); err != nil {
			return err
		}
	}
	return nil
}

func sanitizeInstance(s string) string {
	s = strings.Map(func(c rune) rune {
		if c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c) || c == '.' || c == '-' || c == '_') {
			return c
		}
		return '_'
	}, s)
	if s == "" || strings.Trim(s, ".") == "" {
		return "default"
	}
	return s
}

func randomKey() [2]uint64 {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return [2]uint64{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
}

// openDir creates the directory, loads or creates the tenant key and reads
// this instance's snapshot into the pending state that Define picks up.
func (r *Registry) openDir() error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("feature: data dir %s: %w", r.dir, err)
	}
	if !r.keySet {
		k, err := loadOrCreateKey(filepath.Join(r.dir, keyFile))
		if err != nil {
			return err
		}
		r.key = k
	}
	st, err := readSnapshotFile(r.snapshotPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, ErrCorrupt):
		aside := r.snapshotPath() + ".corrupt"
		r.log.Warn("feature: snapshot is corrupt; moved aside, starting empty", "path", r.snapshotPath(), "moved_to", aside, "err", err)
		return os.Rename(r.snapshotPath(), aside)
	case err != nil:
		return err
	}
	r.mu.Lock()
	r.pending = st.Features
	r.restoreDriftLocked(st.Drift)
	r.mu.Unlock()
	return nil
}

// Define declares a feature and returns its handle. name must be non-empty,
// at most 200 characters, without control characters and unique in the
// registry; since is the date the feature shipped and must not be zero.
// Counts restored from a snapshot for this name are attached now.
func (r *Registry) Define(name, owner string, since time.Time, description string) (*Feature, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if since.IsZero() {
		return nil, fmt.Errorf("%w: feature %q: since is the zero time", ErrInvalid, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("%w: define %q", ErrClosed, name)
	}
	old := *r.byName.Load()
	if _, dup := old[name]; dup {
		return nil, fmt.Errorf("%w: %q is already defined", ErrDuplicate, name)
	}
	f := &Feature{r: r, name: name, owner: owner, since: since, desc: description}
	if p, ok := r.pending[name]; ok {
		r.attachLocked(f, p)
		delete(r.pending, name)
	}
	r.features = append(r.features, f)
	next := make(map[string]*Feature, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[name] = f
	r.byName.Store(&next)
	return f, nil
}

// MustDefine is Define for package-level declarations; it panics on error,
// which can only be a programming mistake in the catalog.
func (r *Registry) MustDefine(name, owner string, since time.Time, description string) *Feature {
	f, err := r.Define(name, owner, since, description)
	if err != nil {
		panic(err)
	}
	return f
}

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: feature name is empty", ErrInvalid)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: feature name %q is %d bytes, want at most %d", ErrInvalid, name[:20]+"...", len(name), maxNameLen)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: feature name %q has leading or trailing space", ErrInvalid, name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: feature name %q contains a control character", ErrInvalid, name)
	}
	return nil
}

// Lookup returns the declared feature called name.
func (r *Registry) Lookup(name string) (*Feature, bool) {
	f, ok := (*r.byName.Load())[name]
	return f, ok
}

// Close stops the background goroutine, writes a final snapshot (when a
// directory is set) and unregisters the metrics. Uses after Close are still
// counted in memory but no longer saved. Close is idempotent.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	var errs []error
	if r.dir != "" {
		errs = append(errs, r.Save())
	}
	if r.metrics != nil {
		errs = append(errs, r.metrics.Unregister())
	}
	return errors.Join(errs...)
}

// run is the registry's goroutine: it wakes at every minute boundary to
// advance the coarse clock, and when a snapshot or report is due.
func (r *Registry) run() {
	defer close(r.done)
	now := r.clock.Now()
	nextSnap := now.Add(r.snapEvery)
	var nextReport time.Time
	if r.report != nil {
		nextReport = now.Add(r.report.Every)
	}
	t := r.clock.NewTimer(r.sleepFor(now, nextSnap, nextReport))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C():
		}
		now = r.clock.Now()
		r.refresh()
		if r.dir != "" && !now.Before(nextSnap) {
			nextSnap = now.Add(r.snapEvery)
			r.saved(r.snapshotPath(), r.Save())
		}
		if r.report != nil && !now.Before(nextReport) {
			nextReport = now.Add(r.report.Every)
			r.saved(r.report.Path, r.WriteReportFile(*r.report))
		}
		t.Reset(r.sleepFor(now, nextSnap, nextReport))
	}
}

func (r *Registry) saved(path string, err error) {
	if err != nil {
		r.log.Error("feature: background write failed", "path", path, "err", err)
	}
	if r.onSave != nil {
		r.onSave(path, err)
	}
}

// sleepFor returns the time until the next minute boundary or due write.
func (r *Registry) sleepFor(now, nextSnap, nextReport time.Time) time.Duration {
	next := now.Truncate(time.Minute).Add(time.Minute)
	if r.dir != "" && nextSnap.Before(next) {
		next = nextSnap
	}
	if r.report != nil && nextReport.Before(next) {
		next = nextReport
	}
	return max(next.Sub(now), time.Millisecond)
}
