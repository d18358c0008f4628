package slo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/opskit/opskit/internal/atomicfile"
)

// snapshotVersion is the format SaveSnapshot writes. Version 1 (10-second
// buckets for an hour, minute buckets for a day) is still read: its minute
// buckets restore into the 10-second ring at the minute's first bucket.
const snapshotVersion = 2

// snapshot is the saved event history: per series, the non-empty buckets
// of each tier as [index, total, bad] (index = unix time / bucket width).
type snapshot struct {
	Version int       `json:"version"`
	Saved   time.Time `json:"saved"`
	// Instance is the replica that published it to a fleet store
	// (WithStore); empty in a snapshot file.
	Instance string           `json:"instance,omitempty"`
	Series   []snapshotSeries `json:"series"`
}

type snapshotSeries struct {
	Name   string     `json:"name"`
	First  int64      `json:"first,omitempty"` // unix nanos the history starts at
	Fine   [][3]int64 `json:"fine"`
	Minute [][3]int64 `json:"minute,omitempty"`
	Hour   [][3]int64 `json:"hour"`
	// Units is a Pending's journal, published to a fleet store only.
	Units *unitsState `json:"units,omitempty"`
	// Releases are the events per release (ForRelease), restored by
	// Verdict's side and merged across replicas.
	Releases []releaseState `json:"releases,omitempty"`
}

// maxBucket bounds one saved bucket so that sums over a period cannot
// overflow: 2^40 events in one bucket is far beyond any real traffic.
const maxBucket = 1 << 40

// ErrSnapshot matches every error about a snapshot file's contents.
var ErrSnapshot = errors.New("slo: bad snapshot")

// decodeSnapshot reads and checks a snapshot; it never panics.
func decodeSnapshot(r io.Reader) (*snapshot, error) {
	var s snapshot
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSnapshot, err)
	}
	if s.Version != 1 && s.Version != snapshotVersion {
		return nil, fmt.Errorf("%w: version %d, want 1 or %d", ErrSnapshot, s.Version, snapshotVersion)
	}
	names := map[string]bool{}
	for i, ser := range s.Series {
		if ser.Name == "" || names[ser.Name] {
			return nil, fmt.Errorf("%w: series %d: empty or duplicate name %q", ErrSnapshot, i, ser.Name)
		}
		names[ser.Name] = true
		if ser.First < 0 {
			return nil, fmt.Errorf("%w: series %q: first %d is negative", ErrSnapshot, ser.Name, ser.First)
		}
		if ser.Units != nil {
			if err := ser.Units.validate(ser.Name); err != nil {
				return nil, err
			}
		}
		for _, tier := range [][][3]int64{ser.Fine, ser.Minute, ser.Hour} {
			for _, b := range tier {
				if b[0] <= 0 || b[1] < 0 || b[2] < 0 || b[2] > b[1] || b[1] > maxBucket {
					return nil, fmt.Errorf("%w: series %q: bad bucket %v", ErrSnapshot, ser.Name, b)
				}
			}
		}
	}
	return &s, nil
}

// snapshotOf copies the history of in. It folds first, so the fine buckets
// it saves are already in the coarse ones.
func snapshotOf(in *indicator, now time.Time) snapshotSeries {
	ss := snapshotSeries{Name: in.name, Releases: in.rel.states()}
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.foldAllLocked(now.UnixNano())
	ss.First = s.first
	for i := range s.fine {
		sl := &s.fine[i]
		if t := sl.foldedTotal; t > 0 {
			ss.Fine = append(ss.Fine, [3]int64{sl.epoch.Load(), t, sl.foldedBad})
		}
	}
	for _, sl := range s.minute {
		if sl.total > 0 {
			ss.Minute = append(ss.Minute, [3]int64{sl.epoch, sl.total, sl.bad})
		}
	}
	for _, sl := range s.hour {
		if sl.total > 0 {
			ss.Hour = append(ss.Hour, [3]int64{sl.epoch, sl.total, sl.bad})
		}
	}
	return ss
}

// apply restores the saved buckets of in's series, skipping any from the
// future or older than the tier keeps. It must run before in records.
func (snap *snapshot) apply(in *indicator, now time.Time) {
	for _, ss := range snap.Series {
		if ss.Name == in.name {
			restoreSeries(in.s, ss, snap.Version, now)
			in.rel.restore(ss.Releases, now)
		}
	}
}

// restoreSeries puts the saved buckets ss (of a snapshot of the given
// version) into s, skipping any from the future or older than the tier
// keeps. It must run before s records.
func restoreSeries(s *series, ss snapshotSeries, version int, now time.Time) {
	s.mu.Lock()
	ns := now.UnixNano()
	last := ns / int64(fineWidth)
	fine := ss.Fine
	if version == 1 {
		// Version 1 kept 10-second buckets for an hour and minute
		// buckets for a day; a minute lands in its first 10 seconds.
		fine = nil
		for _, b := range ss.Minute {
			if idx := b[0] * int64(time.Minute/fineWidth); idx <= last-int64(time.Hour/fineWidth) {
				fine = append(fine, [3]int64{idx, b[1], b[2]})
			}
		}
		fine = append(fine, ss.Fine...)
	}
	for _, b := range fine {
		if b[0] > last || b[0] <= last-fineSlots {
			continue
		}
		sl := &s.fine[b[0]%fineSlots]
		if sl.epoch.Load() == b[0] {
			continue
		}
		sl.epoch.Store(b[0])
		sl.total.Store(b[1])
		sl.bad.Store(b[2])
		sl.foldedTotal, sl.foldedBad = b[1], b[2] // already in the hour tier below
	}
	restoreCoarse(s.minute, ss.Minute, ns/int64(minuteWidth))
	restoreCoarse(s.hour, ss.Hour, ns/int64(hourWidth))
	first := ss.First
	if first == 0 {
		for _, b := range ss.Hour {
			if t := b[0] * int64(hourWidth); first == 0 || t < first {
				first = t
			}
		}
	}
	if first > 0 && first < s.first {
		s.first = first
	}
	s.mu.Unlock()
}

func restoreCoarse(ring []coarseSlot, saved [][3]int64, last int64) {
	n := int64(len(ring))
	for _, b := range saved {
		if b[0] > last || b[0] <= last-n {
			continue
		}
		ring[b[0]%n] = coarseSlot{epoch: b[0], total: b[1], bad: b[2]}
	}
}

// loadSnapshot reads the snapshot file. A missing file is a fresh start; a
// damaged one is logged and moved aside to path+".corrupt" so that the
// service still starts (with an empty history) and the file can be studied.
func (m *Monitor) loadSnapshot(path string) *snapshot {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		m.log.Error("slo: snapshot not restored", "path", path, "err", err)
		return nil
	}
	defer f.Close()
	snap, err := decodeSnapshot(f)
	if err != nil {
		m.log.Error("slo: snapshot damaged, starting with an empty history", "path", path, "err", err)
		if err := os.Rename(path, path+".corrupt"); err != nil {
			m.log.Error("slo: moving damaged snapshot aside", "err", err)
		}
		return nil
	}
	return snap
}

// SaveSnapshot writes every objective's event history to the snapshot file
// of WithSnapshotFile, atomically (0600, creating its directory 0700),
// after counting the Pending units whose bound has passed. The Monitor
// saves on its own every interval and on Shutdown.
func (m *Monitor) SaveSnapshot() error {
	if m.cfg.snapshotPath == "" {
		return errors.New("slo: no snapshot file configured (WithSnapshotFile)")
	}
	now := m.clock.Now()
	for _, p := range m.pendings() {
		p.expire(now)
	}
	if err := os.MkdirAll(filepath.Dir(m.cfg.snapshotPath), 0o700); err != nil {
		return fmt.Errorf("slo: snapshot directory: %w", err)
	}
	snap := m.collect(now)
	err := atomicfile.WriteFunc(m.cfg.snapshotPath, 0o600, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(snap)
	})
	if err != nil {
		return fmt.Errorf("slo: snapshot: %w", err)
	}
	return nil
}

// collect copies every objective's event history at now.
func (m *Monitor) collect(now time.Time) snapshot {
	snap := snapshot{Version: snapshotVersion, Saved: now.UTC()}
	for _, in := range m.indicators() {
		ss := snapshotOf(in, now)
		if j := in.units.Load(); j != nil {
			var others []*unitsState
			if v := in.fleet.Load(); v != nil {
				others = v.units
			}
			ss.Units = j.state(now.UnixNano(), others)
		}
		snap.Series = append(snap.Series, ss)
	}
	return snap
}

// units returns the saved journal of series name; nil-safe.
func (snap *snapshot) units(name string) *unitsState {
	if snap == nil {
		return nil
	}
	for _, ss := range snap.Series {
		if ss.Name == name {
			return ss.Units
		}
	}
	return nil
}
