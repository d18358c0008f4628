package health

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is a Checker on a fake clock whose status changes arrive on
// changes; it is closed when the test ends.
type fixture struct {
	*Checker
	clock   *clock.Fake
	changes chan StatusChange
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{clock: clock.NewFake(epoch), changes: make(chan StatusChange, 256)}
	opts = append([]Option{
		WithClock(f.clock),
		WithLogger(slog.New(slog.DiscardHandler)),
		WithListener(func(sc StatusChange) { f.changes <- sc }),
	}, opts...)
	c, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.Checker = c
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// next returns the next status change, failing the test if none comes.
func (f *fixture) next(t *testing.T) StatusChange {
	t.Helper()
	select {
	case sc := <-f.changes:
		return sc
	case <-time.After(10 * time.Second): // a safety net against a hang, not a wait for time
		t.Fatal("no status change arrived")
		return StatusChange{}
	}
}

func pass(context.Context) error { return nil }

// probe is one answered request.
type probe struct {
	code   int
	body   string
	header http.Header
}

// get serves target on h. remote "" is a non-loopback client; accept ""
// sends no Accept header.
func get(t *testing.T, h http.Handler, target, remote, accept string) probe {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if remote != "" {
		req.RemoteAddr = remote
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	return probe{code: rec.Code, body: string(body), header: rec.Result().Header}
}

// mux returns a ServeMux with every probe of c mounted.
func mux(c *Checker) *http.ServeMux {
	m := http.NewServeMux()
	c.Mount(m)
	return m
}

const loopback = "127.0.0.1:40000"
