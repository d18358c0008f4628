package overload

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

func serve(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// A full limiter answers 503 with Retry-After before the handler runs,
// and still serves every probe path and /metrics.
func TestHandlerShedsButNeverProbes(t *testing.T) {
	l, _ := newTestLimiter(t, WithLimits(2, 10, 20))
	ran := 0
	h, err := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ran++ }), WithRetryAfter(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ps := fill(t, l)
	rec := serve(h, "/api/orders")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "2" || ran != 0 {
		t.Errorf("full limiter: %d, Retry-After %q, handler ran %d times", rec.Code, rec.Header().Get("Retry-After"), ran)
	}
	if !strings.HasPrefix(rec.Body.String(), "overload: ") {
		t.Errorf("body %q", rec.Body.String())
	}
	for _, p := range []string{"/livez", "/readyz", "/readyz/db", "/startupz", "/healthz", "/metrics"} {
		if rec := serve(h, p); rec.Code != http.StatusOK {
			t.Errorf("%s answered %d while the limiter was full", p, rec.Code)
		}
	}
	for _, p := range []string{"/livezz", "/metricsx", "/api/livez"} {
		if rec := serve(h, p); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s answered %d; only the probe paths themselves are exempt", p, rec.Code)
		}
	}
	for _, p := range ps {
		p.Release()
	}
	if rec := serve(h, "/api/orders"); rec.Code != http.StatusOK || ran != 7 {
		t.Errorf("after release: %d, handler ran %d times", rec.Code, ran)
	}
}

func TestHandlerClassifier(t *testing.T) {
	l, _ := newTestLimiter(t, WithLimits(10, 10, 20))
	h, err := l.Handler(okHandler, WithClassifier(func(r *http.Request) Priority {
		if strings.HasPrefix(r.URL.Path, "/checkout") {
			return Critical
		}
		return DefaultPriority(r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	var ps []Permit
	for range 9 { // Normal may use 10 - 1
		p, _ := l.Acquire(Normal)
		ps = append(ps, p)
	}
	if got := serve(h, "/browse").Code; got != http.StatusServiceUnavailable {
		t.Errorf("/browse answered %d with the normal share used", got)
	}
	if got := serve(h, "/checkout").Code; got != http.StatusNoContent {
		t.Errorf("/checkout answered %d; critical work keeps the last tenth", got)
	}
	for _, p := range ps {
		p.Release()
	}
}

// A request whose context ended while it ran is a drop.
func TestHandlerCountsCancelledRequestsAsDrops(t *testing.T) {
	l, fc := newTestLimiter(t, WithLimits(1, 50, 100), WithWindow(time.Millisecond, 10), WithProbeEvery(time.Hour), WithTolerance(10))
	const step = 5 * time.Millisecond
	h, err := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fc.Advance(step)
		if r.Header.Get("Cancel") != "" {
			r.Context().Value(cancelKey{}).(context.CancelFunc)()
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	send := func(cancel bool) {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		r := httptest.NewRequestWithContext(context.WithValue(ctx, cancelKey{}, stop), http.MethodGet, "/x", nil)
		if cancel {
			r.Header.Set("Cancel", "1")
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	for range 10 { // the first probe
		send(false)
	}
	before := l.Limit()
	for i := range 20 {
		send(i == 0)
	}
	if got := l.Limit(); got >= before {
		t.Errorf("limit %d -> %d after a window with a cancelled request", before, got)
	}
}

type cancelKey struct{}

func TestHandlerRejectsBadSettings(t *testing.T) {
	l, _ := newTestLimiter(t)
	for _, tc := range []struct {
		next http.Handler
		opt  HandlerOption
		want string
	}{
		{nil, WithRetryAfter(time.Second), "next is nil"},
		{okHandler, WithRetryAfter(0), "WithRetryAfter 0s"},
		{okHandler, WithClassifier(nil), "WithClassifier func is nil"},
		{okHandler, nil, "nil HandlerOption"},
	} {
		if _, err := l.Handler(tc.next, tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Handler: %v, want an error naming %q", err, tc.want)
		}
	}
}

// nopWriter is a ResponseWriter that keeps nothing, so that only the
// middleware's own allocations are counted.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) WriteHeader(int)             {}

func TestHandlerAdmitPathAllocatesNothing(t *testing.T) {
	l, _ := newTestLimiter(t)
	h, err := l.Handler(okHandler)
	if err != nil {
		t.Fatal(err)
	}
	w := nopWriter{h: http.Header{}}
	for _, path := range []string{"/api/orders", "/livez"} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if n := testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, r) }); n != 0 {
			t.Errorf("admitting %s: %v allocations, want 0", path, n)
		}
	}
}
