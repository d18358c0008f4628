package report_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/report"
	"github.com/opskit/opskit/retry"
)

// TestWebhookFailsThenSucceeds: the webhook answers 500 twice (both
// attempts of the policy), the Writer tries again an hour later, and the
// third POST, carrying the week's JSON file, succeeds; the week is then no
// longer pending in the state.
func TestWebhookFailsThenSucceeds(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if len(bodies) <= 2 {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()

	dir := t.TempDir()
	fc := clock.NewFake(monday.AddDate(0, 0, 6).Add(23 * time.Hour)) // Sunday 23:00 of 2026-W49
	results := make(chan error, 4)
	wr, err := report.New(dir, report.Sources{Release: rel}, report.WithClock(fc), report.WithLogger(quiet),
		report.WithWebhook(report.Webhook{URL: srv.URL, Policy: retry.Policy{MaxAttempts: 2, BaseDelay: time.Second,
			MaxDelay: time.Second, Jitter: retry.JitterNone}}),
		report.WithOnDelivery(func(w report.Week, err error) { results <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Shutdown(context.Background())
	fc.Advance(time.Hour + report.Settle) // the week ends: written, then delivered
	fc.WaitForTimers(3)                   // the next week's pass, the delivery's deadline, the retry's wait
	fc.Advance(time.Second)
	if err := <-results; err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("first delivery: %v, want the 500", err)
	}
	fc.WaitForTimers(2) // the next week's pass and the hour's wait
	fc.Advance(time.Hour)
	if err := <-results; err != nil {
		t.Fatalf("delivery an hour later: %v", err)
	}
	file := readFile(t, filepath.Join(dir, "2026-W49.json"))
	mu.Lock()
	if len(bodies) != 3 || bodies[2] != file || keys[2] != "opskit-report-2026-W49" {
		t.Errorf("%d POSTs, last key %q; body equals the file: %v", len(bodies), keys[len(keys)-1], bodies[len(bodies)-1] == file)
	}
	mu.Unlock()
	var st map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "state.json"))), &st); err != nil {
		t.Fatal(err)
	}
	if st["pending"] != nil || st["last"] != "2026-W49" {
		t.Errorf("state after delivery: %v", st)
	}
}

// TestWebhookFinalStatus: a 400 is not retried.
func TestWebhookFinalStatus(t *testing.T) {
	var calls sync.WaitGroup
	calls.Add(1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	defer srv.Close()
	fc := clock.NewFake(monday.AddDate(0, 0, 6).Add(23 * time.Hour))
	results := make(chan error, 1)
	wr, err := report.New(t.TempDir(), report.Sources{}, report.WithClock(fc), report.WithLogger(quiet),
		report.WithWebhook(report.Webhook{URL: srv.URL}),
		report.WithOnDelivery(func(w report.Week, err error) { results <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Shutdown(context.Background())
	fc.Advance(time.Hour + report.Settle)
	if err := <-results; err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("delivery: %v, want the 400 at once", err)
	}
}

// TestLeaderOnly: a Writer that is not the leader writes nothing; once it
// leads, its next check, a minute later, writes the week.
func TestLeaderOnly(t *testing.T) {
	dir := t.TempDir()
	fc := clock.NewFake(monday.Add(time.Hour))
	var mu sync.Mutex
	leading := false
	wr, err := report.New(dir, report.Sources{}, report.WithClock(fc), report.WithLogger(quiet),
		report.WithLeader(func() bool { mu.Lock(); defer mu.Unlock(); return leading }))
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Shutdown(context.Background())
	fc.Advance(7 * 24 * time.Hour)
	if _, err := os.Stat(filepath.Join(dir, "2026-W49.json")); !os.IsNotExist(err) {
		t.Fatalf("a follower wrote the week: %v", err)
	}
	mu.Lock()
	leading = true
	mu.Unlock()
	fc.Advance(time.Minute)
	if _, err := os.Stat(filepath.Join(dir, "2026-W49.json")); err != nil {
		t.Fatalf("the leader did not write the week: %v", err)
	}
}

// TestNewRejects: bad configuration is an error naming it.
func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		opts []report.Option
		dir  string
		want string
	}{
		{dir: "", want: "dir is empty"},
		{opts: []report.Option{report.WithCatchUp(-1)}, want: "WithCatchUp(-1)"},
		{opts: []report.Option{report.WithCatchUp(53)}, want: "WithCatchUp(53)"},
		{opts: []report.Option{report.WithWebhook(report.Webhook{URL: "ftp://x"})}, want: `Webhook.URL "ftp://x"`},
		{opts: []report.Option{report.WithWebhook(report.Webhook{URL: "http://x", Timeout: -1})}, want: "Webhook.Timeout"},
		{opts: []report.Option{report.WithWebhook(report.Webhook{URL: "http://x", Policy: retry.Policy{MaxAttempts: -1}})}, want: "Webhook.Policy"},
	} {
		dir := tc.dir
		if dir == "" && tc.want != "dir is empty" {
			dir = t.TempDir()
		}
		_, err := report.New(dir, report.Sources{}, tc.opts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "report: ") {
			t.Errorf("New(%q, %d options): %v, want %q", dir, len(tc.opts), err, tc.want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(`{"v":1,"since":"2026-11-30T00:00:00Z","last":"2026-W99"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := report.New(dir, report.Sources{}); err == nil || !strings.Contains(err.Error(), "2026-W99") || !strings.Contains(err.Error(), "state.json") {
		t.Errorf("a damaged state: %v", err)
	}
}

// guard lets "ann" read reports, records what she reads.
func guard(rec *audittest.Recorder) *audit.Guard {
	return &audit.Guard{Sink: rec, Authorize: audit.BearerTokens(
		audit.Token{Secret: "ann-secret", Actor: "ann", Actions: []audit.Action{report.ReadAction}},
		audit.Token{Secret: "bob-secret", Actor: "bob", Actions: []audit.Action{"queue.requeue"}})}
}

func get(t *testing.T, h http.Handler, token, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	return rw
}

// fakeQueue is a queue whose counters the test sets.
type fakeQueue struct {
	mu sync.Mutex
	st queue.Stats
}

func (f *fakeQueue) Stats(context.Context) (queue.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st, nil
}

func (f *fakeQueue) set(enq, acked int64) {
	f.mu.Lock()
	f.st.Enqueued, f.st.Acked = enq, acked
	f.mu.Unlock()
}

// TestHandler serves written weeks and the week so far in every format,
// behind the guard, with an audit record per report served; hostile
// parameters get a 400 naming them.
func TestHandler(t *testing.T) {
	dir := t.TempDir()
	fc := clock.NewFake(monday.Add(36 * time.Hour))
	q := &fakeQueue{}
	q.set(100, 90)
	wr, err := report.New(dir, report.Sources{Queue: q, Release: rel}, report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Shutdown(context.Background())
	rec := &audittest.Recorder{}
	h := wr.Handler(guard(rec))

	// Before any week is written: the week so far.
	rw := get(t, h, "ann-secret", "/report?format=json")
	var r report.Report
	if rw.Code != 200 || json.Unmarshal(rw.Body.Bytes(), &r) != nil || r.Week != "2026-W49" || r.Complete {
		t.Fatalf("week so far: %d %s", rw.Code, rw.Body)
	}
	q.set(130, 110)
	fc.Advance(6 * 24 * time.Hour) // 2026-W49 ends and is written
	q.set(150, 111)
	for _, tc := range []struct{ query, ctype, want string }{
		{"", "text/html; charset=utf-8", "Weekly ops report 2026-W49, shop"},
		{"?week=2026-W49&format=md", "text/markdown; charset=utf-8", "# Weekly ops report 2026\\-W49, shop"},
		{"?week=2026-w49&format=JSON", "application/json", `"week": "2026-W49"`},
		{"?week=current&format=json", "application/json", `"week": "2026-W50"`},
		{"?week=2026-W50", "text/html; charset=utf-8", "the week is still running"},
	} {
		rw := get(t, h, "ann-secret", "/report"+tc.query)
		if rw.Code != 200 || rw.Header().Get("Content-Type") != tc.ctype || !strings.Contains(rw.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want %s with %q", tc.query, rw.Code, rw.Header().Get("Content-Type"), tc.ctype, tc.want)
		}
	}
	// The written week counts the queue from its start to its end; the
	// week so far from the end of the last one to now.
	rw = get(t, h, "ann-secret", "/report?week=2026-W49&format=json")
	_ = json.Unmarshal(rw.Body.Bytes(), &r)
	if !r.Queue.Counted || r.Queue.Accepted != 30 || r.Queue.Delivered != 20 {
		t.Errorf("written week's queue: %+v", r.Queue)
	}
	rw = get(t, h, "ann-secret", "/report?week=current&format=json")
	_ = json.Unmarshal(rw.Body.Bytes(), &r)
	if !r.Queue.Counted || r.Queue.Accepted != 20 || r.Queue.Delivered != 1 {
		t.Errorf("week so far's queue: %+v", r.Queue)
	}
	if got := len(rec.Records()); got != 8 {
		t.Errorf("%d audit records for 8 reports served", got)
	}
	last := rec.Records()[len(rec.Records())-1]
	if last.Actor != "ann" || last.Action != report.ReadAction || last.Target != "2026-W50" || last.Detail != "format=json" || last.Result != "ok" {
		t.Errorf("audit record: %+v", last)
	}

	for _, tc := range []struct {
		token, query string
		code         int
		want         string
	}{
		{"", "", 401, "credentials required"},
		{"bob-secret", "", 403, "report.read: not allowed"},
		{"ann-secret", "?week=garbage", 400, `parameter week="garbage"`},
		{"ann-secret", "?week=2026-W54", 400, `parameter week="2026-W54"`},
		{"ann-secret", "?week=2026-W49&week=2026-W48", 400, "parameter week given 2 times"},
		{"ann-secret", "?format=pdf", 400, `parameter format="pdf"`},
		{"ann-secret", "?week=%zz", 400, "report: query"},
		{"ann-secret", "?week=" + strings.Repeat("9", 300), 400, "at most 256"},
		{"ann-secret", "?week=2026-W40", 404, "week 2026-W40 is before the first report (week 2026-W49)"},
		{"ann-secret", "?week=2027-W10", 404, "week 2027-W10 has not started"},
	} {
		rw := get(t, h, tc.token, "/report"+tc.query)
		if rw.Code != tc.code || !strings.Contains(rw.Body.String(), tc.want) {
			t.Errorf("%s %q: %d %q, want %d with %q", tc.token, tc.query, rw.Code, rw.Body, tc.code, tc.want)
		}
	}
	if got := len(rec.Records()); got != 8 {
		t.Errorf("refusals were audited: %d records", got)
	}
	req := httptest.NewRequest(http.MethodPost, "/report", nil)
	req.Header.Set("Authorization", "Bearer ann-secret")
	rw = httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	if rw.Code != 405 || rw.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d", rw.Code)
	}
}

// failingSink refuses every record.
type failingSink struct{}

func (failingSink) Append(context.Context, audit.Record) error { return errors.New("disk full") }

// TestHandlerWithholdsUnaudited: a report whose reading cannot be audited
// is not served.
func TestHandlerWithholdsUnaudited(t *testing.T) {
	fc := clock.NewFake(monday.Add(time.Hour))
	wr, err := report.New(t.TempDir(), report.Sources{}, report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Shutdown(context.Background())
	g := guard(nil)
	g.Sink = failingSink{}
	rw := get(t, wr.Handler(g), "ann-secret", "/report")
	if rw.Code != 500 || strings.Contains(rw.Body.String(), "Weekly ops report") || !strings.Contains(rw.Body.String(), "disk full") {
		t.Errorf("%d %s", rw.Code, rw.Body)
	}
}

// stuckQueue blocks in Stats from its second call until released,
// ignoring the context: a source that hangs.
type stuckQueue struct {
	calls   int
	mu      sync.Mutex
	entered chan struct{}
	release chan struct{}
}

func (q *stuckQueue) Stats(context.Context) (queue.Stats, error) {
	q.mu.Lock()
	q.calls++
	n := q.calls
	q.mu.Unlock()
	if n > 1 {
		close(q.entered)
		<-q.release
	}
	return queue.Stats{}, nil
}

// TestShutdownBounded: a pass stuck in a source does not hold Shutdown past
// its context, which says what was left running; once the source returns
// a second Shutdown completes.
func TestShutdownBounded(t *testing.T) {
	fc := clock.NewFake(monday.Add(time.Hour))
	q := &stuckQueue{entered: make(chan struct{}), release: make(chan struct{})}
	wr, err := report.New(t.TempDir(), report.Sources{Queue: q}, report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	advanced := make(chan struct{})
	go func() {
		defer close(advanced)
		fc.Advance(7 * 24 * time.Hour) // the week's pass, which gets stuck
	}()
	<-q.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := wr.Shutdown(ctx); err == nil || !strings.Contains(err.Error(), "still running") || !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown with a stuck pass: %v", err)
	}
	close(q.release)
	<-advanced
	if err := wr.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// TestLocation: with WithLocation a week starts Monday 00:00 there; the
// report names the zone and its times are that zone's.
func TestLocation(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	dir := t.TempDir()
	fc := clock.NewFake(monday.AddDate(0, 0, 6).Add(22 * time.Hour)) // Sunday 22:00 UTC, 23:00 in Berlin
	wr, err := report.New(dir, report.Sources{}, report.WithClock(fc), report.WithLogger(quiet), report.WithLocation(berlin))
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Shutdown(context.Background())
	fc.Advance(time.Hour + report.Settle) // Monday 00:01 in Berlin, still Sunday in UTC
	r := readReport(t, filepath.Join(dir, "2026-W49.json"))
	if r.Location != "Europe/Berlin" || !r.From.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, berlin)) || !r.To.Equal(fc.Now().Add(-report.Settle)) {
		t.Errorf("location %s from %v to %v", r.Location, r.From, r.To)
	}
	if md := readFile(t, filepath.Join(dir, "2026-W49.md")); !strings.Contains(md, "Mon 30 Nov 2026 00:00 to Mon 7 Dec 2026 00:00 \\(Europe/Berlin\\)") {
		t.Errorf("Markdown span: %.300s", md)
	}
}
