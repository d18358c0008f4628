package audit

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/atomicfile"
	"github.com/opskit/opskit/internal/timer"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log closed")

// indexEvery is how many records apart the in-memory index points are: a
// page of the /audit view reads at most this many records it does not show.
const indexEvery = 256

// minKeySize is the shortest HMAC key Open accepts.
const minKeySize = 16

// Log is a file-backed, append-only, hash-chained audit log. It is a Sink.
// Every Append writes one line and fsyncs before it returns. The API has no
// way to change or remove a record. All methods are safe for concurrent use.
type Log struct {
	path    string
	key     []byte
	clock   clock.Clock
	release string // stamped on records that carry none
	m       *logMetrics

	mu     sync.Mutex // guards everything below
	f      file
	size   int64             // bytes of verified records
	seq    uint64            // of the last record
	head   [sha256.Size]byte // hash of the last record
	index  []indexPoint      // index[i] is where record i*indexEvery+1 starts
	broken error             // set when a failed fsync left the file in doubt
	closed bool
}

// indexPoint locates a record in the file and the hash it chains from.
type indexPoint struct {
	offset int64
	prev   [sha256.Size]byte
}

// file is the part of *os.File the log writes through; tests replace it
// to fail a write or an fsync.
type file interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// Option configures Open.
type Option interface{ apply(*config) }

type config struct {
	mp      metric.MeterProvider
	clock   clock.Clock
	release string
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithMeterProvider sets where the log's metrics go. Default:
// otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.mp = mp })
}

// WithClock sets the clock that stamps records appended with a zero Time.
// Default: the wall clock.
func WithClock(c clock.Clock) Option { return optionFunc(func(cf *config) { cf.clock = c }) }

// WithRelease sets the release id (release.Info.ID) stamped on records
// appended with an empty Release. Default: none (they stay empty).
func WithRelease(id string) Option { return optionFunc(func(c *config) { c.release = id }) }

// Open opens the log at path, creating it (mode 0600, parent directories
// 0700) if needed, and verifies every record in it with key (at least 16
// bytes; keep it somewhere other than the log, see LoadKey).
//
// Open reads and verifies the whole log (linear in its size), and takes
// an exclusive lock on it (on Unix): one writer per log, or the chain
// would fork. A last line cut short by a crash (no newline: its Append
// never returned) is removed. Any other record that does not verify makes Open fail with
// a *ChainError: the log is not appended to until someone has looked at
// it (move the file aside to start a new chain).
func Open(path string, key []byte, opts ...Option) (*Log, error) {
	var cfg config
	for _, o := range opts {
		o.apply(&cfg)
	}
	if len(key) < minKeySize {
		return nil, fmt.Errorf("audit: key is %d bytes, want at least %d", len(key), minKeySize)
	}
	if path == "" {
		return nil, errors.New("audit: path is empty")
	}
	if cfg.mp == nil {
		cfg.mp = otel.GetMeterProvider()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := lockFile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	l := &Log{path: path, key: append([]byte(nil), key...), clock: timer.Or(cfg.clock), release: cfg.release, f: f}
	if err := l.load(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	if l.m, err = newLogMetrics(cfg.mp, l); err != nil {
		_ = f.Close()
		return nil, err
	}
	return l, nil
}

// load verifies the file from the start, builds the index and leaves the
// write offset at the end of the last good record.
func (l *Log) load(f *os.File) error {
	rd := NewReader(f, l.key)
	for {
		if l.seq%indexEvery == 0 {
			l.index = append(l.index, indexPoint{offset: l.size, prev: l.head})
		}
		e, err := rd.Next()
		if err == io.EOF {
			break
		}
		var ce *ChainError
		if errors.As(err, &ce) && ce.torn {
			if err := f.Truncate(l.size); err != nil {
				return fmt.Errorf("audit: removing a torn last record: %w", err)
			}
			if err := f.Sync(); err != nil {
				return fmt.Errorf("audit: removing a torn last record: %w", err)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("audit: %s: %w", l.path, err)
		}
		l.seq = e.Seq
		l.size = rd.offset
		if _, err := hex.Decode(l.head[:], []byte(e.Hash)); err != nil {
			return fmt.Errorf("audit: %s: %w", l.path, err) // cannot happen: Next checked it
		}
	}
	if l.seq%indexEvery == 0 { // the point for the next record is appended by Append
		l.index = l.index[:len(l.index)-1]
	}
	return nil // O_APPEND: writes go to the end, also after a Truncate
}

// Append seals rec as the next record, writes it and fsyncs the file. A
// zero rec.Time is stamped with the log's clock. Records larger than
// MaxRecordSize once encoded are refused, naming the size.
func (l *Log) Append(ctx context.Context, rec Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.Time.IsZero() {
		rec.Time = l.clock.Now()
	}
	rec.Time = rec.Time.UTC()
	if rec.Release == "" {
		rec.Release = l.release
	}
	l.mu.Lock()
	err := l.appendLocked(rec)
	l.mu.Unlock()
	l.m.count(err)
	return err
}

// appendLocked requires mu held.
func (l *Log) appendLocked(rec Record) error {
	switch {
	case l.closed:
		return ErrClosed
	case l.broken != nil:
		return l.broken
	}
	line, sum, err := seal(l.key, l.head, l.seq+1, rec)
	if err != nil {
		return err
	}
	if len(line) > MaxRecordSize {
		return fmt.Errorf("audit: record is %d bytes encoded, more than %d (shorten Detail or Target)", len(line), MaxRecordSize)
	}
	if n, err := l.f.Write(line); err != nil {
		if n > 0 {
			if terr := l.f.Truncate(l.size); terr != nil {
				l.broken = fmt.Errorf("audit: log unusable after a failed write (%v) could not be undone: %w", err, terr)
			}
		}
		return fmt.Errorf("audit: writing record %d: %w", l.seq+1, err)
	}
	if err := l.f.Sync(); err != nil {
		// Whether the line reached the disk is unknown: stop here. Open
		// verifies the file again and carries on from what is there.
		l.broken = fmt.Errorf("audit: log unusable after a failed fsync, reopen it: %w", err)
		return fmt.Errorf("audit: syncing record %d: %w", l.seq+1, err)
	}
	if l.seq%indexEvery == 0 {
		l.index = append(l.index, indexPoint{offset: l.size, prev: l.head})
	}
	l.seq++
	l.size += int64(len(line))
	l.head = sum
	return nil
}

// Head returns the sequence number and hash of the last record (0 and ""
// for an empty log). The chain cannot show that records were cut from its
// end; keeping the latest Head somewhere the log's host cannot rewrite
// (another machine, a ticket, a metric backend) can.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seq == 0 {
		return 0, ""
	}
	return l.seq, hex.EncodeToString(l.head[:])
}

// Close closes the file. Append then returns ErrClosed. Close owns no
// goroutines and waits on nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return errors.Join(l.f.Close(), l.m.close())
}

// LoadKey reads the hex key stored at path, or creates one (32 random
// bytes, the file 0600 and its directory 0700) when there is none. The
// chain detects tampering only by someone without the key: keep the key
// file readable by the service alone, and better on other storage than the
// log (a mounted secret).
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand panics instead)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if err := atomicfile.Write(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("audit: writing key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("audit: key file %s is not hex: %w", path, err)
	}
	if len(key) < minKeySize {
		return nil, fmt.Errorf("audit: key file %s holds %d bytes, want at least %d", path, len(key), minKeySize)
	}
	return key, nil
}
