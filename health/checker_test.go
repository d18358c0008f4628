package health

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRegisterRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name  string
		check Check
		field string
	}{
		{"empty name", Check{Func: pass}, "Name"},
		{"slash in name", Check{Name: "a/b", Func: pass}, "Name"},
		{"space in name", Check{Name: "a b", Func: pass}, "Name"},
		{"nil func", Check{Name: "x"}, "Func"},
		{"negative timeout", Check{Name: "x", Func: pass, Timeout: -time.Second}, "Timeout"},
		{"negative interval", Check{Name: "x", Func: pass, Interval: -1}, "Interval"},
		{"unknown probe bits", Check{Name: "x", Func: pass, Probes: 1 << 6}, "Probes"},
		{"reserved name", Check{Name: "shutdown", Func: pass}, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.Register(tt.check)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Register = %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
	if got := f.Checks(); len(got) != 0 {
		t.Fatalf("Checks after rejected registrations = %v, want none", got)
	}
}

func TestRegisterUnregister(t *testing.T) {
	f := newFixture(t)
	f.MustRegister(Check{Name: "b", Func: pass}, Check{Name: "a", Func: pass})
	if err := f.Register(Check{Name: "a", Func: pass}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate Register = %v, want ErrDuplicate", err)
	}
	if got, want := f.Checks(), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Fatalf("Checks = %v, want %v", got, want)
	}
	if err := f.Unregister("a"); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	if err := f.Unregister("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Unregister = %v, want ErrNotFound", err)
	}
	if got := get(t, mux(f.Checker), "/readyz/a", "", ""); got.code != http.StatusNotFound {
		t.Fatalf("/readyz/a after Unregister: %d, want 404", got.code)
	}
}

func TestLifecycleInAnyOrder(t *testing.T) {
	t.Run("close before start", func(t *testing.T) {
		f := newFixture(t)
		if err := f.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := f.Start(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Start after Close = %v, want ErrClosed", err)
		}
		if err := f.Register(Check{Name: "x", Func: pass}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Register after Close = %v, want ErrClosed", err)
		}
	})
	t.Run("start twice close twice", func(t *testing.T) {
		f := newFixture(t)
		f.MustRegister(Check{Name: "bg", Func: pass, Interval: time.Second})
		for range 2 {
			if err := f.Start(); err != nil {
				t.Fatalf("Start: %v", err)
			}
		}
		if sc := f.next(t); sc.New != StatusPass {
			t.Fatalf("first run: %+v, want pass", sc)
		}
		for range 2 {
			if err := f.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
	})
	t.Run("on-demand check after close", func(t *testing.T) {
		f := newFixture(t)
		f.MustRegister(Check{Name: "x", Func: pass})
		_ = f.Close()
		got := get(t, f.Handler(Readiness), "/readyz?verbose", loopback, "")
		if got.code != http.StatusServiceUnavailable || !strings.Contains(got.body, ErrClosed.Error()) {
			t.Fatalf("after Close: %d %q, want 503 naming ErrClosed", got.code, got.body)
		}
	})
}

func TestBackgroundCheckRunsOnTheClock(t *testing.T) {
	f := newFixture(t)
	results := make(chan error, 1)
	f.MustRegister(Check{Name: "bg", Interval: 10 * time.Second, Func: func(context.Context) error { return <-results }})
	h := f.Handler(Readiness)
	if got := get(t, h, "/readyz", "", ""); got.code != http.StatusServiceUnavailable {
		t.Fatalf("before Start: %d, want 503 (no result yet)", got.code)
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	results <- nil
	if sc := f.next(t); sc.Old != StatusUnknown || sc.New != StatusPass {
		t.Fatalf("first change %+v, want unknown→pass", sc)
	}
	if got := get(t, h, "/readyz", "", ""); got.code != http.StatusOK || got.body != "ok" {
		t.Fatalf("after pass: %d %q, want 200 ok", got.code, got.body)
	}
	results <- errors.New("down")
	f.clock.Advance(10 * time.Second)
	sc := f.next(t)
	if sc.Old != StatusPass || sc.New != StatusFail || sc.Err == nil || sc.Err.Error() != "down" {
		t.Fatalf("second change %+v, want pass→fail with the error", sc)
	}
	if got := get(t, h, "/readyz", "", ""); got.code != http.StatusServiceUnavailable {
		t.Fatalf("after fail: %d, want 503", got.code)
	}
}

// A background loop that stops producing results (starved, wedged) cannot
// keep a check green: past 3 intervals plus the timeout its last result
// counts as failed.
func TestStaleBackgroundResultFails(t *testing.T) {
	f := newFixture(t)
	wedged := make(chan struct{})
	loops := 0
	f.testHookLoop = func() { // the loop goroutine: wedge it before its second run
		if loops++; loops == 2 {
			<-wedged
		}
	}
	defer close(wedged)
	f.MustRegister(Check{Name: "bg", Interval: 10 * time.Second, Timeout: time.Second, Func: pass})
	_ = f.Start()
	f.next(t)
	h := f.Handler(Readiness)
	f.clock.Advance(31 * time.Second) // exactly the limit: 3 intervals + timeout
	if got := get(t, h, "/readyz", "", ""); got.code != http.StatusOK {
		t.Fatalf("at the staleness limit: %d, want 200", got.code)
	}
	f.clock.Advance(time.Millisecond)
	got := get(t, h, "/readyz?verbose", loopback, "")
	if got.code != http.StatusServiceUnavailable || !strings.Contains(got.body, "stale") {
		t.Fatalf("past the limit: %d %q, want 503 stale", got.code, got.body)
	}
}

// After Shutdown every probe fails, background results included.
func TestProbesFailAfterShutdown(t *testing.T) {
	f := newFixture(t)
	f.MustRegister(Check{Name: "bg", Interval: 10 * time.Second, Probes: AllProbes, Func: pass},
		Check{Name: "od", Probes: AllProbes, Func: pass})
	_ = f.Start()
	f.next(t)
	m := mux(f.Checker)
	if got := get(t, m, "/readyz", "", ""); got.code != http.StatusOK {
		t.Fatalf("before Shutdown: %d", got.code)
	}
	if err := f.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/livez", "/readyz", "/startupz", "/healthz", "/readyz/bg", "/readyz/od"} {
		got := get(t, m, path+"?verbose", loopback, "")
		if got.code != http.StatusServiceUnavailable || !strings.Contains(got.body, "checker closed") {
			t.Errorf("%s after Shutdown: %d %q, want 503 checker closed", path, got.code, got.body)
		}
	}
}

// /livez does not fail through the startup gate (like the kube-apiserver):
// a pod without a startupProbe is not restarted while it starts. /readyz
// fails until the startup checks have passed once.
func TestStartupGatesReadinessOnly(t *testing.T) {
	f := newFixture(t)
	warm := make(chan struct{})
	f.MustRegister(
		Check{Name: "warm", Probes: Startup, Func: func(context.Context) error {
			select {
			case <-warm:
				return nil
			default:
				return errors.New("cache cold")
			}
		}},
		Check{Name: "alive", Probes: Liveness | Readiness, Func: pass},
	)
	m := mux(f.Checker)
	for path, want := range map[string]int{"/livez": 200, "/readyz": 503, "/startupz": 503, "/readyz/started": 503, "/readyz/alive": 200} {
		if got := get(t, m, path, "", ""); got.code != want {
			t.Fatalf("%s before startup: %d, want %d", path, got.code, want)
		}
	}
	got := get(t, m, "/readyz?exclude=started", "", "")
	if want := "[-]started failed: reason withheld\n[+]alive ok\nwarn: gates cannot be excluded: \"started\"\nreadyz check failed\n"; got.body != want {
		t.Fatalf("/readyz body before startup:\n%s\nwant:\n%s", got.body, want)
	}
	if got := get(t, m, "/livez/started", "", ""); got.code != http.StatusNotFound {
		t.Fatalf("/livez/started: %d, want 404 (livez has no startup gate)", got.code)
	}
	close(warm)
	for _, path := range []string{"/readyz", "/readyz/started"} {
		if got := get(t, m, path, "", ""); got.code != http.StatusOK {
			t.Fatalf("%s after startup passed: %d %q, want 200", path, got.code, got.body)
		}
	}
	warm = make(chan struct{}) // startup failing again does not close the gate
	if got := get(t, m, "/readyz", "", ""); got.code != http.StatusOK {
		t.Fatalf("/readyz once started: %d, want 200", got.code)
	}
}

func TestDrain(t *testing.T) {
	f := newFixture(t)
	f.MustRegister(Check{Name: "db", Probes: Liveness | Readiness, Func: pass})
	m := mux(f.Checker)
	f.Drain()
	if !f.Draining() {
		t.Fatal("Draining() = false after Drain")
	}
	got := get(t, m, "/readyz?verbose", loopback, "")
	if got.code != http.StatusServiceUnavailable || !strings.Contains(got.body, "[-]shutdown failed: health: shutting down\n") {
		t.Fatalf("/readyz while draining: %d %q, want 503 with shutting down", got.code, got.body)
	}
	if got := get(t, m, "/livez", "", ""); got.code != http.StatusOK {
		t.Fatalf("/livez while draining: %d, want 200", got.code)
	}
	got = get(t, m, "/readyz?exclude=shutdown&exclude=db", "", "")
	if want := "[-]shutdown failed: reason withheld\n[+]db excluded: ok\nwarn: gates cannot be excluded: \"shutdown\"\nreadyz check failed\n"; got.code != 503 || got.body != want {
		t.Fatalf("/readyz?exclude=shutdown while draining: %d %q, want 503 %q", got.code, got.body, want)
	}
	if got := get(t, m, "/readyz/shutdown", "", ""); got.code != 503 {
		t.Fatalf("/readyz/shutdown while draining: %d, want 503", got.code)
	}
	got = get(t, m, "/readyz?exclude=shutdown", "", "application/health+json")
	if want := `{"status":"fail","checks":{"db":[{"status":"pass","time":"2025-03-01T12:00:00Z"}],"shutdown":[{"status":"fail"}]},"notes":["gate \"shutdown\" cannot be excluded"]}` + "\n"; got.body != want {
		t.Fatalf("JSON: %s, want %s", got.body, want)
	}
}

func TestShutdownGateWhenNotDraining(t *testing.T) {
	f := newFixture(t)
	f.MustRegister(Check{Name: "db", Func: pass})
	m := mux(f.Checker)
	for path, want := range map[string]probe{
		"/readyz/shutdown":         {code: 200, body: "ok"},
		"/readyz/shutdown?verbose": {code: 200, body: "[+]shutdown ok\nreadyz/shutdown check passed\n"},
		"/livez/shutdown":          {code: 404},
		"/healthz/shutdown":        {code: 404},
	} {
		got := get(t, m, path, "", "")
		if got.code != want.code || (want.body != "" && got.body != want.body) {
			t.Errorf("%s: %d %q, want %d %q", path, got.code, got.body, want.code, want.body)
		}
	}
}

func TestDrainAndShutdownWaitsOnTheClock(t *testing.T) {
	f := newFixture(t)
	srv := &http.Server{}
	done := make(chan error, 1)
	go func() { done <- f.DrainAndShutdown(context.Background(), srv, 5*time.Second) }()
	f.clock.WaitForTimers(1)
	if !f.Draining() {
		t.Fatal("not draining during the delay")
	}
	select {
	case err := <-done:
		t.Fatalf("returned before the delay: %v", err)
	default:
	}
	f.clock.Advance(5 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("DrainAndShutdown: %v", err)
	}
	if err := f.DrainAndShutdown(context.Background(), nil, 0); err == nil {
		t.Fatal("nil server accepted")
	}
}

func TestListenerCalledOutsideLocks(t *testing.T) {
	var f *fixture
	called := make(chan StatusChange, 4)
	f = newFixture(t, WithListener(func(sc StatusChange) {
		// Re-entering the Checker from a listener must not deadlock.
		_ = f.Unregister(sc.Check)
		_ = f.Register(Check{Name: sc.Check + "-again", Func: pass})
		called <- sc
	}))
	f.MustRegister(Check{Name: "x", Func: func(context.Context) error { return errors.New("no") }})
	get(t, f.Handler(Readiness), "/readyz", "", "")
	sc := <-called
	if sc.Check != "x" || sc.Old != StatusUnknown || sc.New != StatusFail || sc.Err == nil {
		t.Fatalf("change %+v, want x unknown→fail", sc)
	}
	if got, want := f.Checks(), []string{"x-again"}; !slices.Equal(got, want) {
		t.Fatalf("Checks = %v, want %v", got, want)
	}
}

func TestProbeAndStatusStrings(t *testing.T) {
	for p, want := range map[Probe]string{0: "none", Liveness: "livez", Startup | Readiness: "startupz|readyz", 1 << 5: "Probe(0x20)"} {
		if got := p.String(); got != want {
			t.Errorf("Probe(%d).String() = %q, want %q", p, got, want)
		}
	}
	for s, want := range map[Status]string{StatusUnknown: "unknown", StatusPass: "pass", StatusWarn: "warn", StatusFail: "fail"} {
		if got := s.String(); got != want {
			t.Errorf("Status(%d).String() = %q, want %q", s, got, want)
		}
	}
}
