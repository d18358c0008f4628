package report_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/report"
)

// FuzzParseWeek: any text is a week or an error naming the text; a week
// prints back as itself and starts on its Monday.
func FuzzParseWeek(f *testing.F) {
	for _, s := range []string{"2026-W49", "2026W01", "2026-w53", "2027-W53", "0000-W01", "9999-W52", "2026-W", "-2026-W1",
		"+026-W01", "2026-W+1", "2026-W00", "", "W", "2026-W4９"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := report.ParseWeek(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "report: week ") {
				t.Fatalf("error %q does not name the week", err)
			}
			return
		}
		back, err := report.ParseWeek(w.String())
		if err != nil || back != w {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, w, w.String(), back, err)
		}
		start := w.Start(time.UTC)
		if start.Weekday() != time.Monday || report.WeekOf(start) != w || report.WeekOf(w.End(time.UTC).Add(-time.Nanosecond)) != w {
			t.Fatalf("%v starts %v, ends %v", w, start, w.End(time.UTC))
		}
	})
}

// FuzzHandlerQuery: any query string gets 200, 400 (naming a parameter or
// the query) or 404, never a panic or a 500.
func FuzzHandlerQuery(f *testing.F) {
	for _, s := range []string{"", "week=2026-W49", "week=current&format=md", "week=garbage", "format=pdf", "week=%zz",
		"week=2026-W49&week=2026-W50", "format=JSON&week=2026-w50", "week=2026-W54", "week=1999-W01"} {
		f.Add(s)
	}
	fc := clock.NewFake(monday.Add(8 * 24 * time.Hour))
	wr, err := report.New(f.TempDir(), report.Sources{Release: rel}, report.WithClock(fc), report.WithLogger(quiet))
	if err != nil {
		f.Fatal(err)
	}
	defer wr.Shutdown(context.Background())
	h := wr.Handler(guard(&audittest.Recorder{}))
	f.Fuzz(func(t *testing.T, q string) {
		req := httptest.NewRequest("GET", "/report", nil)
		req.URL.RawQuery = q
		req.Header.Set("Authorization", "Bearer ann-secret")
		rw := httptest.NewRecorder()
		h.ServeHTTP(rw, req)
		switch rw.Code {
		case 200, 404:
		case 400:
			body := rw.Body.String()
			if !strings.HasPrefix(body, "report: parameter ") && !strings.HasPrefix(body, "report: query") {
				t.Fatalf("%q: 400 %q names neither a parameter nor the query", q, body)
			}
		default:
			t.Fatalf("%q: %d %s", q, rw.Code, rw.Body)
		}
		if _, err := url.ParseQuery(q); err != nil && rw.Code != 400 {
			t.Fatalf("%q: a query Go cannot parse got %d", q, rw.Code)
		}
	})
}
