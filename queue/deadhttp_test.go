package queue_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/queue"
)

type discardSink struct{}

func (discardSink) Append(context.Context, audit.Record) error { return nil }

// FuzzDeadLetterHandler feeds the handler any path and query: it never
// panics, answers only with the statuses it documents, and a refused
// request changes nothing.
func FuzzDeadLetterHandler(f *testing.F) {
	for _, seed := range [][2]string{
		{"GET", "/"}, {"GET", "/?limit=2&after=0000000000000001"}, {"GET", "/?since=2025-01-01T00:00:00Z&until=2026-01-01T00:00:00Z"},
		{"GET", "/?reason=timeout&limit=500"}, {"POST", "/0000000000000001/requeue"}, {"POST", "/0000000000000002/purge"},
		{"POST", "/requeue?all=true"}, {"POST", "/purge?reason=bad"}, {"GET", "/?limit=0"}, {"GET", "/?a=1&a=2"},
		{"POST", "/3396/requeue"}, {"DELETE", "/x/y/z"}, {"GET", "/%zz"}, {"POST", "/requeue?since=yesterday"},
	} {
		f.Add(seed[0], seed[1])
	}
	q, err := queue.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer q.Close()
	h := queue.DeadLetterHandler(q, &audit.Guard{
		Authorize: func(*http.Request, audit.Action) (string, error) { return "fuzz", nil },
		Sink:      discardSink{},
	})
	f.Fuzz(func(t *testing.T, method, target string) {
		q.Enqueue(bg, []byte("x"))
		if m, err := q.TryReceive(bg, time.Minute); err == nil {
			q.Reject(bg, m, errors.New("bad input"))
		}
		u, err := url.Parse(target)
		if err != nil || !strings.HasPrefix(u.Path, "/") || len(method) == 0 || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Method, r.URL = method, u
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed:
		default:
			t.Fatalf("%s %s answered %d: %s", method, target, w.Code, w.Body)
		}
		if w.Code != http.StatusOK && method == http.MethodPost {
			return
		}
		if w.Code == http.StatusOK && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: 200 with Content-Type %q", method, target, w.Header().Get("Content-Type"))
		}
	})
}
