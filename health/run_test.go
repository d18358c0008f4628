package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHangingCheckAnswersAtItsTimeout(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	defer close(release) // let the hung goroutine end before goleak looks
	var runs atomic.Int32
	started := make(chan struct{}, 2)
	f.MustRegister(Check{Name: "hang", Timeout: 2 * time.Second, Func: func(context.Context) error {
		runs.Add(1)
		started <- struct{}{}
		<-release // ignores its context on purpose
		return nil
	}})
	h := f.Handler(Readiness)
	answer := make(chan probe, 1)
	go func() { answer <- get(t, h, "/readyz?verbose", loopback, "") }()
	<-started // the run is under way and its timeout timer is armed
	select {
	case got := <-answer:
		t.Fatalf("answered before the timeout: %+v", got)
	default:
	}
	f.clock.Advance(2 * time.Second)
	got := <-answer
	if got.code != http.StatusServiceUnavailable || !strings.Contains(got.body, `[-]hang failed: health: check timed out: "hang" after 2s`) {
		t.Fatalf("hung check: %d %q, want 503 with the timeout", got.code, got.body)
	}
	// The hung run still holds the in-flight slot: the next probe gets its
	// failed result at once instead of stacking a second goroutine.
	if got := get(t, h, "/readyz", "", ""); got.code != http.StatusServiceUnavailable {
		t.Fatalf("probe during the hang: %d, want 503", got.code)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("runs = %d, want 1 while the first is hung", n)
	}
}

func TestCheckSeesItsContextCancelledAtTimeout(t *testing.T) {
	f := newFixture(t)
	cause := make(chan error, 1)
	f.MustRegister(Check{Name: "polite", Timeout: time.Second, Func: func(ctx context.Context) error {
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctx.Err()
	}})
	answer := make(chan probe, 1)
	go func() { answer <- get(t, f.Handler(Readiness), "/readyz", "", "") }()
	f.clock.WaitForTimers(1)
	f.clock.Advance(time.Second)
	if got := <-answer; got.code != http.StatusServiceUnavailable {
		t.Fatalf("code %d, want 503", got.code)
	}
	if err := <-cause; !errors.Is(err, ErrTimeout) {
		t.Fatalf("context cause %v, want ErrTimeout", err)
	}
}

func TestPanickingCheckIsAFailure(t *testing.T) {
	f := newFixture(t)
	f.MustRegister(Check{Name: "boom", Func: func(context.Context) error { panic("kaboom") }})
	got := get(t, f.Handler(Readiness), "/readyz?verbose", loopback, "")
	if got.code != http.StatusServiceUnavailable || !strings.Contains(got.body, `[-]boom failed: health: check "boom" panicked: kaboom`) {
		t.Fatalf("panicking check: %d %q, want 503 with the panic", got.code, got.body)
	}
	sc := f.next(t)
	var pe *PanicError
	if !errors.As(sc.Err, &pe) || pe.Value != "kaboom" || pe.Check != "boom" {
		t.Fatalf("listener error %v, want *PanicError{boom, kaboom}", sc.Err)
	}
	wrapped := &PanicError{Check: "x", Value: context.Canceled}
	if !errors.Is(wrapped, context.Canceled) {
		t.Fatal("PanicError does not unwrap an error value")
	}
}

func TestConcurrentProbesShareOneRun(t *testing.T) {
	const probes = 100
	f := newFixture(t)
	waiting := make(chan struct{}, probes)
	f.testHookWait = func() { waiting <- struct{}{} }
	release := make(chan struct{})
	var runs atomic.Int32
	f.MustRegister(Check{Name: "slow", Func: func(context.Context) error {
		runs.Add(1)
		<-release
		return nil
	}})
	h := f.Handler(Readiness)
	codes := make(chan int, probes)
	var wg sync.WaitGroup
	for range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			codes <- rec.Code
		}()
	}
	for range probes { // every probe is waiting on a run: none queued on a lock
		<-waiting
	}
	close(release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Fatalf("a probe answered %d, want 200", code)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("check ran %d times for %d concurrent probes, want 1", n, probes)
	}
}

func TestProbeReturnsWhenClientGoesAway(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	defer close(release)
	f.MustRegister(Check{Name: "slow", Func: func(context.Context) error { <-release; return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Handler(Readiness).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil).WithContext(ctx))
	}()
	f.clock.WaitForTimers(1)
	cancel()
	<-done
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("code %d, want 503", rec.Code)
	}
}

// Unregister returns once the loop has stopped: its ticker is gone from
// the clock and no later tick runs the check.
func TestUnregisterStopsBackgroundLoop(t *testing.T) {
	f := newFixture(t)
	var runs atomic.Int32
	f.MustRegister(Check{Name: "bg", Interval: time.Second, Func: func(context.Context) error {
		runs.Add(1)
		return nil
	}})
	_ = f.Start()
	f.next(t)
	f.clock.WaitForTimers(1) // the loop's ticker
	if err := f.Unregister("bg"); err != nil {
		t.Fatal(err)
	}
	if n := f.clock.Timers(); n != 0 {
		t.Fatalf("%d timers still armed after Unregister, want the loop's ticker stopped", n)
	}
	f.clock.Advance(10 * time.Second)
	if n := runs.Load(); n != 1 {
		t.Fatalf("check ran %d times, want 1", n)
	}
}

func TestRegisterAfterStartRunsAtOnce(t *testing.T) {
	f := newFixture(t)
	_ = f.Start()
	f.MustRegister(Check{Name: "late", Interval: time.Minute, Func: pass})
	if sc := f.next(t); sc.Check != "late" || sc.New != StatusPass {
		t.Fatalf("change %+v, want late→pass", sc)
	}
}

func TestRun(t *testing.T) {
	f := newFixture(t)
	f.MustRegister(Check{Name: "x", Interval: time.Hour, Func: func(context.Context) error { return errors.New("nope") }})
	if err := f.Run(context.Background(), "x"); err == nil || err.Error() != "nope" {
		t.Fatalf("Run = %v, want nope", err)
	}
	if err := f.Run(context.Background(), "y"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Run unknown = %v, want ErrNotFound", err)
	}
	_ = f.Close()
	if err := f.Run(context.Background(), "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
}

func TestProbeDoesNotWaitForOtherProbesSlowCheck(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	f.MustRegister(
		Check{Name: "slow", Func: func(context.Context) error { entered <- struct{}{}; <-release; return nil }},
		Check{Name: "quick", Probes: Liveness, Func: pass},
	)
	m := mux(f.Checker)
	done := make(chan probe, 1)
	go func() { done <- get(t, m, "/readyz", "", "") }()
	<-entered
	if got := get(t, m, "/livez", "", ""); got.code != http.StatusOK {
		t.Fatalf("/livez while a readiness check hangs: %d, want 200", got.code)
	}
	close(release)
	if got := <-done; got.code != http.StatusOK {
		t.Fatalf("/readyz after release: %d, want 200", got.code)
	}
}

func TestRegisterWhileProbing(t *testing.T) {
	f := newFixture(t)
	_ = f.Start()
	h := f.Handler(AllProbes)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 50 {
			name := "c" + string(rune('a'+i%26))
			_ = f.Register(Check{Name: name, Func: pass, Interval: time.Second * time.Duration(i%2)})
			_ = f.Unregister(name)
		}
	}()
	go func() {
		defer wg.Done()
		for range 50 {
			get(t, h, "/healthz?verbose", "", "")
		}
	}()
	wg.Wait()
}
