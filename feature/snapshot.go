package feature

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opskit/opskit/internal/atomicfile"
)

// The snapshot file: a magic string, then uvarint/varint fields, then the
// CRC-32C of everything before it. Bitmaps and filters store only non-zero
// words ("sparse": nwords { index word(8 bytes LE) }).
//
//	"OPSKITF2" saved-unix-seconds instance
//	nfeatures { name owner description since-unix-seconds total first last
//	            ndays { day uses fails lat-ns lat-n first-fail last-fail
//	                    sparse(bits) sparse(fail bits)
//	                    has-filters [ sparse(used filter) sparse(failed filter) ] }
//	            nreasons { text count first last ntraces { trace-id } }
//	            episode-start episode-last
//	            has-switch [ on since-unix-nanos actor why trial(float64 bits, 8 bytes LE)
//	                         trial-ok trial-failed refused ] }
//	ndrift { name uses first last }
//	crc32c(4 bytes LE)
//
// Version 2 ("OPSKITF2", before switches and episodes) and version 1
// ("OPSKITF1", before outcomes: days hold only uses and the tenant bitmap)
// are still read.
const (
	snapMagic     = "OPSKITF3"
	snapMagicV2   = "OPSKITF2"
	snapMagicV1   = "OPSKITF1"
	snapPrefix    = "feature-"
	snapSuffix    = ".snap"
	keyFile       = "feature-tenant.key"
	maxSnapString = 4096
	maxSnapItems  = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (r *Registry) snapshotPath() string {
	return filepath.Join(r.dir, snapPrefix+r.instance+snapSuffix)
}

// Save writes this instance's snapshot now (atomically: readers see the old
// file or the new one), mode 0600, creating the directory (0700) if it has
// gone. It is a no-op without a directory.
func (r *Registry) Save() error {
	if r.dir == "" {
		return nil
	}
	data := r.encodeNow()
	if err := writeFile(r.snapshotPath(), func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
		return fmt.Errorf("feature: save snapshot: %w", err)
	}
	return nil
}

// writeFile atomically replaces path (mode 0600) with what fill writes,
// creating its parent directories (mode 0700).
func writeFile(path string, fill func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFunc(path, 0o600, fill)
}

// WriteSnapshot writes the registry's counts in the snapshot format to w,
// for backups or for shipping to a host that merges instances.
func (r *Registry) WriteSnapshot(w io.Writer) error {
	if _, err := w.Write(r.encodeNow()); err != nil {
		return fmt.Errorf("feature: write snapshot: %w", err)
	}
	return nil
}

// encodeNow captures and encodes the registry's state, sizing the buffer
// from the last snapshot so that it is not regrown on every save.
func (r *Registry) encodeNow() []byte {
	b := appendState(make([]byte, 0, r.snapSize.Load()+r.snapSize.Load()/8), r.capture())
	r.snapSize.Store(int64(len(b)))
	return b
}

func encodeState(st *state) []byte { return appendState(nil, st) }

// appendState appends the encoded snapshot of st to b.
func appendState(b []byte, st *state) []byte {
	start := len(b)
	b = append(b, snapMagic...)
	b = binary.AppendVarint(b, st.Saved.Unix())
	b = appendString(b, st.Instance)
	b = binary.AppendUvarint(b, uint64(len(st.Features)))
	for _, name := range sortedNames(st.Features) {
		f := st.Features[name]
		b = appendString(b, f.Name)
		b = appendString(b, f.Owner)
		b = appendString(b, f.Description)
		b = binary.AppendVarint(b, f.Since.Unix())
		b = binary.AppendUvarint(b, uint64(f.Total))
		b = binary.AppendVarint(b, f.First)
		b = binary.AppendVarint(b, f.Last)
		b = binary.AppendUvarint(b, uint64(len(f.Days)))
		for _, d := range sortedDays(f.Days) {
			ds := f.Days[d]
			b = binary.AppendVarint(b, d)
			for _, v := range []int64{ds.Uses, ds.Fails, ds.LatNs, ds.LatN} {
				b = binary.AppendUvarint(b, uint64(v))
			}
			b = binary.AppendVarint(b, ds.FirstFail)
			b = binary.AppendVarint(b, ds.LastFail)
			b = appendSparse(b, ds.Bits[:])
			b = appendSparse(b, ds.FailBits[:])
			if ds.Look == nil {
				b = append(b, 0)
			} else {
				b = append(b, 1)
				b = appendSparse(b, ds.Look.Used[:])
				b = appendSparse(b, ds.Look.Failed[:])
			}
		}
		b = binary.AppendUvarint(b, uint64(len(f.Reasons)))
		for _, r := range f.Reasons {
			b = appendString(b, r.Text)
			b = binary.AppendUvarint(b, uint64(r.Count))
			b = binary.AppendVarint(b, r.First.Unix())
			b = binary.AppendVarint(b, r.Last.Unix())
			b = binary.AppendUvarint(b, uint64(len(r.TraceIDs)))
			for _, id := range r.TraceIDs {
				b = appendString(b, id)
			}
		}
		b = binary.AppendVarint(b, f.EpStart)
		b = binary.AppendVarint(b, f.EpLast)
		if sw := f.Switch; sw == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			if sw.On {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
			b = binary.AppendVarint(b, sw.Since.UnixNano())
			b = appendString(b, sw.Actor)
			b = appendString(b, sw.Why)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(sw.Trial))
			for _, v := range []int64{sw.TrialOK, sw.TrialFailed, sw.Refused} {
				b = binary.AppendUvarint(b, uint64(v))
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(len(st.Drift)))
	for _, name := range sortedNames(st.Drift) {
		d := st.Drift[name]
		b = appendString(b, d.Name)
		b = binary.AppendUvarint(b, uint64(d.Uses))
		b = binary.AppendVarint(b, d.First)
		b = binary.AppendVarint(b, d.Last)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// appendSparse writes the non-zero words of ws with their indexes.
func appendSparse(b []byte, ws []uint64) []byte {
	n := 0
	for _, w := range ws {
		if w != 0 {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	for i, w := range ws {
		if w != 0 {
			b = binary.AppendUvarint(b, uint64(i))
			b = binary.LittleEndian.AppendUint64(b, w)
		}
	}
	return b
}

// sparse reads what appendSparse wrote into ws.
func (d *decoder) sparse(what string, ws []uint64) {
	nw := d.items(what+" word count", uint64(len(ws)))
	for k := 0; k < nw && d.err == nil; k++ {
		idx := d.items(what+" word index", uint64(len(ws)-1))
		if d.err == nil && len(d.b)-d.off < 8 {
			d.fail(what + " word runs past the end")
		}
		if d.err == nil {
			ws[idx] = binary.LittleEndian.Uint64(d.b[d.off:])
			d.off += 8
		}
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// CorruptError says where a snapshot stopped making sense. It matches
// ErrCorrupt with errors.Is.
type CorruptError struct {
	Path   string // empty when decoding bytes
	Offset int
	Reason string
}

func (e *CorruptError) Error() string {
	where := "snapshot"
	if e.Path != "" {
		where = e.Path
	}
	return fmt.Sprintf("feature: %s: corrupt at byte %d: %s", where, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// decoder reads fields and remembers the first failure.
type decoder struct {
	b   []byte
	off int
	err *CorruptError
}

func (d *decoder) fail(reason string) {
	if d.err == nil {
		d.err = &CorruptError{Offset: d.off, Reason: reason}
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad " + what)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) count(what string) int64 {
	v := d.uvarint(what)
	if v > math.MaxInt64 {
		d.fail(what + " out of range")
		return 0
	}
	return int64(v)
}

func (d *decoder) items(what string, limit uint64) int {
	v := d.uvarint(what)
	if v > limit {
		d.fail(fmt.Sprintf("%s %d over the limit %d", what, v, limit))
		return 0
	}
	return int(v)
}

func (d *decoder) str(what string) string {
	n := d.items(what+" length", maxSnapString)
	if d.err != nil {
		return ""
	}
	if len(d.b)-d.off < n {
		d.fail(what + " runs past the end")
		return ""
	}
	s := string(d.b[d.off : d.off+n])
	d.off += n
	return s
}

// decodeState parses a snapshot. It never panics, whatever the input.
func decodeState(b []byte) (*state, error) {
	if len(b) < len(snapMagic)+4 {
		return nil, &CorruptError{Reason: "not a feature snapshot (bad magic)"}
	}
	version := 0
	switch string(b[:len(snapMagic)]) {
	case snapMagic:
		version = 3
	case snapMagicV2:
		version = 2
	case snapMagicV1:
		version = 1
	default:
		return nil, &CorruptError{Reason: "not a feature snapshot (bad magic)"}
	}
	v1 := version == 1
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, &CorruptError{Offset: len(body), Reason: "checksum mismatch"}
	}
	d := &decoder{b: body, off: len(snapMagic)}
	st := newState("", time.Unix(d.varint("saved time"), 0).UTC())
	st.Instance = d.str("instance")
	nf := d.items("feature count", maxSnapItems)
	for i := 0; i < nf && d.err == nil; i++ {
		f := &featState{Days: map[int64]*dayState{}}
		f.Name = d.str("feature name")
		f.Owner = d.str("owner")
		f.Description = d.str("description")
		f.Since = time.Unix(d.varint("since"), 0).UTC()
		f.Total = d.count("total")
		f.First = d.varint("first seen")
		f.Last = d.varint("last seen")
		nd := d.items("day count", maxSnapItems)
		for j := 0; j < nd && d.err == nil; j++ {
			day := d.varint("day")
			ds := &dayState{Uses: d.count("uses")}
			if v1 {
				d.sparse("bitmap", ds.Bits[:])
				f.Days[day] = ds
				continue
			}
			ds.Fails = d.count("failures")
			ds.LatNs = d.count("latency sum")
			ds.LatN = d.count("latency count")
			ds.FirstFail = d.varint("first failure")
			ds.LastFail = d.varint("last failure")
			d.sparse("bitmap", ds.Bits[:])
			d.sparse("failure bitmap", ds.FailBits[:])
			switch d.items("filter flag", 1) {
			case 1:
				ds.Look = &lookState{}
				d.sparse("used filter", ds.Look.Used[:])
				d.sparse("failed filter", ds.Look.Failed[:])
			}
			f.Days[day] = ds
		}
		if !v1 {
			nr := d.items("reason count", MaxReasons)
			for j := 0; j < nr && d.err == nil; j++ {
				r := Reason{Text: d.str("reason")}
				r.Count = d.count("reason count")
				r.First = time.Unix(d.varint("reason first"), 0).UTC()
				r.Last = time.Unix(d.varint("reason last"), 0).UTC()
				nt := d.items("trace id count", maxTraces)
				for k := 0; k < nt && d.err == nil; k++ {
					r.TraceIDs = append(r.TraceIDs, d.str("trace id"))
				}
				f.Reasons = append(f.Reasons, r)
			}
		}
		if version >= 3 {
			f.EpStart = d.varint("episode start")
			f.EpLast = d.varint("episode last")
			if d.items("switch flag", 1) == 1 {
				f.Switch = d.switchState()
			}
		}
		st.Features[f.Name] = f
	}
	nd := d.items("drift count", maxSnapItems)
	for i := 0; i < nd && d.err == nil; i++ {
		e := &driftState{Name: d.str("drift name")}
		e.Uses = d.count("drift uses")
		e.First = d.varint("drift first")
		e.Last = d.varint("drift last")
		st.Drift[e.Name] = e
	}
	if d.err == nil && d.off != len(body) {
		d.fail(fmt.Sprintf("%d bytes of trailing data", len(body)-d.off))
	}
	if d.err != nil {
		return nil, d.err
	}
	return st, nil
}

// switchState reads a saved switch.
func (d *decoder) switchState() *SwitchState {
	sw := &SwitchState{On: d.items("switch on", 1) == 1}
	sw.Since = time.Unix(0, d.varint("switch since")).UTC()
	sw.Actor = d.str("switch actor")
	sw.Why = d.str("switch why")
	if d.err == nil && len(d.b)-d.off < 8 {
		d.fail("switch trial runs past the end")
	}
	if d.err != nil {
		return nil
	}
	sw.Trial = math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
	d.off += 8
	if math.IsNaN(sw.Trial) || sw.Trial < 0 || sw.Trial > MaxTrial {
		d.fail(fmt.Sprintf("switch trial %v outside 0 to %v", sw.Trial, MaxTrial))
	}
	sw.TrialOK = d.count("switch trial ok")
	sw.TrialFailed = d.count("switch trial failed")
	sw.Refused = d.count("switch refused")
	return sw
}

func readSnapshotFile(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feature: read snapshot: %w", err)
	}
	st, err := decodeState(b)
	if err != nil {
		var ce *CorruptError
		if errors.As(err, &ce) {
			ce.Path = path
		}
		return nil, err
	}
	return st, nil
}

// fleetState returns this registry's live state merged with every other
// instance's (the fleet store's states, or the snapshots in the
// directory). What cannot be read is skipped and named in the warnings.
func (r *Registry) fleetState() (st *state, instances []string, warnings []string) {
	st = r.capture()
	instances = []string{r.instance}
	others, warnings := r.otherStates()
	for _, o := range others {
		st.merge(o)
		instances = append(instances, o.Instance)
	}
	return st, instances, warnings
}

// dirStates reads the other instances' snapshot files in the directory.
func (r *Registry) dirStates() (states []*state, warnings []string) {
	if r.dir == "" {
		return nil, nil
	}
	paths, _ := filepath.Glob(filepath.Join(r.dir, snapPrefix+"*"+snapSuffix))
	own := r.snapshotPath()
	for _, p := range paths {
		if p == own {
			continue
		}
		o, err := readSnapshotFile(p)
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		o.Instance = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), snapPrefix), snapSuffix)
		states = append(states, o)
	}
	return states, warnings
}

// loadOrCreateKey reads the 16-byte tenant key, creating it on first use.
// Processes starting at once on one directory agree: the key is written
// to a private file first and then linked into place, which fails for all
// but the first; everyone else reads the winner's key.
func loadOrCreateKey(path string) ([2]uint64, error) {
	for range 3 {
		k, err := readKey(path)
		if err != nil {
			return [2]uint64{}, err
		}
		if k != nil {
			return *k, nil
		}
		if err := createKey(path); err != nil && !errors.Is(err, os.ErrExist) {
			return [2]uint64{}, fmt.Errorf("feature: create tenant key: %w", err)
		}
		// read whichever key won
	}
	return [2]uint64{}, fmt.Errorf("feature: tenant key %s: created but not readable", path)
}

// readKey returns the key stored at path, or nil when there is none.
func readKey(path string) (*[2]uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("feature: read tenant key: %w", err)
	}
	if len(b) != 16 {
		return nil, fmt.Errorf("%w: tenant key %s is %d bytes, want 16", ErrInvalid, path, len(b))
	}
	k := keyOf(b)
	return &k, nil
}

// createKey writes a new random key to path unless a key is there already
// (os.ErrExist).
func createKey(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tenant-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(keyBytes(randomKey()))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return err
	}
	return os.Link(tmp.Name(), path) // atomic, and fails when path exists
}

func sortedDays(m map[int64]*dayState) []int64 { return slices.Sorted(maps.Keys(m)) }
