package health_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/health"
)

// show prints the status and body of a GET of target; remote is the
// client address (loopback may see failure reasons).
func show(h http.Handler, target, remote, accept string) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.RemoteAddr = remote
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Printf("%s → %d\n%s\n", target, rec.Code, rec.Body.String())
}

func quiet() health.Option { return health.WithLogger(slog.New(slog.DiscardHandler)) }

func Example() {
	checker, _ := health.New(quiet())
	defer checker.Close()
	checker.MustRegister(
		health.Check{Name: "db", Func: func(context.Context) error { return nil }},
		health.Check{Name: "queue", Func: func(context.Context) error { return errors.New("disk full") }},
		health.Check{Name: "ping", Probes: health.Liveness, Func: func(context.Context) error { return nil }},
	)
	mux := http.NewServeMux()
	checker.Mount(mux)

	show(mux, "/livez", "10.0.0.7:5555", "")
	show(mux, "/readyz", "10.0.0.7:5555", "")
	show(mux, "/readyz?verbose", "127.0.0.1:5555", "")
	show(mux, "/readyz?exclude=queue", "10.0.0.7:5555", "")
	show(mux, "/readyz/db", "10.0.0.7:5555", "")
	// Output:
	// /livez → 200
	// ok
	// /readyz → 503
	// [+]db ok
	// [-]queue failed: reason withheld
	// readyz check failed
	//
	// /readyz?verbose → 503
	// [+]db ok
	// [-]queue failed: disk full
	// readyz check failed
	//
	// /readyz?exclude=queue → 200
	// ok
	// /readyz/db → 200
	// ok
}

// A non-critical check that fails makes the probe warn: still 200.
func ExampleCheck_nonCritical() {
	checker, _ := health.New(quiet())
	defer checker.Close()
	checker.MustRegister(health.Check{Name: "downstream", NonCritical: true,
		Func: func(context.Context) error { return errors.New("connection refused") }})
	show(checker.Handler(health.Readiness), "/readyz?verbose", "[::1]:5555", "")
	// Output:
	// /readyz?verbose → 200
	// [!]downstream warn: connection refused
	// readyz check passed with warnings
}

// Background checks run every Interval after Start; probes read the
// latest result. JSON is served when the client asks for it.
func ExampleChecker_Start() {
	fake := clock.NewFake(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC))
	changed := make(chan health.StatusChange, 1)
	checker, _ := health.New(quiet(), health.WithClock(fake),
		health.WithListener(func(sc health.StatusChange) { changed <- sc }))
	defer checker.Close()
	checker.MustRegister(health.Check{Name: "cache", Interval: 10 * time.Second,
		Func: func(context.Context) error { return nil }})
	_ = checker.Start()
	sc := <-changed
	fmt.Println(sc.Check, sc.Old, "→", sc.New)
	show(checker.Handler(health.Readiness), "/readyz", "10.0.0.7:5555", "application/health+json")
	// Output:
	// cache unknown → pass
	// /readyz → 200
	// {"status":"pass","checks":{"cache":[{"status":"pass","time":"2025-01-02T03:04:05Z"}]}}
}

// Drain makes readiness fail while liveness passes.
func ExampleChecker_Drain() {
	checker, _ := health.New(quiet())
	defer checker.Close()
	checker.MustRegister(health.Check{Name: "db", Probes: health.Liveness | health.Readiness,
		Func: func(context.Context) error { return nil }})
	checker.Drain()
	mux := http.NewServeMux()
	checker.Mount(mux)
	show(mux, "/readyz?verbose", "127.0.0.1:5555", "")
	show(mux, "/livez", "127.0.0.1:5555", "")
	// Output:
	// /readyz?verbose → 503
	// [-]shutdown failed: health: shutting down
	// [+]db ok
	// readyz check failed
	//
	// /livez → 200
	// ok
}

func ExampleGoroutines() {
	check := health.Goroutines(1_000_000)
	fmt.Println(check(context.Background()))
	// Output: <nil>
}

// Shutdown is bounded by its context: a check that ignores its own
// context cannot hold the service's exit hostage, and the error names it.
func ExampleChecker_Shutdown() {
	checker, _ := health.New(quiet())
	entered, release := make(chan struct{}), make(chan struct{})
	checker.MustRegister(health.Check{Name: "stubborn", Func: func(context.Context) error {
		close(entered)
		<-release // ignores its context
		return nil
	}})
	go func() { _ = checker.Run(context.Background(), "stubborn") }()
	<-entered

	outOfTime, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(checker.Shutdown(outOfTime))

	close(release)
	fmt.Println(checker.Shutdown(context.Background()))
	// Output:
	// health: shutdown: checks still running, their goroutines end when they return: stubborn (1): context canceled
	// <nil>
}

// Behind a reverse proxy on the same host every request comes from
// loopback; reasons are shown only when a trusted proxy says the client
// itself is local.
func ExampleWithTrustedProxies() {
	checker, _ := health.New(quiet(), health.WithTrustedProxies(netip.MustParsePrefix("127.0.0.1/32")))
	defer checker.Close()
	checker.MustRegister(health.Check{Name: "db",
		Func: func(context.Context) error { return errors.New("dial postgres://app:hunter2@db/orders: refused") }})
	h := checker.Handler(health.Readiness)
	for _, client := range []string{"198.51.100.23", "127.0.0.1"} {
		req := httptest.NewRequest(http.MethodGet, "/readyz/db?verbose", nil)
		req.RemoteAddr = "127.0.0.1:41000" // the proxy
		req.Header.Set("X-Forwarded-For", client)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(client, ": ", rec.Body.String())
	}
	// Output:
	// 198.51.100.23: [-]db failed: reason withheld
	// readyz/db check failed
	// 127.0.0.1: [-]db failed: dial postgres://app:xxxxx@db/orders: refused
	// readyz/db check failed
}
