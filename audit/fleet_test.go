package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
)

var fleetKey = []byte("fleet-trail-key-0123456789abcdef")

var fleetEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fleetSink(t *testing.T, store fleet.Store, instance string) audit.Sink {
	t.Helper()
	s, err := audit.FleetSink(store, instance, fleetKey)
	if err != nil {
		t.Fatalf("FleetSink: %v", err)
	}
	return s
}

// readAll reads the whole trail page by page, as a report does.
func readAll(t *testing.T, store fleet.Store, page int) []audit.FleetEntry {
	t.Helper()
	var all []audit.FleetEntry
	var after uint64
	for {
		es, err := audit.ReadFleet(context.Background(), store, fleetKey, after, page)
		if err != nil {
			t.Fatalf("ReadFleet after %d: %v", after, err)
		}
		if len(es) == 0 {
			return all
		}
		all = append(all, es...)
		after = es[len(es)-1].Seq
	}
}

func TestFleetSinkOneTrailForEveryReplica(t *testing.T) {
	store := fleet.NewMemory(clock.NewFake(fleetEpoch))
	const replicas, each = 3, 20
	var wg sync.WaitGroup
	for r := range replicas {
		sink := fleetSink(t, store, fmt.Sprintf("replica-%d", r))
		wg.Go(func() {
			for i := range each {
				rec := audit.Record{Actor: "ann", Action: "queue.requeue", Target: fmt.Sprint(i), Result: "ok"}
				if err := sink.Append(context.Background(), rec); err != nil {
					t.Errorf("Append: %v", err)
				}
			}
		})
	}
	wg.Wait()
	all := readAll(t, store, 7)
	if len(all) != replicas*each {
		t.Fatalf("read %d records, want %d", len(all), replicas*each)
	}
	per := map[string]int{}
	for i, e := range all {
		if e.Seq != uint64(i+1) || e.Actor != "ann" || e.Action != "queue.requeue" || !e.Time.Equal(fleetEpoch) {
			t.Fatalf("entry %d = %+v; want seq %d, the record, and the store's time", i, e, i+1)
		}
		per[e.Instance]++
	}
	for r := range replicas {
		if n := per[fmt.Sprintf("replica-%d", r)]; n != each {
			t.Errorf("replica-%d wrote %d records, want %d", r, n, each)
		}
	}
	// A time set by the caller is kept (in UTC).
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	if err := fleetSink(t, store, "replica-0").Append(context.Background(), audit.Record{Time: at, Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
	es, err := audit.ReadFleet(context.Background(), store, fleetKey, replicas*each, 0)
	if err != nil || len(es) != 1 || !es[0].Time.Equal(at) || es[0].Time.Location() != time.UTC {
		t.Fatalf("ReadFleet = %+v, %v; want bob's record at %v in UTC", es, err, at)
	}
}

// tampered is a store whose Records output is altered by edit, as a
// database row changed behind the service's back would be.
type tampered struct {
	fleet.Store
	edit func([]fleet.Record) []fleet.Record
}

func (s tampered) Records(ctx context.Context, kind string, after uint64, limit int) ([]fleet.Record, error) {
	rs, err := s.Store.Records(ctx, kind, after, limit)
	if err != nil {
		return nil, err
	}
	return s.edit(rs), nil
}

func TestReadFleetReportsTampering(t *testing.T) {
	store := fleet.NewMemory(clock.NewFake(fleetEpoch))
	a, b := fleetSink(t, store, "a"), fleetSink(t, store, "b")
	for i := range 6 {
		sink := a
		if i == 3 {
			sink = b
		}
		if err := sink.Append(context.Background(), audit.Record{Actor: "ann", Target: fmt.Sprint(i), Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	// Records 1..6: a's run is 1,2,3,5,6 → its numbers 1..5; b wrote 4.
	cases := []struct {
		name string
		edit func([]fleet.Record) []fleet.Record
		good int    // records returned before the bad one
		want string // in the error
	}{
		{"changed", func(rs []fleet.Record) []fleet.Record {
			rs[2].Data = bytes.Replace(rs[2].Data, []byte(`"ann"`), []byte(`"eve"`), 1)
			return rs
		}, 2, "fleet record 3: seal does not match"},
		{"removed", func(rs []fleet.Record) []fleet.Record {
			return append(rs[:2], rs[3:]...)
		}, 2, "records 3 to 3 are missing"},
		{"removed and renumbered", func(rs []fleet.Record) []fleet.Record {
			rs = append(rs[:2], rs[3:]...)
			for i := range rs {
				rs[i].Seq = uint64(i + 1)
			}
			return rs
		}, 3, "fleet record 4: is number 4 of a's run"},
		{"reordered", func(rs []fleet.Record) []fleet.Record {
			rs[0].Data, rs[1].Data = rs[1].Data, rs[0].Data
			return rs
		}, 0, "fleet record 1: is number 2 of a's run"},
		{"not sealed", func(rs []fleet.Record) []fleet.Record {
			rs[5].Data = []byte(`{"instance":"a"}`)
			return rs
		}, 5, "fleet record 6: not a sealed record"},
	}
	for _, c := range cases {
		got, err := audit.ReadFleet(context.Background(), tampered{store, c.edit}, fleetKey, 0, 0)
		if !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), c.want) || len(got) != c.good {
			t.Errorf("%s: ReadFleet = %d records, %v; want %d and ErrTampered saying %q", c.name, len(got), err, c.good, c.want)
		}
	}
	if _, err := audit.ReadFleet(context.Background(), store, []byte("another key, just as long......"), 0, 0); !errors.Is(err, audit.ErrTampered) {
		t.Errorf("ReadFleet with another key = %v, want ErrTampered", err)
	}
	// Read from the middle, a run's first record there need not be its 1.
	if got, err := audit.ReadFleet(context.Background(), store, fleetKey, 2, 0); err != nil || len(got) != 4 || got[0].Seq != 3 {
		t.Errorf("ReadFleet after 2 = %d records, %v; want 4 from seq 3", len(got), err)
	}
}

func TestReadFleetRange(t *testing.T) {
	clk := clock.NewFake(fleetEpoch)
	store := fleet.NewMemory(clk)
	a, b := fleetSink(t, store, "a"), fleetSink(t, store, "b")
	ctx := context.Background()
	// 1100 records an hour apart alternating between a and b: more than
	// one store page.
	const n = fleet.MaxRecords + 100
	for i := range n {
		sink := a
		if i%2 == 1 {
			sink = b
		}
		if err := sink.Append(ctx, audit.Record{Actor: "ann", Target: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
	}
	from, to := fleetEpoch.Add(995*time.Hour), fleetEpoch.Add(1005*time.Hour)
	got, err := audit.ReadFleetRange(ctx, store, fleetKey, from, to)
	if err != nil || len(got) != 10 || got[0].Target != "995" || got[9].Target != "1004" || got[0].Seq != 996 {
		t.Fatalf("ReadFleetRange = %d records (first %+v), %v; want the 10 from 995 (seq 996)", len(got), got, err)
	}
	// The first record of the second page (a's 501st) removed and the
	// rest renumbered: ReadFleet's page after 1000 cannot tell (a's run is
	// first seen there), the range read from the start can.
	cut := tampered{store, func(rs []fleet.Record) []fleet.Record {
		if len(rs) == 0 || rs[0].Seq != fleet.MaxRecords+1 {
			return rs
		}
		rs = rs[1:]
		for i := range rs {
			rs[i].Seq--
		}
		return rs
	}}
	if _, err := audit.ReadFleet(ctx, cut, fleetKey, fleet.MaxRecords, 0); err != nil {
		t.Fatalf("ReadFleet of the page after the cut = %v (the page alone verifies)", err)
	}
	got, err = audit.ReadFleetRange(ctx, cut, fleetKey, from, to)
	if !errors.Is(err, audit.ErrTampered) || !strings.Contains(err.Error(), "fleet record 1002: is number 502 of a's run") {
		t.Fatalf("ReadFleetRange over a cut trail = %d records, %v; want ErrTampered at record 1052", len(got), err)
	}
	if _, err := audit.ReadFleetRange(ctx, nil, fleetKey, from, to); err == nil {
		t.Error("ReadFleetRange(nil store) succeeded")
	}
}

// fleetView is the JSON of FleetHandler's answer.
type fleetView struct {
	Head struct {
		Seq uint64 `json:"seq"`
	} `json:"head"`
	Records []audit.FleetEntry `json:"records"`
	Older   string             `json:"older"`
	Newer   string             `json:"newer"`
	Error   string             `json:"error"`
}

func getFleet(t *testing.T, h http.Handler, method, query, token string) (int, fleetView) {
	t.Helper()
	req := httptest.NewRequest(method, "/audit?"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var v fleetView
	if rec.Code == http.StatusOK || rec.Header().Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil && method != http.MethodHead {
			t.Fatalf("%s ?%s: %d %q: %v", method, query, rec.Code, rec.Body.String(), err)
		}
	}
	return rec.Code, v
}

func seqs(es []audit.FleetEntry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func TestFleetHandlerPages(t *testing.T) {
	store := fleet.NewMemory(clock.NewFake(fleetEpoch))
	g := &audit.Guard{Authorize: audit.BearerTokens(audit.Token{Secret: "read-it", Actor: "auditor", Actions: []audit.Action{audit.ReadAction}})}
	h := audit.FleetHandler(store, fleetKey, g)
	a, b := fleetSink(t, store, "a"), fleetSink(t, store, "b")

	// The head is found for every length of the trail (the search for the
	// last record crosses powers of two).
	for n := range 20 {
		code, v := getFleet(t, h, "GET", "", "read-it")
		if code != 200 || v.Head.Seq != uint64(n) || len(v.Records) != min(n, 50) {
			t.Fatalf("trail of %d: %d, head %d, %d records", n, code, v.Head.Seq, len(v.Records))
		}
		sink := a
		if n%3 == 0 {
			sink = b
		}
		if err := sink.Append(context.Background(), audit.Record{Actor: "ann", Target: fmt.Sprint(n)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		query        string
		want         []uint64
		older, newer string
	}{
		{"limit=3", []uint64{18, 19, 20}, "before=18&limit=3", ""},
		{"before=18&limit=3", []uint64{15, 16, 17}, "before=15&limit=3", "after=17&limit=3"},
		{"before=3&limit=5", []uint64{1, 2}, "", "after=2&limit=5"},
		{"after=0&limit=3", []uint64{1, 2, 3}, "", "after=3&limit=3"},
		{"after=19", []uint64{20}, "before=20&limit=50", ""},
		{"after=99", nil, "before=21&limit=50", ""},
		{"before=1", nil, "", ""},
	} {
		code, v := getFleet(t, h, "GET", c.query, "read-it")
		if code != 200 || fmt.Sprint(seqs(v.Records)) != fmt.Sprint(c.want) || v.Older != c.older || v.Newer != c.newer {
			t.Errorf("?%s: %d %v older %q newer %q; want %v older %q newer %q", c.query, code, seqs(v.Records), v.Older, v.Newer, c.want, c.older, c.newer)
		}
	}
	if code, v := getFleet(t, h, "GET", "limit=2", "read-it"); code != 200 || v.Records[1].Instance != "a" || v.Records[1].Target != "19" {
		t.Errorf("newest record = %+v, want a's target 19", v.Records)
	}
	for _, c := range []struct {
		method, query, token string
		code                 int
	}{
		{"GET", "", "", 401},
		{"GET", "", "wrong", 401},
		{"POST", "", "read-it", 405},
		{"GET", "limit=0", "read-it", 400},
		{"GET", "before=1&after=1", "read-it", 400},
		{"HEAD", "", "read-it", 200},
	} {
		if code, _ := getFleet(t, h, c.method, c.query, c.token); code != c.code {
			t.Errorf("%s ?%s with token %q: %d, want %d", c.method, c.query, c.token, code, c.code)
		}
	}
	bad := audit.FleetHandler(tampered{store, func(rs []fleet.Record) []fleet.Record {
		for i := range rs {
			if rs[i].Seq == 19 {
				rs[i].Data = bytes.Replace(rs[i].Data, []byte(`"ann"`), []byte(`"eve"`), 1)
			}
		}
		return rs
	}}, fleetKey, g)
	code, v := getFleet(t, bad, "GET", "limit=5", "read-it")
	if code != 500 || !strings.Contains(v.Error, "fleet record 19: seal does not match") || fmt.Sprint(seqs(v.Records)) != "[16 17 18]" {
		t.Errorf("page over a changed record: %d %v %q; want 500, records 16-18 and the error naming 19", code, seqs(v.Records), v.Error)
	}
}

// flaky is a store whose Append stores the record and then fails, as a
// commit whose answer was lost would.
type flaky struct {
	fleet.Store
	fail bool
}

func (s *flaky) Append(ctx context.Context, kind string, data []byte) (uint64, error) {
	seq, err := s.Store.Append(ctx, kind, data)
	if s.fail {
		return 0, errors.New("connection reset")
	}
	return seq, err
}

func TestFleetSinkAfterAFailedAppend(t *testing.T) {
	store := &flaky{Store: fleet.NewMemory(clock.NewFake(fleetEpoch))}
	sink := fleetSink(t, store, "a")
	ctx := context.Background()
	if err := sink.Append(ctx, audit.Record{Actor: "1"}); err != nil {
		t.Fatal(err)
	}
	store.fail = true
	if err := sink.Append(ctx, audit.Record{Actor: "2"}); err == nil || !strings.HasPrefix(err.Error(), "audit: fleet trail: ") {
		t.Fatalf("Append on a failing store = %v, want an audit: fleet trail error", err)
	}
	store.fail = false
	if err := sink.Append(ctx, audit.Record{Actor: "3"}); err != nil {
		t.Fatal(err)
	}
	// Stored after all, the failed record is in the trail, and the next one
	// (a new run) is no false alarm.
	if all := readAll(t, store, 0); len(all) != 3 || all[2].Actor != "3" {
		t.Fatalf("trail = %+v, want 3 records ending with actor 3", all)
	}
}

func TestFleetSinkBadInput(t *testing.T) {
	store := fleet.NewMemory(nil)
	for _, c := range []struct {
		store    fleet.Store
		instance string
		key      []byte
		want     string
	}{
		{nil, "a", fleetKey, "needs a store"},
		{store, "", fleetKey, "instance is empty"},
		{store, "a\nb", fleetKey, "control character"},
		{store, "a", []byte("short"), "key is 5 bytes"},
	} {
		if _, err := audit.FleetSink(c.store, c.instance, c.key); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "audit: ") {
			t.Errorf("FleetSink(%v, %q, %d-byte key) = %v, want an error saying %q", c.store, c.instance, len(c.key), err, c.want)
		}
	}
	sink := fleetSink(t, store, "a")
	if err := sink.Append(context.Background(), audit.Record{Detail: strings.Repeat("x", audit.MaxRecordSize)}); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("Append of an oversized record = %v, want an error naming the size", err)
	}
	if _, err := audit.ReadFleet(context.Background(), nil, fleetKey, 0, 0); err == nil {
		t.Error("ReadFleet(nil store) succeeded")
	}
}

// FuzzReadFleet stores arbitrary bytes as a trail record: ReadFleet never
// panics, and accepts only what a FleetSink sealed under the key.
func FuzzReadFleet(f *testing.F) {
	seedStore := fleet.NewMemory(clock.NewFake(fleetEpoch))
	sink, _ := audit.FleetSink(seedStore, "a", fleetKey)
	sink.Append(context.Background(), audit.Record{Actor: "ann", Action: "queue.purge", Result: "ok"})
	rs, _ := seedStore.Records(context.Background(), audit.FleetKind, 0, 0)
	f.Add(rs[0].Data)
	f.Add([]byte(`{"instance":"a","run":"x","n":1,"hash":"00"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		store := fleet.NewMemory(clock.NewFake(fleetEpoch))
		if _, err := store.Append(context.Background(), audit.FleetKind, data); err != nil {
			return
		}
		es, err := audit.ReadFleet(context.Background(), store, fleetKey, 0, 0)
		if err != nil {
			if !errors.Is(err, audit.ErrTampered) || len(es) != 0 {
				t.Fatalf("ReadFleet = %d, %v; want nothing and ErrTampered", len(es), err)
			}
			return
		}
		// Only a sealed record passes; the fuzzer cannot forge a seal, so
		// whatever is accepted is the seed's record.
		if len(es) != 1 || es[0].Instance != "a" || es[0].Actor != "ann" || es[0].Action != "queue.purge" {
			t.Fatalf("accepted %q as %+v", data, es)
		}
	})
}

// Every replica appends to one trail in the fleet store; any replica
// reads it back, each record naming the replica that wrote it.
func ExampleFleetSink() {
	store := fleet.NewMemory(clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))) // PostgreSQL in a fleet
	key := []byte("the same secret on every replica")
	ctx := context.Background()
	for _, replica := range []string{"web-0", "web-1"} {
		sink, err := audit.FleetSink(store, replica, key)
		if err != nil {
			panic(err)
		}
		sink.Append(ctx, audit.Record{Actor: "ann", Action: "incident.ack", Target: "inc-7", Result: "ok"})
	}
	trail, err := audit.ReadFleet(ctx, store, key, 0, 100)
	if err != nil {
		panic(err)
	}
	for _, e := range trail {
		fmt.Println(e.Seq, e.Instance, e.Actor, e.Action, e.Target, e.Time.Format(time.TimeOnly))
	}
	// Output:
	// 1 web-0 ann incident.ack inc-7 12:00:00
	// 2 web-1 ann incident.ack inc-7 12:00:00
}
