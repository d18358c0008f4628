package report_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/report"
	"github.com/opskit/opskit/slo"
)

// TestFleetReport: two replicas share a fleet store (the in-process
// Memory). Each runs a Writer that writes only while its monitor leads:
// one report is written, by the leader, and it holds the fleet's one
// incident, both replicas' audit records and both replicas' events.
func TestFleetReport(t *testing.T) {
	fc := clock.NewFake(monday)
	store := fleet.NewMemory(fc)
	type replica struct {
		name string
		mon  *slo.Monitor
		tr   *slo.Tracker
		sink audit.Sink
		dir  string
		w    *report.Writer
	}
	var rs []*replica
	var events, bad int64
	for _, name := range []string{"r1", "r2"} {
		m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quiet),
			slo.WithMeterProvider(noop.NewMeterProvider()), slo.WithStore(store), slo.WithInstance(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Shutdown(context.Background()) })
		tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.99, Period: 30 * 24 * time.Hour,
			Tiers: []slo.Tier{{Name: "page-1h", Severity: slo.Page, Long: time.Hour, Short: 5 * time.Minute, BurnRate: 14.4}}})
		sink, err := audit.FleetSink(store, name, key)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, &replica{name: name, mon: m, tr: tr, sink: sink, dir: filepath.Join(t.TempDir(), name)})
	}
	for _, r := range rs {
		w, err := report.New(r.dir, report.Sources{Objectives: r.mon, Incidents: report.IncidentFleet(store),
			Audit: report.AuditFleet(store, key)}, report.WithClock(fc), report.WithLogger(quiet), report.WithLeader(r.mon.Leader))
		if err != nil {
			t.Fatal(err)
		}
		r.w = w
		t.Cleanup(func() { w.Shutdown(context.Background()) })
	}
	round := func(d time.Duration, total, b int64) {
		for _, r := range rs {
			r.tr.RecordN(total, b)
			events, bad = events+total, bad+b
		}
		fc.Advance(d)
		for _, r := range rs {
			r.mon.Evaluate()
		}
	}
	tue := monday.AddDate(0, 0, 1)
	for fc.Now().Before(tue.Add(14 * time.Hour)) {
		round(30*time.Minute, 300, 0)
	}
	for fc.Now().Before(tue.Add(16 * time.Hour)) { // an hour's outage, then an hour's recovery
		b := int64(0)
		if fc.Now().Before(tue.Add(15 * time.Hour)) {
			b = 5
		}
		round(time.Minute, 10, b)
	}
	for i, r := range rs {
		for range i + 1 {
			if err := r.sink.Append(context.Background(), audit.Record{Actor: "ann", Action: "queue.requeue", Target: r.name, Result: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for fc.Now().Before(monday.AddDate(0, 0, 7)) {
		round(30*time.Minute, 300, 0)
	}
	for range 12 { // two minutes of evaluations without events: the replicas publish, the leader writes
		round(10*time.Second, 0, 0)
	}

	var written []string
	for _, r := range rs {
		if _, err := os.Stat(filepath.Join(r.dir, "2026-W49.json")); err == nil {
			written = append(written, r.name)
		}
	}
	if len(written) != 1 {
		t.Fatalf("the week was written by %v, want by the leader alone", written)
	}
	var leader *replica
	for _, r := range rs {
		if r.name == written[0] {
			leader = r
		}
	}
	rep := readReport(t, filepath.Join(leader.dir, "2026-W49.json"))
	recs, err := store.Records(context.Background(), slo.FleetIncidentKind, 0, fleet.MaxRecords)
	if err != nil || len(recs) == 0 {
		t.Fatalf("fleet incident records: %d, %v", len(recs), err)
	}
	if rep.Incidents.Status != report.OK || rep.Incidents.Opened != 1 || rep.Incidents.Resolved != 1 || rep.Noise.Pages != 1 {
		t.Errorf("fleet incidents: %+v, pages %d", rep.Incidents, rep.Noise.Pages)
	}
	if rep.Maintenance.Status != report.OK || rep.Maintenance.Actions != 3 {
		t.Errorf("fleet audit trail: %+v", rep.Maintenance)
	}
	o := rep.Compliance.Objectives[0]
	if o.Week.Events != events || o.Week.Bad != bad {
		t.Errorf("fleet compliance: %d events %d bad, want the fleet's %d and %d", o.Week.Events, o.Week.Bad, events, bad)
	}
}

// TestFleetSourcesReportDamage: a malformed incident record in the store
// fails the incidents section, naming it, while the other records still
// count.
func TestFleetSourcesReportDamage(t *testing.T) {
	fc := clock.NewFake(monday.Add(2 * time.Hour))
	store := fleet.NewMemory(fc)
	ctx := context.Background()
	good := `{"v":2,"change":"opened","at":"2026-11-30T01:00:00Z","incident":{"id":"orders/1","objective":"orders","severity":"page","started":"2026-11-30T01:00:00Z","pages":1,"tickets":0}}`
	for _, rec := range []string{good, `{"v":2,"change":"opened"`} {
		if _, err := store.Append(ctx, slo.FleetIncidentKind, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := report.Build(ctx, report.Sources{Incidents: report.IncidentFleet(store)}, report.WeekOf(monday), nil, fc.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Incidents.Status != report.Failed || !strings.Contains(r.Incidents.Note, "line 2") || r.Incidents.Opened != 1 || r.Noise.Pages != 1 {
		t.Errorf("incidents: %+v, noise %+v", r.Incidents, r.Noise)
	}
}
