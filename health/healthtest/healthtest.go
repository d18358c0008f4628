package healthtest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/health"
)

// Switch is a check whose result the test sets. The zero value passes.
type Switch struct {
	err  atomic.Pointer[error]
	runs atomic.Int64
}

// Set makes every later run return err (nil passes).
func (s *Switch) Set(err error) {
	if err == nil {
		s.err.Store(nil)
		return
	}
	s.err.Store(&err)
}

// Func is the check: use it as health.Check.Func.
func (s *Switch) Func(context.Context) error {
	s.runs.Add(1)
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Runs reports how many times the check ran.
func (s *Switch) Runs() int64 { return s.runs.Load() }

// Gate is a check that blocks each run until the test calls Release (or
// the run's context ends, when HonourContext is set). Entered receives a
// value as each run starts, so a test can wait for a run without sleeping.
type Gate struct {
	// HonourContext makes a run return ctx's error when its context ends;
	// without it the run ignores its context, like a hung dependency call.
	HonourContext bool

	once    sync.Once
	release chan struct{}
	entered chan struct{}
}

func (g *Gate) init() {
	g.once.Do(func() {
		g.release = make(chan struct{})
		g.entered = make(chan struct{}, 1024)
	})
}

// Func is the check: use it as health.Check.Func.
func (g *Gate) Func(ctx context.Context) error {
	g.init()
	g.entered <- struct{}{}
	if g.HonourContext {
		select {
		case <-g.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	<-g.release
	return nil
}

// Entered is the channel that receives a value as each run starts.
func (g *Gate) Entered() <-chan struct{} {
	g.init()
	return g.entered
}

// Release lets every blocked and future run pass. Call it before the
// test ends so no run is left hanging.
func (g *Gate) Release() {
	g.init()
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

// Run runs fn once the way a Checker does (with the given timeout, 0 for
// health.DefaultTimeout, and panics turned into *health.PanicError) and
// returns its failure. A nil fn or a negative timeout is reported as an
// error wrapping health.ErrInvalid. Run returns only after fn has
// returned, so a test that uses it leaks no goroutine: an fn that ignores
// its context holds Run (and the test) until it returns, which is the
// hang the test should see.
func Run(fn func(context.Context) error, timeout time.Duration) error {
	c, err := health.New(health.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	defer c.Shutdown(context.Background()) //nolint:errcheck // nothing to report past fn's own result
	if err := c.Register(health.Check{Name: "check", Func: fn, Timeout: timeout, Probes: health.AllProbes}); err != nil {
		return err
	}
	return c.Run(context.Background(), "check")
}

// Response is an answered probe.
type Response struct {
	Code   int
	Body   string
	Header http.Header
}

// RequestOption changes the request Get sends.
type RequestOption func(*http.Request)

// FromLoopback sends the request from 127.0.0.1, which the default
// details policy allows to see failure reasons (no forwarding header is
// set).
func FromLoopback() RequestOption {
	return func(r *http.Request) { r.RemoteAddr = "127.0.0.1:49152" }
}

// AcceptJSON asks for application/health+json.
func AcceptJSON() RequestOption {
	return func(r *http.Request) { r.Header.Set("Accept", "application/health+json") }
}

// Get sends a GET of target (e.g. "/readyz?verbose") to h and returns the
// answer. The request comes from a non-loopback address unless
// FromLoopback is given.
func Get(h http.Handler, target string, opts ...RequestOption) Response {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for _, opt := range opts {
		opt(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	return Response{Code: res.StatusCode, Body: rec.Body.String(), Header: res.Header}
}
