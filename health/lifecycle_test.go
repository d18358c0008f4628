package health

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Shutdown returns when its context ends even if a check ignores its own,
// naming the check still running.
func TestShutdownIsBounded(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	defer close(release)
	entered := make(chan struct{}, 1)
	f.MustRegister(Check{Name: "stubborn", Timeout: time.Hour, Func: func(context.Context) error {
		entered <- struct{}{}
		<-release // ignores its context on purpose
		return nil
	}})
	go func() { _ = f.Run(context.Background(), "stubborn") }()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a caller out of time
	err := f.Shutdown(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "stubborn (1)") || !strings.HasPrefix(err.Error(), "health: ") {
		t.Fatalf("Shutdown = %v, want context.Canceled naming stubborn", err)
	}
	if err := f.Register(Check{Name: "late", Func: pass}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Register after Shutdown = %v, want ErrClosed", err)
	}
	if err := f.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Shutdown = %v, want ErrClosed", err)
	}
	release <- struct{}{} // the check returns; a second Shutdown now completes
	if err := f.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
}

// A check that calls runtime.Goexit (t.FailNow in a test helper, say) is a
// failed run, and the next probe runs it again.
func TestGoexitCheckFailsAndRunsAgain(t *testing.T) {
	f := newFixture(t)
	var runs atomic.Int32
	f.MustRegister(Check{Name: "quitter", Func: func(context.Context) error {
		if runs.Add(1) == 1 {
			runtime.Goexit()
		}
		return nil
	}})
	h := f.Handler(Readiness)
	answer := make(chan probe, 1)
	go func() { answer <- get(t, h, "/readyz?verbose", loopback, "") }()
	var got probe
	select {
	case got = <-answer:
	case <-time.After(10 * time.Second): // a safety net against a hang, not a wait for time
		f.clock.Advance(time.Hour) // let the stuck probe answer at its timeout before failing
		t.Fatal("the probe never got the Goexit'ing run's result")
	}
	if got.code != http.StatusServiceUnavailable || !strings.Contains(got.body, `[-]quitter failed: health: check "quitter" called runtime.Goexit`) {
		t.Fatalf("first probe: %d %q, want 503 naming Goexit", got.code, got.body)
	}
	if got := get(t, h, "/readyz", "", ""); got.code != http.StatusOK {
		t.Fatalf("second probe: %d %q, want 200 (the check ran again)", got.code, got.body)
	}
	if n := runs.Load(); n != 2 {
		t.Fatalf("runs = %d, want 2", n)
	}
}

// A panicking listener is logged; the process keeps serving and the other
// listeners still hear of the change.
func TestListenerPanicContained(t *testing.T) {
	var logs bytes.Buffer
	heard := make(chan StatusChange, 4)
	f := newFixture(t,
		WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		WithListener(func(StatusChange) { panic("listener bug") }),
		WithListener(func(sc StatusChange) { heard <- sc }))
	f.MustRegister(Check{Name: "db", Func: pass})
	if got := get(t, f.Handler(Readiness), "/readyz", "", ""); got.code != http.StatusOK {
		t.Fatalf("probe: %d", got.code)
	}
	if sc := <-heard; sc.Check != "db" || sc.New != StatusPass {
		t.Fatalf("second listener heard %+v", sc)
	}
	f.next(t)
	if !strings.Contains(logs.String(), "status listener panicked") || !strings.Contains(logs.String(), "listener bug") {
		t.Fatalf("log %q does not record the panic", logs.String())
	}
}

// The log line of a status change masks a password a check's error
// carries; listeners get the error as the check returned it.
func TestStatusLogRedacted(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	f.MustRegister(Check{Name: "db", Func: func(context.Context) error {
		return errors.New("dial postgres://app:hunter2@db/orders: refused")
	}})
	_ = get(t, f.Handler(Readiness), "/readyz", "", "")
	sc := f.next(t)
	if strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), "app:xxxxx@db") {
		t.Fatalf("log %q", logs.String())
	}
	if !strings.Contains(sc.Err.Error(), "hunter2") {
		t.Fatalf("listener got %v, want the check's own error", sc.Err)
	}
}

func TestQueryPastTheCapIs400(t *testing.T) {
	f := mixedFixture(t)
	m := mux(f.Checker)
	huge := "/readyz?" + strings.Repeat("exclude=x&", 100_000) // about 1 MB
	for target, want := range map[string]string{
		huge: "health: query string is 1000000 bytes, more than 1024\n",
		"/readyz?" + strings.Repeat("verbose&", MaxQueryParams): "health: query has 33 parameters, more than 32\n",
	} {
		got := get(t, m, target, "", "")
		if got.code != http.StatusBadRequest || got.body != want {
			t.Errorf("%.40s...: %d %q, want 400 %q", target, got.code, got.body, want)
		}
	}
	atCap := "/livez?" + strings.Repeat("exclude=nothing&", MaxQueryParams-1) + "exclude=live"
	if got := get(t, m, atCap, "", ""); got.code != http.StatusOK || !strings.Contains(got.body, `no matches for "nothing"`) {
		t.Errorf("at the cap: %d %q, want 200 with the unmatched name once", got.code, got.body)
	}
}

// FuzzHandler serves any path and query to every probe: the answer is one
// of the documented codes, 400 exactly past the caps, and reasons never
// reach a non-local client.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{"verbose", "exclude=crit&exclude=shutdown", "exclude=%zz;", strings.Repeat("exclude=a&", 70), "verbose=0&exclude=started"} {
		f.Add("/readyz", s)
		f.Add("/livez/live", s)
	}
	f.Add("/readyz/a/b", "")
	f.Add("/healthz/shutdown", "verbose")
	c, err := New(WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	c.MustRegister(Check{Name: "crit", Func: func(context.Context) error { return errors.New("secret reason") }},
		Check{Name: "live", Probes: Liveness | Startup, Func: pass})
	c.Drain()
	m := mux(c)
	f.Fuzz(func(t *testing.T, path, query string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?# \r\n") || strings.ContainsAny(query, "# \r\n") {
			return
		}
		req, err := http.NewRequest(http.MethodGet, "http://x"+path+"?"+query, nil)
		if err != nil {
			return
		}
		req.RemoteAddr = "192.0.2.1:4000"
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, req)
		overCap := len(req.URL.RawQuery) > MaxQueryBytes || strings.Count(req.URL.RawQuery, "&")+1 > MaxQueryParams
		switch rec.Code {
		case 200, 503, 404, 301, 307, 308:
			if overCap && rec.Code != 404 && rec.Code/100 != 3 {
				t.Fatalf("%s?%.40s: %d past the cap", path, query, rec.Code)
			}
		case 400:
			if !overCap {
				t.Fatalf("%s?%s: 400 within the cap: %q", path, query, rec.Body)
			}
		default:
			t.Fatalf("%s?%s: code %d", path, query, rec.Code)
		}
		if strings.Contains(rec.Body.String(), "secret reason") {
			t.Fatalf("%s?%s: reason shown to a remote client", path, query)
		}
	})
}
