package healthtest_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/health"
	"github.com/opskit/opskit/health/healthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSwitch(t *testing.T) {
	var s healthtest.Switch
	c, _ := health.New(health.WithLogger(slog.New(slog.DiscardHandler)))
	defer c.Close()
	c.MustRegister(health.Check{Name: "dep", Func: s.Func})
	mux := http.NewServeMux()
	c.Mount(mux)
	if got := healthtest.Get(mux, "/readyz"); got.Code != 200 || got.Body != "ok" {
		t.Fatalf("passing switch: %+v", got)
	}
	s.Set(errors.New("off"))
	got := healthtest.Get(mux, "/readyz?verbose", healthtest.FromLoopback())
	if got.Code != 503 || got.Body != "[-]dep failed: off\nreadyz check failed\n" {
		t.Fatalf("failing switch: %d %q", got.Code, got.Body)
	}
	got = healthtest.Get(mux, "/readyz", healthtest.AcceptJSON())
	if got.Header.Get("Content-Type") != "application/health+json" {
		t.Fatalf("AcceptJSON: Content-Type %q", got.Header.Get("Content-Type"))
	}
	s.Set(nil)
	if got := healthtest.Get(mux, "/readyz"); got.Code != 200 {
		t.Fatalf("switch back on: %d", got.Code)
	}
	if s.Runs() != 4 {
		t.Fatalf("Runs = %d, want 4", s.Runs())
	}
}

func TestRun(t *testing.T) {
	if err := healthtest.Run(func(context.Context) error { return nil }, 0); err != nil {
		t.Fatalf("passing check: %v", err)
	}
	var pe *health.PanicError
	if err := healthtest.Run(func(context.Context) error { panic("x") }, 0); !errors.As(err, &pe) {
		t.Fatalf("panicking check: %v, want *health.PanicError", err)
	}
	if err := healthtest.Run(nil, 0); !errors.Is(err, health.ErrInvalid) {
		t.Fatalf("nil check: %v, want ErrInvalid", err)
	}
	g := &healthtest.Gate{HonourContext: true}
	defer g.Release()
	if err := healthtest.Run(g.Func, time.Millisecond); !errors.Is(err, health.ErrTimeout) {
		t.Fatalf("blocked check: %v, want ErrTimeout", err)
	}
}

func TestGate(t *testing.T) {
	g := &healthtest.Gate{}
	done := make(chan error, 1)
	go func() { done <- g.Func(context.Background()) }()
	<-g.Entered()
	select {
	case err := <-done:
		t.Fatalf("returned before Release: %v", err)
	default:
	}
	g.Release()
	g.Release() // twice is fine
	if err := <-done; err != nil {
		t.Fatalf("after Release: %v", err)
	}
}
