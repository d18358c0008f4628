package overload_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/overload"
)

// Acquire before the work, Release after it. The first probe holds the
// limit at its minimum for one window; probes (Exempt) are admitted
// whatever the limit.
func Example() {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	limiter, err := overload.New(overload.WithClock(fake), overload.WithLimits(2, 20, 100),
		overload.WithWindow(10*time.Millisecond, 4))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer limiter.Close()

	fmt.Println("limit during the first probe:", limiter.Limit())
	a, _ := limiter.Acquire(overload.Critical)
	b, _ := limiter.Acquire(overload.Critical)
	_, ok := limiter.Acquire(overload.Critical)
	fmt.Println("third critical admitted:", ok)
	_, ok = limiter.Acquire(overload.Exempt)
	fmt.Println("probe admitted:", ok)

	// Two rounds of work taking 10ms each close the probe's window.
	for range 2 {
		fake.Advance(10 * time.Millisecond)
		a.Release()
		b.Release()
		a, _ = limiter.Acquire(overload.Normal)
		b, _ = limiter.Acquire(overload.Normal)
	}
	a.Release()
	b.Release()
	fmt.Println("limit after the probe:", limiter.Limit())
	fmt.Println("critical refused:", limiter.Shed(overload.Critical))
	// Output:
	// limit during the first probe: 2
	// third critical admitted: false
	// probe admitted: true
	// limit after the probe: 20
	// critical refused: 1
}

// The middleware answers 503 with Retry-After when the limit is reached,
// before the handler runs; probe paths are still served.
func ExampleLimiter_Handler() {
	limiter, err := overload.New(overload.WithLimits(1, 1, 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer limiter.Close()
	handler, err := limiter.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "served", r.URL.Path)
	}), overload.WithRetryAfter(2*time.Second))
	if err != nil {
		fmt.Println(err)
		return
	}

	busy, _ := limiter.Acquire(overload.Critical) // the one slot, taken
	for _, path := range []string{"/api/orders", "/livez"} {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code, rec.Header().Get("Retry-After"))
	}
	busy.Release()
	// Output:
	// /api/orders 503 2
	// /livez 200
}

// Priorities from configuration or a trusted header.
func ExampleParsePriority() {
	p, err := overload.ParsePriority("Critical")
	fmt.Println(p, err)
	_, err = overload.ParsePriority("urgent")
	fmt.Println(err)
	// Output:
	// critical <nil>
	// overload: unknown priority "urgent" (want background, normal, critical or exempt)
}
