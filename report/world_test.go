package report_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/report"
	"github.com/opskit/opskit/slo"
)

// monday is the start of ISO week 2026-W49 (UTC).
var monday = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)

var rel = release.Info{Service: "shop", Version: "v1.2.0", ID: "1a2b3c4d5e6f"}

// candidate is the release that takes part of the traffic from Thursday.
const candidate = "2b3c4d5e6f70"

var key = []byte("0123456789abcdef0123456789abcdef")

// world is a service's records on one fake clock: an SLO monitor with an
// incident log, an audit log, a queue and a feature registry — the real
// types — plus the truth the script put into them.
type world struct {
	t     testing.TB
	dir   string
	fc    *clock.Fake
	mon   *slo.Monitor
	track *slo.Tracker
	cand  *slo.Tracker // the candidate release, from Thursday
	log   *audit.Log
	q     *queue.Queue
	reg   *feature.Registry
	// atWeekEnd, if set, runs at the week's end (the next Monday 00:00),
	// before a Writer writes the week.
	atWeekEnd func()
	used      *feature.Feature

	// truth
	events, bad         int64
	candEvents, candBad int64 // the candidate's share
	enqueued            int64
	acked               int64
	dead                int64
	ackAt               time.Time
}

func newWorld(t testing.TB, dir string, fc *clock.Fake) *world {
	t.Helper()
	w := &world{t: t, dir: dir, fc: fc}
	var err error
	w.mon, err = slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quiet),
		slo.WithMeterProvider(noop.NewMeterProvider()), slo.WithIncidentLog(filepath.Join(dir, "incidents.jsonl")),
		slo.WithRelease(rel))
	if err != nil {
		t.Fatal(err)
	}
	w.track = w.mon.MustAdd(slo.Objective{Name: "orders", Target: 0.99, Period: 30 * 24 * time.Hour})
	if w.cand, err = w.track.ForRelease(candidate); err != nil {
		t.Fatal(err)
	}
	if w.log, err = audit.Open(filepath.Join(dir, "audit.log"), key, audit.WithClock(fc), audit.WithRelease(rel.ID),
		audit.WithMeterProvider(noop.NewMeterProvider())); err != nil {
		t.Fatal(err)
	}
	if w.q, err = queue.Open(filepath.Join(dir, "queue"), queue.WithClock(fc), queue.WithLogger(quiet),
		queue.WithMeterProvider(noop.NewMeterProvider())); err != nil {
		t.Fatal(err)
	}
	if w.reg, err = feature.New(feature.WithClock(fc), feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithLogger(quiet)); err != nil {
		t.Fatal(err)
	}
	since := monday.AddDate(0, -3, 0)
	w.used = w.reg.MustDefine("checkout", "team-shop", since, "Pay for the basket")
	w.reg.MustDefine("fax", "team-legacy", since, "Send an invoice by fax")
	t.Cleanup(w.close)
	return w
}

func (w *world) close() {
	ctx := context.Background()
	if err := w.mon.Shutdown(ctx); err != nil {
		w.t.Error(err)
	}
	if err := w.log.Close(); err != nil && !errors.Is(err, audit.ErrClosed) {
		w.t.Error(err)
	}
	if err := w.q.Close(); err != nil && !errors.Is(err, queue.ErrClosed) {
		w.t.Error(err)
	}
	if err := w.reg.Shutdown(ctx); err != nil {
		w.t.Error(err)
	}
}

func (w *world) sources() report.Sources {
	return report.Sources{
		Objectives: w.mon,
		Incidents:  report.IncidentLog(filepath.Join(w.dir, "incidents.jsonl")),
		Audit:      report.AuditLog(filepath.Join(w.dir, "audit.log"), key),
		Queue:      w.q,
		Features:   w.reg,
		Release:    rel,
	}
}

// step records one step's events, moves the clock by d and evaluates.
func (w *world) step(d time.Duration, total, bad int64) {
	w.track.RecordN(total, bad)
	w.events += total
	w.bad += bad
	w.fc.Advance(d)
	w.mon.Evaluate()
}

// audit appends a record at the current time.
func (w *world) audit(actor string, action audit.Action, target, result string) {
	w.t.Helper()
	if err := w.log.Append(context.Background(), audit.Record{Actor: actor, Action: action, Target: target, Result: result}); err != nil {
		w.t.Fatal(err)
	}
}

// queueWork enqueues n messages, delivers ok of them and dead-letters dead.
func (w *world) queueWork(n, ok, dead int) {
	w.t.Helper()
	ctx := context.Background()
	for range n {
		if _, err := w.q.Enqueue(ctx, []byte("order")); err != nil {
			w.t.Fatal(err)
		}
	}
	w.enqueued += int64(n)
	for i := range ok + dead {
		m, err := w.q.TryReceive(ctx, time.Minute)
		if err != nil {
			w.t.Fatal(err)
		}
		if i < ok {
			err = w.q.Ack(ctx, m)
		} else {
			err = w.q.Reject(ctx, m, errors.New("bad address"))
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
	w.acked += int64(ok)
	w.dead += int64(dead)
}

// script plays week 2026-W49 from Monday 00:00 to Saturday 00:00: steady traffic, an outage on Tuesday 14:00-15:00 that
// opens and resolves an incident (acknowledged by ann), operator actions,
// queue work and feature use. The writer, if any, runs on the same clock.
func (w *world) script() {
	w.t.Helper()
	tue := monday.AddDate(0, 0, 1)
	for w.fc.Now().Before(tue.Add(13 * time.Hour)) {
		w.step(10*time.Minute, 100, 0)
	}
	for w.fc.Now().Before(tue.Add(18 * time.Hour)) {
		now := w.fc.Now()
		bad := int64(0)
		if !now.Before(tue.Add(14*time.Hour)) && now.Before(tue.Add(15*time.Hour)) {
			bad = 5
		}
		w.step(time.Minute, 10, bad)
		if w.ackAt.IsZero() {
			for _, inc := range w.mon.Incidents() {
				if inc.Open() {
					if err := w.mon.Ack(inc.ID, "ann"); err != nil {
						w.t.Fatal(err)
					}
					w.ackAt = w.fc.Now()
				}
			}
		}
	}
	w.audit("ann", "queue.requeue", "42", "ok")
	w.queueWork(30, 20, 3)
	ctx := w.reg.WithTenant(context.Background(), "tenant-1")
	for range 12 {
		w.used.Use(ctx)
	}
	w.step(10*time.Minute, 100, 0)
	w.audit("bob", "feature.switch", "checkout", "denied")
	w.audit("carol", "report.read", "2026-W48", "ok")
	w.audit("automation", "queue.purge", "all", "disk full")
	for w.fc.Now().Before(monday.AddDate(0, 0, 3)) {
		w.step(10*time.Minute, 100, 0)
	}
	// Thursday and Friday: a candidate takes a tenth of the traffic, with
	// thrice the errors of the running release (too few to alert).
	for i := 0; w.fc.Now().Before(monday.AddDate(0, 0, 5)); i++ {
		var bad, candBad int64
		if i%5 == 0 {
			bad = 1 // 1 in 450
		}
		if i%15 == 0 {
			candBad = 1 // 1 in 150
		}
		w.cand.RecordN(10, candBad)
		w.candEvents, w.candBad = w.candEvents+10, w.candBad+candBad
		w.events, w.bad = w.events+10, w.bad+candBad
		w.step(10*time.Minute, 90, bad)
	}
	w.queueWork(5, 2, 0)
}

// toWeekEnd steps with steady traffic until the week's end (the next
// Monday 00:00), then waits report.Settle, when a Writer on the clock
// writes the week.
func (w *world) toWeekEnd() {
	for w.fc.Now().Before(monday.AddDate(0, 0, 7)) {
		w.step(10*time.Minute, 100, 0)
	}
	if w.atWeekEnd != nil {
		w.atWeekEnd()
	}
	w.fc.Advance(report.Settle)
}

// scriptedWeek plays the script with a Writer running from the week's
// start, then extra (if not nil), then steps to the week's end, where the
// Writer writes the week; it returns the world and the reports directory.
func scriptedWeek(t testing.TB, extra func(*world)) (*world, string) {
	t.Helper()
	dir := t.TempDir()
	fc := clock.NewFake(monday)
	w := newWorld(t, dir, fc)
	out := filepath.Join(dir, "reports")
	wr, err := report.New(out, w.sources(), report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := wr.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	w.script()
	if extra != nil {
		extra(w)
	}
	w.toWeekEnd()
	return w, out
}
