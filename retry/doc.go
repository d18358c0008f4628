// Package retry calls a downstream again when it fails, without making its
// outage worse: exponential backoff with jitter that never sleeps past the
// deadline, a retry budget per downstream, a circuit breaker on
// sony/gobreaker whose listeners run outside its lock, a client-side rate
// limit on golang.org/x/time/rate, and an http.RoundTripper composing them.
//
//	package main
//
//	import (
//		"context"
//		"errors"
//		"fmt"
//		"log"
//		"net/http"
//		"time"
//
//		"github.com/opskit/opskit/retry"
//	)
//
//	func main() {
//		// One Transport per downstream: it owns the retry budget and one
//		// breaker per host.
//		tr, err := retry.NewTransport(retry.Policy{
//			MaxAttempts:    3,
//			BaseDelay:      100 * time.Millisecond,
//			MaxDelay:       2 * time.Second,
//			AttemptTimeout: time.Second,
//		}, retry.WithName("inventory"))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer tr.Close()
//		client := &http.Client{Transport: tr}
//
//		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//		defer cancel()
//		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://inventory.internal/items/42", nil)
//		res, err := client.Do(req)
//		if err != nil {
//			var se *retry.StatusError
//			switch {
//			case errors.Is(err, retry.ErrCircuitOpen):
//				log.Print("inventory is down; not calling it")
//			case errors.As(err, &se):
//				log.Printf("inventory answered %d: %s", se.StatusCode, se.Body)
//			}
//			return
//		}
//		defer res.Body.Close()
//		fmt.Println(res.Status)
//	}
//
// For anything other than HTTP, Do retries a function with a Policy, and a
// Retrier (New) adds a budget, a breaker, a limiter and metrics:
//
//	err := retry.Do(ctx, retry.Policy{}, func(ctx context.Context) error {
//		return db.PingContext(ctx)
//	})
//
// # Defaults
//
// The zero Policy makes 3 attempts, waits with full jitter up to 100ms,
// then up to 200ms (doubling, capped at 10s), and retries every error
// except those marked Permanent, breaker and limiter refusals, and the
// caller's context ending. A Retrier and a Transport each get a retry
// budget of 10 tokens, earning 0.1 token per success. A breaker opens when,
// within a 60s rolling window, at least 20 calls completed and at least
// half failed; it stays open 10s, then lets one probe through.
//
// # Deadlines
//
// Before each wait, Do compares the wait with the context's deadline; if
// the retry could not start before it, Do returns at once, with an *Error
// matching context.DeadlineExceeded and the last error.
// Policy.AttemptTimeout bounds each attempt, and never beyond the caller's
// own deadline. A server's Retry-After is honoured, clamped to MaxDelay, and
// ends the call at once when it points past the deadline.
//
// # Budgets and breakers
//
// The budget stops retry storms: each retry spends a token and each
// success earns a fraction of one, so during an outage retries stop after
// a few and every call makes one attempt; load on the downstream is never
// multiplied by the attempt count. The breaker stops even those single
// attempts once the failure ratio says the downstream is down, and probes
// it again after its timeout. A caller's cancellation counts as neither
// success nor failure. Breakers.Check, Breaker.Check and Transport.Check are
// health checks reporting open breakers.
//
// # Errors
//
// Do returns nil or an *Error (attempts made, last error, reason);
// errors.Is matches ErrBudgetExhausted, context.DeadlineExceeded or
// context.Canceled through it, as well as the last error. A breaker's
// refusal is an *OpenError matching ErrCircuitOpen and gobreaker's own
// sentinels. The Transport's last failing response is a *StatusError
// (status, headers, the first 64 KiB of the body). Bad configuration is an
// error naming the field and value.
//
// # Concurrency
//
// Policies are values; Retrier, Breaker, Breakers, Budget, Limiter and
// Transport are safe for concurrent use. The success path of Do and of a
// breaker allocates nothing, reads the clock at most once (only when an
// attempt timeout or a limiter needs it; gobreaker reads the wall clock
// itself), and takes no lock of this package. Breaker listeners run one at
// a time, in order, outside every lock, on the goroutine whose call caused
// the change. No goroutine is started; Close only releases metrics.
//
// # Metrics
//
// Instruments (OpenTelemetry, meter "github.com/opskit/opskit/retry"):
// opskit.retry.attempts{outcome}, opskit.retry.calls{result},
// opskit.retry.delay (s), opskit.retry.budget.tokens,
// opskit.retry.budget.denied, opskit.retry.breaker.state{breaker} (0
// closed, 1 half-open, 2 open), opskit.retry.breaker.transitions{to},
// opskit.retry.breaker.requests{outcome}, opskit.retry.limiter.waits,
// opskit.retry.limiter.wait_time (s) and opskit.retry.limiter.rejections.
// Counters are atomics read at collection time.
package retry
