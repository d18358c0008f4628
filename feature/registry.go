package feature

import (
	"context"
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

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/internal/filelock"
	"github.com/opskit/opskit/internal/timer"
)

// Sentinel errors callers can branch on with errors.Is.
var (
	// ErrInvalid reports a bad argument; the message names the field and value.
	ErrInvalid = errors.New("feature: invalid argument")
	// ErrDuplicate reports a second Define of the same name.
	ErrDuplicate = errors.New("feature: duplicate feature name")
	// ErrClosed reports a Define after Shutdown.
	ErrClosed = errors.New("feature: registry closed")
	// ErrCorrupt reports a snapshot that fails its checksum or cannot be decoded.
	ErrCorrupt = errors.New("feature: corrupt snapshot")
)

const (
	// DefaultSnapshotEvery is how often a registry with a directory saves its
	// snapshot when WithSnapshotEvery is not given: a SIGKILL loses at most
	// the uses, outcomes and reasons recorded in the last 5 seconds (plus
	// the time one save takes).
	DefaultSnapshotEvery = 5 * time.Second
	// DefaultDriftSize bounds the table of undeclared names.
	DefaultDriftSize = 256
	maxNameLen       = 200
)

// Registry is a catalog of declared features and their usage counters.
// Create one with New and stop it with Shutdown. All methods are safe for
// concurrent use.
type Registry struct {
	epoch  atomic.Uint64 // the coarse clock of the hot path: minute slot | day slot<<8
	nowMin atomic.Int64  // the current minute (Unix minutes), for the by-name path

	clock     clock.Clock
	direct    bool // not the wall clock: every use reads it (no coarse clock)
	log       *slog.Logger
	key       [2]uint64 // SipHash key for tenant ids
	dir       string
	instance  string
	snapEvery time.Duration
	report    *ReportFile
	onSave    func(path string, err error)
	mp        metric.MeterProvider
	driftSize int
	audit     audit.Sink
	switchMu  sync.Mutex // serialises switches (audit record, then apply)
	store     fleet.Store
	storeErr  atomic.Pointer[string] // the last publish failure, nil after a success
	lock      *os.File               // this instance's lock in dir
	snapSize  atomic.Int64           // bytes of the last encoded snapshot: the next one's buffer size
	pubMu     sync.Mutex             // serialises Publish; guards lastPut, putDone
	lastPut   uint32                 // CRC-32C of the state this registry last put in the store
	putDone   bool
	clash     atomic.Pointer[string] // another process publishes under this instance's name
	keyNote   string                 // set in New: the directory's history was counted under another key

	byName           atomic.Pointer[map[string]*Feature] // copy-on-write, replaced by Define
	drift            *lru.Cache[string, *driftEntry]
	driftEvicted     atomic.Int64 // names forgotten
	driftEvictedUses atomic.Int64 // their uses, so the drift counter stays monotonic

	mu         sync.Mutex // guards the fields below and every non-atomic field of Feature
	features   []*Feature
	curMinute  int64
	slotMinute [minuteSlots]int64 // which minute each minute slot holds
	slotDay    [daySlots]int64    // which day each day slot holds
	slotLook   [lookSlots]int64   // which day each lookup filter slot holds
	pending    map[string]*featState
	closed     bool

	stop     chan struct{} // closed by Shutdown
	done     chan struct{} // closed when run returns
	finishMu sync.Mutex    // guards finished; held while Shutdown saves
	finished bool          // Shutdown has saved and unregistered
	metrics  metric.Registration
}

// New returns a running registry. It restores this instance's snapshot when a
// directory is set and starts the one goroutine that advances the coarse
// clock and writes snapshots and reports; Shutdown stops it.
func New(opts ...Option) (*Registry, error) {
	cfg := config{snapEvery: DefaultSnapshotEvery, driftSize: DefaultDriftSize}
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Registry{
		clock:     timer.Or(cfg.clock),
		direct:    !clock.IsReal(cfg.clock),
		log:       cfg.log,
		mp:        cfg.mp,
		dir:       cfg.dir,
		instance:  cfg.instance,
		snapEvery: cfg.snapEvery,
		report:    cfg.report,
		onSave:    cfg.onSave,
		driftSize: cfg.driftSize,
		audit:     cfg.audit,
		store:     cfg.store,
		pending:   map[string]*featState{},
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.mp == nil {
		r.mp = otel.GetMeterProvider()
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
	switch {
	case cfg.key != nil:
		r.key = keyOf(cfg.key)
	case r.dir == "" && r.store == nil:
		r.key = randomKey()
	}
	restored := false
	if r.dir != "" {
		var err error
		if restored, err = r.openDir(cfg.key == nil && r.store == nil); err != nil {
			return nil, err
		}
	}
	if r.store != nil {
		var dirKey *[2]uint64
		if r.dir != "" && cfg.key == nil {
			if dirKey, err = readKey(filepath.Join(r.dir, keyFile)); err != nil {
				r.closeDir()
				return nil, err
			}
		}
		if err := r.openStore(cfg.key == nil, !restored, dirKey); err != nil {
			r.closeDir()
			return nil, err
		}
	}
	if err := r.registerMetrics(); err != nil {
		return nil, fmt.Errorf("feature: register metrics: %w", err)
	}
	r.stop = make(chan struct{})
	r.done = make(chan struct{})
	go r.run()
	return r, nil
}

// validate checks the options and fills in the instance name.
func (cfg *config) validate() error {
	if cfg.key != nil && len(cfg.key) != 16 {
		return fmt.Errorf("%w: tenant key length %d, want 16", ErrInvalid, len(cfg.key))
	}
	if cfg.snapEvery <= 0 {
		return fmt.Errorf("%w: snapshot interval %v, want > 0", ErrInvalid, cfg.snapEvery)
	}
	if cfg.driftSize <= 0 {
		return fmt.Errorf("%w: drift size %d, want > 0", ErrInvalid, cfg.driftSize)
	}
	if cfg.instance == "" {
		h, _ := os.Hostname()
		cfg.instance = sanitizeInstance(h)
	} else if cfg.instance != sanitizeInstance(cfg.instance) {
		return fmt.Errorf("%w: instance %q: use letters, digits, '.', '-' and '_'", ErrInvalid, cfg.instance)
	}
	if cfg.report != nil {
		if err := cfg.report.validate(); err != nil {
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
	return keyOf(b[:])
}

// keyOf reads a 16-byte key.
func keyOf(b []byte) [2]uint64 {
	return [2]uint64{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}
}

// openDir creates the directory, locks this instance's name in it (two
// processes writing one snapshot would be last-writer-wins), loads or
// creates the tenant key and reads this instance's snapshot into the
// pending state that Define picks up. restored says whether there was one.
func (r *Registry) openDir(needKey bool) (restored bool, err error) {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return false, fmt.Errorf("feature: data dir %s: %w", r.dir, err)
	}
	lock, err := filelock.Lock(filepath.Join(r.dir, snapPrefix+r.instance+".lock"))
	if errors.Is(err, filelock.ErrLocked) {
		return false, fmt.Errorf("%w: instance %q is in use in %s by another registry: give each process sharing a directory its own WithInstance", ErrInvalid, r.instance, r.dir)
	}
	if err != nil {
		return false, fmt.Errorf("feature: data dir: %w", err)
	}
	r.lock = lock
	defer func() {
		if err != nil {
			r.closeDir()
		}
	}()
	if needKey {
		k, err := loadOrCreateKey(filepath.Join(r.dir, keyFile))
		if err != nil {
			return false, err
		}
		r.key = k
	}
	st, err := readSnapshotFile(r.snapshotPath())
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case errors.Is(err, ErrCorrupt):
		aside := r.snapshotPath() + ".corrupt"
		r.log.Warn("feature: snapshot is corrupt; moved aside, starting empty", "path", r.snapshotPath(), "moved_to", aside, "err", err)
		if err := os.Rename(r.snapshotPath(), aside); err != nil {
			return false, fmt.Errorf("feature: move corrupt snapshot aside: %w", err)
		}
		return false, nil
	case err != nil:
		return false, err
	}
	r.mu.Lock()
	r.pending = st.Features
	r.restoreDriftLocked(st.Drift)
	r.mu.Unlock()
	return true, nil
}

// closeDir releases the instance's lock.
func (r *Registry) closeDir() {
	if r.lock != nil {
		r.lock.Close()
		r.lock = nil
	}
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
	f := &Feature{r: r, direct: r.direct, name: name, owner: owner, since: since, desc: description}
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

// Shutdown stops the registry's goroutine and waits for it, writes a final
// snapshot (when a directory is set) and unregisters the metrics. If ctx
// ends first — the goroutine is inside a slow write or a WithOnSave
// callback — Shutdown returns an error wrapping ctx.Err() that says the
// final snapshot was not written; calling it again finishes the job. Uses
// after Shutdown are still counted in memory but no longer saved, and
// Define fails with ErrClosed. Once it has succeeded, Shutdown returns nil.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		close(r.stop)
	}
	r.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("feature: shutdown: the background goroutine is still in a snapshot, report or WithOnSave call; final snapshot not written: %w", ctx.Err())
	}
	r.finishMu.Lock()
	defer r.finishMu.Unlock()
	if r.finished {
		return nil
	}
	r.finished = true
	var errs []error
	if r.dir != "" {
		errs = append(errs, r.Save())
	}
	if r.store != nil {
		errs = append(errs, r.Publish(ctx))
	}
	r.closeDir()
	if r.metrics != nil {
		if err := r.metrics.Unregister(); err != nil {
			errs = append(errs, fmt.Errorf("feature: unregister metrics: %w", err))
		}
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
	t := timer.New(r.clock, r.sleepFor(now, nextSnap, nextReport))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C():
		}
		now = r.clock.Now()
		r.refresh()
		if r.persists() && !now.Before(nextSnap) {
			nextSnap = now.Add(r.snapEvery)
			if r.dir != "" {
				r.saved(r.snapshotPath(), r.Save())
			}
			if r.store != nil {
				r.saved("fleet store", r.Publish(context.Background()))
			}
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

// persists says whether snapshots are written anywhere.
func (r *Registry) persists() bool { return r.dir != "" || r.store != nil }

// sleepFor returns the time until the next minute boundary or due write.
func (r *Registry) sleepFor(now, nextSnap, nextReport time.Time) time.Duration {
	next := now.Truncate(time.Minute).Add(time.Minute)
	if r.persists() && nextSnap.Before(next) {
		next = nextSnap
	}
	if r.report != nil && nextReport.Before(next) {
		next = nextReport
	}
	return max(next.Sub(now), time.Millisecond)
}
