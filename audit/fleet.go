package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/opskit/opskit/fleet"
)

// FleetKind is the fleet.Store log that FleetSink writes and ReadFleet
// reads.
const FleetKind = "audit"

// FleetEntry is a record of the fleet trail: its place in the trail and
// the replica that wrote it.
type FleetEntry struct {
	Seq      uint64 // the store's sequence number: 1, 2, 3 … fleet-wide
	Instance string // the replica that appended it (FleetSink's instance)
	Record
}

// fleetStored is a trail record as stored: the record, who wrote it, and
// its place in the writer's run (one FleetSink, from creation to the end
// of the process), sealed by an HMAC under the trail's key.
type fleetStored struct {
	Instance string `json:"instance"`
	Run      string `json:"run"` // random, per FleetSink (new after a failed Append)
	N        uint64 `json:"n"`   // 1, 2, 3 … within the run
	Record
}

// fleetSink is FleetSink's Sink.
type fleetSink struct {
	store    fleet.Store
	instance string
	key      []byte
	run      string

	mu sync.Mutex // serialises appends, so a run's N follow the store's seq
	n  uint64     // of the last record appended
}

// FleetSink returns a Sink that appends records to store's "audit" log
// (FleetKind), so every replica of a service writes into one trail.
// instance names the replica (it is kept with each record); key (at least
// 16 bytes, the same on every replica, e.g. LoadKey on a mounted secret)
// seals each record with an HMAC-SHA256. Append returns once the store
// has the record. A zero Record.Time is left zero and read back as the
// store's time of the append.
//
// What the trail promises, and what the file Log's hash chain promises
// that it does not: the store numbers the trail 1, 2, 3 … without gaps in
// the order records became visible (for PostgreSQL, commit order), and
// ReadFleet checks that numbering, each record's seal, and that each
// run's records (one FleetSink's, until an Append fails) are numbered
// 1, 2, 3 … in seq order.
// So a record changed in the database, a record removed from the middle,
// or a run's records reordered are reported by ReadFleet as ErrTampered.
// Not detected: records cut from the end of the trail, and a removal
// hidden by renumbering every later record's seq (the seq is not
// sealed). There is no chain from one replica's records to another's:
// replicas append concurrently, and a chain across them would need every
// append to read the last record first. For a tamper-evident copy, also
// keep each replica's file Log.
//
// Appends from one FleetSink run one at a time (the store serialises
// appends to one log anyway).
func FleetSink(store fleet.Store, instance string, key []byte) (Sink, error) {
	if store == nil {
		return nil, fmt.Errorf("audit: FleetSink needs a store")
	}
	if err := fleet.Check("instance", instance); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if len(key) < minKeySize {
		return nil, fmt.Errorf("audit: key is %d bytes, want at least %d", len(key), minKeySize)
	}
	return &fleetSink{store: store, instance: instance, key: bytes.Clone(key), run: newRun()}, nil
}

// Append implements Sink.
func (s *fleetSink) Append(ctx context.Context, rec Record) error {
	if !rec.Time.IsZero() {
		rec.Time = rec.Time.UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := sealFleet(s.key, fleetStored{Instance: s.instance, Run: s.run, N: s.n + 1, Record: rec})
	if err != nil {
		return err
	}
	if len(data) > MaxRecordSize {
		return fmt.Errorf("audit: record is %d bytes encoded, more than %d (shorten Detail or Target)", len(data), MaxRecordSize)
	}
	if _, err := s.store.Append(ctx, FleetKind, data); err != nil {
		// The record may be stored or not (a timeout after the commit):
		// whichever number came next would be a false gap or a repeat, so
		// the next record starts a new run.
		s.run, s.n = newRun(), 0
		return fmt.Errorf("audit: fleet trail: %w", err)
	}
	s.n++
	return nil
}

// newRun returns a random run id.
func newRun() string {
	var run [8]byte
	rand.Read(run[:])
	return hex.EncodeToString(run[:])
}

// sealFleet encodes st and appends its seal, like a file Log's line (a
// "hash" field last) but sealing the record alone.
func sealFleet(key []byte, st fleetStored) ([]byte, error) {
	body, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("audit: encoding record: %w", err)
	}
	sum := chainHash(key, [sha256.Size]byte{}, body)
	out := make([]byte, 0, len(body)+tailLen)
	out = append(out, body[:len(body)-1]...)
	out = append(out, hashField...)
	out = hex.AppendEncode(out, sum[:])
	return append(out, `"}`...), nil
}

// openFleet checks data's seal under key and decodes it; the error says
// why it cannot be trusted.
func openFleet(key, data []byte) (fleetStored, error) {
	var st fleetStored
	if len(data) > MaxRecordSize {
		return st, fmt.Errorf("%d bytes, more than %d", len(data), MaxRecordSize)
	}
	if len(data) < tailLen+2 || data[0] != '{' ||
		string(data[len(data)-tailLen:len(data)-tailLen+len(hashField)]) != hashField ||
		string(data[len(data)-2:]) != `"}` {
		return st, fmt.Errorf("not a sealed record")
	}
	var sum [sha256.Size]byte
	if _, err := hex.Decode(sum[:], data[len(data)-hashLen-2:len(data)-2]); err != nil {
		return st, fmt.Errorf("seal is not hex")
	}
	body := append(bytes.Clone(data[:len(data)-tailLen]), '}')
	if want := chainHash(key, [sha256.Size]byte{}, body); !hmac.Equal(want[:], sum[:]) {
		return st, fmt.Errorf("seal does not match (record changed, or another key)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, fmt.Errorf("sealed but undecodable: %v", err)
	}
	if st.Instance == "" || st.Run == "" || st.N == 0 {
		return st, fmt.Errorf("sealed but without instance, run or number")
	}
	return st, nil
}

// ReadFleet returns up to limit records of the fleet trail with Seq >
// after, oldest first (limit ≤ 0 means fleet.MaxRecords), each checked
// under key: the page must continue at after+1 without gaps, every seal
// must match, and each run's numbers must follow on within the page (from
// 1 when after is 0). A page is read with one store call; a report reads
// the trail page by page, passing the last Seq as after. At the first
// record that does not check out, it returns the records before it and an
// error matching ErrTampered that names its seq.
func ReadFleet(ctx context.Context, store fleet.Store, key []byte, after uint64, limit int) ([]FleetEntry, error) {
	if store == nil {
		return nil, fmt.Errorf("audit: ReadFleet needs a store")
	}
	recs, err := store.Records(ctx, FleetKind, after, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: reading the fleet trail: %w", err)
	}
	out := make([]FleetEntry, 0, len(recs))
	last := map[string]uint64{} // run → its last N in this page
	prev := after
	for _, r := range recs {
		bad := func(format string, args ...any) ([]FleetEntry, error) {
			return out, fmt.Errorf("%w: fleet record %d: %s", ErrTampered, r.Seq, fmt.Sprintf(format, args...))
		}
		if r.Seq != prev+1 {
			return bad("follows record %d: records %d to %d are missing", prev, prev+1, r.Seq-1)
		}
		prev = r.Seq
		st, err := openFleet(key, r.Data)
		if err != nil {
			return bad("%v", err)
		}
		n, seen := last[st.Run]
		switch {
		case seen && st.N != n+1:
			return bad("is number %d of %s's run %s, after number %d", st.N, st.Instance, st.Run, n)
		case !seen && after == 0 && st.N != 1:
			return bad("is number %d of %s's run %s, whose earlier records are missing", st.N, st.Instance, st.Run)
		}
		last[st.Run] = st.N
		if st.Time.IsZero() {
			st.Time = r.At.UTC()
		}
		out = append(out, FleetEntry{Seq: r.Seq, Instance: st.Instance, Record: st.Record})
	}
	return out, nil
}
