package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/opskit/opskit/fleet"
)

// FleetKind is the fleet.Store log that FleetSink writes and ReadFleet
// reads.
const FleetKind = "audit"

// FleetEntry is a record of the fleet trail: its place in the trail and
// the replica that wrote it.
type FleetEntry struct {
	Seq      uint64 `json:"seq"`      // the store's sequence number: 1, 2, 3 … fleet-wide
	Instance string `json:"instance"` // the replica that appended it (FleetSink's instance)
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
// 1, 2, 3 … in seq order (within the page it reads; ReadFleetRange checks
// runs across the whole trail).
// So a record changed in the database, a record removed from the middle,
// or a run's records reordered are reported by ReadFleet as ErrTampered.
// Not detected: records cut from the end of the trail, and a removal
// hidden by renumbering every later record's seq (the seq is not
// sealed). There is no chain from one replica's records to another's:
// replicas append concurrently, and a chain across them would need every
// append to read the last record first. For a tamper-evident copy, also
// keep each replica's file Log.
//
// FleetHandler serves the trail as the /audit view serves a file Log;
// ReadFleetRange gives a report the records of a period.
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
// 1 when after is 0). A page is read with one store call; the /audit view
// reads the trail page by page, passing the last Seq as after. At the
// first record that does not check out, it returns the records before it
// and an error matching ErrTampered that names its seq.
func ReadFleet(ctx context.Context, store fleet.Store, key []byte, after uint64, limit int) ([]FleetEntry, error) {
	if store == nil {
		return nil, fmt.Errorf("audit: ReadFleet needs a store")
	}
	page, err := readFleet(ctx, store, key, after, limit, after == 0, map[string]uint64{}, nil)
	return page.kept, err
}

// maxFleetRange bounds how many records ReadFleetRange returns.
const maxFleetRange = 100 * fleet.MaxRecords

// ReadFleetRange returns the records of the fleet trail whose Time is in
// [from, to), for a report of a period. It reads the whole trail from its
// first record, one store call per fleet.MaxRecords records, and checks
// it as ReadFleet does, with each run's numbering checked across pages
// too; so its cost grows with the trail, fine for audit records written
// at human rates (a year of a busy team's actions is a few thousand). At
// most 100 000 records come back; past that, or at a record that
// does not check out, it returns what it has and an error.
func ReadFleetRange(ctx context.Context, store fleet.Store, key []byte, from, to time.Time) ([]FleetEntry, error) {
	if store == nil {
		return nil, fmt.Errorf("audit: ReadFleetRange needs a store")
	}
	var out []FleetEntry
	keep := func(e FleetEntry) bool { return !e.Time.Before(from) && e.Time.Before(to) }
	last := map[string]uint64{}
	var after uint64
	for {
		page, err := readFleet(ctx, store, key, after, fleet.MaxRecords, true, last, keep)
		out = append(out, page.kept...)
		if err != nil {
			return out, err
		}
		if len(out) > maxFleetRange {
			return out[:maxFleetRange], fmt.Errorf("audit: more than %d records between %v and %v", maxFleetRange, from, to)
		}
		if page.read == 0 {
			return out, nil
		}
		after = page.last
	}
}

// fleetPage is what readFleet read: the records kept, how many it read and
// the last seq.
type fleetPage struct {
	kept []FleetEntry
	read int
	last uint64
}

// readFleet reads and checks one page after after. last holds each run's
// last number, carried from page to page by a caller reading the trail
// from its start (fromStart: a run first seen must begin at 1). keep
// (nil: all) selects the records returned.
func readFleet(ctx context.Context, store fleet.Store, key []byte, after uint64, limit int,
	fromStart bool, last map[string]uint64, keep func(FleetEntry) bool) (fleetPage, error) {
	page := fleetPage{last: after}
	recs, err := store.Records(ctx, FleetKind, after, limit)
	if err != nil {
		return page, fmt.Errorf("audit: reading the fleet trail: %w", err)
	}
	page.kept = make([]FleetEntry, 0, len(recs))
	for _, r := range recs {
		bad := func(format string, args ...any) (fleetPage, error) {
			return page, fmt.Errorf("%w: fleet record %d: %s", ErrTampered, r.Seq, fmt.Sprintf(format, args...))
		}
		if r.Seq != page.last+1 {
			return bad("follows record %d: records %d to %d are missing", page.last, page.last+1, r.Seq-1)
		}
		st, err := openFleet(key, r.Data)
		if err != nil {
			return bad("%v", err)
		}
		n, seen := last[st.Run]
		switch {
		case seen && st.N != n+1:
			return bad("is number %d of %s's run %s, after number %d", st.N, st.Instance, st.Run, n)
		case !seen && fromStart && st.N != 1:
			return bad("is number %d of %s's run %s, whose earlier records are missing", st.N, st.Instance, st.Run)
		}
		last[st.Run] = st.N
		page.last = r.Seq
		page.read++
		if st.Time.IsZero() {
			st.Time = r.At.UTC()
		}
		e := FleetEntry{Seq: r.Seq, Instance: st.Instance, Record: st.Record}
		if keep == nil || keep(e) {
			page.kept = append(page.kept, e)
		}
	}
	return page, nil
}

// fleetPageJSON is the JSON answer of FleetHandler, shaped like the file
// Log's /audit view (the head has no hash: the trail has no chain).
type fleetPageJSON struct {
	Head    head         `json:"head"`
	Records []FleetEntry `json:"records"`
	Older   string       `json:"older,omitempty"`
	Newer   string       `json:"newer,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// FleetHandler serves the fleet trail as JSON to readers the guard allows
// for ReadAction, with the file Log's query and answer (see Log.Handler):
// ?limit=N (default 50, at most 500) and ?before=SEQ or ?after=SEQ,
// the newest page by default; records oldest first, each checked as
// ReadFleet checks them, a record that does not check out ending the page
// with a 500 and an "error" naming it. Every replica serves the same
// trail. A page is one store read, plus, for the newest page (and the
// head), about 2·log2(records) one-row reads to find the last record.
func FleetHandler(store fleet.Store, key []byte, g *Guard) http.Handler {
	return viewHandler(g, func(ctx context.Context, q pageQuery) (any, error) {
		p, err := fleetView(ctx, store, key, q)
		if errors.Is(err, ErrTampered) {
			p.Error = err.Error()
		}
		return p, err
	})
}

// fleetView reads the page q asks for. The trail is numbered without
// gaps, so a page before SEQ is the page after SEQ-1-limit.
func fleetView(ctx context.Context, store fleet.Store, key []byte, q pageQuery) (fleetPageJSON, error) {
	p := fleetPageJSON{Records: []FleetEntry{}}
	last, err := lastFleetSeq(ctx, store)
	if err != nil {
		return p, err
	}
	p.Head.Seq = last
	after, n := min(q.after, last), q.limit
	if !q.hasAfter {
		before := q.before
		if before == 0 || before > last+1 {
			before = last + 1
		}
		n = int(min(before-1, uint64(q.limit)))
		after = before - 1 - uint64(n)
	}
	if n == 0 {
		return p, nil
	}
	page, err := readFleet(ctx, store, key, after, n, after == 0, map[string]uint64{}, nil)
	p.Records = append(p.Records, page.kept...)
	if after > 0 {
		p.Older = fmt.Sprintf("before=%d&limit=%d", after+1, q.limit)
	}
	if err == nil && page.last < last {
		p.Newer = fmt.Sprintf("after=%d&limit=%d", page.last, q.limit)
	}
	return p, err
}

// lastFleetSeq finds the trail's last seq with one-row reads: doubling
// until a seq is past the end, then halving the gap (the trail has
// records 1 to last, without gaps).
func lastFleetSeq(ctx context.Context, store fleet.Store) (uint64, error) {
	exists := func(seq uint64) (bool, error) {
		rs, err := store.Records(ctx, FleetKind, seq-1, 1)
		if err != nil {
			return false, fmt.Errorf("audit: reading the fleet trail: %w", err)
		}
		return len(rs) > 0, nil
	}
	var lo uint64 // exists(lo), or lo == 0
	hi := uint64(1)
	for {
		ok, err := exists(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 { // exists(lo), !exists(hi)
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}
