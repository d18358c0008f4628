// Package retry calls a downstream again when it fails, without making its
// outage worse: exponential backoff with jitter that never sleeps past the
// deadline, a retry budget per downstream, a circuit breaker on
// sony/gobreaker whose listeners run outside its lock, a client-side rate
// limit on golang.org/x/time/rate, client-side adaptive throttling, and an
// http.RoundTripper composing them.
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
//		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://inventory.internal/items/42", nil)
//		if err != nil {
//			log.Fatal(err)
//		}
//		res, err := client.Do(req)
//		if err != nil {
//			var se *retry.StatusError
//			switch {
//			case errors.Is(err, retry.ErrCircuitOpen):
//				log.Print("inventory is down; not calling it")
//			case errors.As(err, &se):
//				log.Printf("inventory answered %d: %s", se.StatusCode, se.Body)
//			default:
//				log.Print(err)
//			}
//			return
//		}
//		defer res.Body.Close()
//		fmt.Println(res.Status)
//	}
//
// For anything other than HTTP, Do retries a function with a Policy, and a
// Retrier (New) adds a budget, a breaker, a limiter, a clock and metrics;
// DoValue does the same for a function that returns a value:
//
//	err := retry.Do(ctx, retry.Policy{}, func(ctx context.Context) error {
//		return db.PingContext(ctx)
//	})
//	n, err := retry.DoValue(ctx, retrier, func(ctx context.Context) (int, error) {
//		return countRows(ctx, db)
//	})
//
// # Options
//
// Each constructor takes only the options it reads, so an option it would
// ignore does not compile: New takes Option values, NewTransport
// TransportOption, NewBreaker and NewBreakers BreakerOption, and NewLimiter
// CommonOption. WithName, WithClock and WithMeterProvider (CommonOption)
// fit every constructor; WithBudget and WithLimiter (ClientOption) fit New
// and NewTransport; WithLogger fits the breakers and NewTransport (for the
// breakers it makes); WithBreaker fits only New, WithBreakers and WithBase
// only NewTransport, as does WithThrottle.
//
// # Defaults
//
// The zero Policy makes 3 attempts, waits with full jitter up to 100ms,
// then up to 200ms (doubling, capped at 10s), and retries every error
// except those marked Permanent, certificate errors, breaker and limiter
// refusals, and the caller's context ending. A Retrier and a Transport each
// get a retry budget of 10 tokens, earning 0.1 token per success; the zero
// Budget{} is that same default budget. A breaker opens when, within a 60s
// rolling window, at least 20 calls completed and at least half failed; it
// stays open 10s, then lets one probe through (half-open). A zero Breaker,
// Breakers or Limiter is refused by the constructors it is passed to: make
// them with NewBreaker, NewBreakers and NewLimiter.
//
// # Time
//
// Every wait, attempt timeout, rate-limiter refill, throttling window and
// breaker open timeout follows the clock given by WithClock (default clock.Real()), so
// a test with a clock.Fake drives backoff, timeouts and the breaker's
// open → half-open step by advancing it, without sleeping. One exception
// remains: the breaker's rolling window (BreakerSettings.Window and
// Buckets) is counted by gobreaker, which reads the wall clock itself, so
// on a fake clock old outcomes leave the window only as real time passes.
// The bare Do function always uses the wall clock.
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
// it again after its open timeout. Breakers.Check, Breaker.Check and
// Transport.Check are health checks reporting open breakers.
//
// What a breaker counts: errors, attempt timeouts (Policy.AttemptTimeout)
// and, through the Transport, 5xx answers are failures. Some outcomes say
// nothing about the downstream's health and count as neither success nor
// failure: the caller's own cancellation or deadline (so a caller with a
// deadline shorter than a hanging downstream never trips the breaker: set
// AttemptTimeout below your callers' deadlines so that a hang counts),
// certificate errors (a configuration problem, never retried either), and
// 429 Too Many Requests (the downstream is up and asks for patience: the
// Transport retries it after its Retry-After, and each of those retries
// spends the budget). 501 Not Implemented and every other status below 500
// are answers, returned as they are, and count as successes.
//
// # Adaptive throttling
//
// A Transport also throttles itself when its downstream refuses most of
// what it is sent, as the Google SRE book's client-side throttling does:
// over a two-minute window it counts the requests it attempted and those
// the downstream accepted, and refuses a request locally with probability
// max(0, (requests − K·accepts − 10) / (requests + 1)), K = 2 by default
// (WithThrottle; 0 turns it off). A refusal matches ErrRateLimited and is
// not retried. A downstream accepting at least half of its requests is
// never throttled; one that answers 429 to a load of three times its
// capacity receives about twice its capacity instead of three times, and
// serves as much as before (BenchmarkTransportThrottle in benchmarks/:
// sent/offered 1.00 → 0.67, served/capacity 1.00 → 1.00). That is the case
// breakers leave alone, since they do not count 429s; against 503s the
// breaker acts first. It is on by default because its cost is one clock
// read per request (shared with the limiter and the attempt timeout when
// either is set) and a few atomic operations, with no allocation.
//
// # Errors
//
// Do returns nil or an *Error (attempts made, last error, reason);
// errors.Is matches ErrBudgetExhausted, context.DeadlineExceeded or
// context.Canceled through it, as well as the last error. Permanent marks
// an error that must not be retried, and IsPermanent finds that mark
// through any wrapping (fmt.Errorf's %w, errors.Join, *Error), so other
// packages — the queue among them — stop on it too. A breaker's refusal
// is an *OpenError matching ErrCircuitOpen; a rate limiter's refusal
// matches ErrRateLimited. The Transport's last failing response is a
// *StatusError (status, headers, the first 64 KiB of the body). Bad
// configuration is an error naming the field and value. Every message
// starts with "retry: ".
//
// # Concurrency and shutdown
//
// Policies are values; Retrier, Breaker, Breakers, Budget, Limiter and
// Transport are safe for concurrent use. The success path of Do and of a
// breaker allocates nothing and takes no lock of this package; it reads
// the clock once, only when the adaptive throttle (on by default in a
// Transport), a limiter or an attempt timeout needs it (gobreaker reads the
// wall clock for its window). Breaker listeners run one at a
// time, in order, outside every lock, on the goroutine whose call caused
// the change. The package starts no goroutine, so nothing needs a
// Shutdown: Close only releases metrics (and, for a Transport, the idle
// connections of its base transport), and waits for nothing. The request
// body given to a Transport is closed on every path, refusals included.
//
// # Metrics
//
// Instruments (OpenTelemetry, meter "github.com/opskit/opskit/retry"),
// each with a downstream attribute (WithName): opskit.retry.attempts{outcome},
// opskit.retry.calls{result}, opskit.retry.delay (s),
// opskit.retry.budget.tokens, opskit.retry.budget.denied,
// opskit.retry.breaker.state{breaker} (0 closed, 1 half-open, 2 open),
// opskit.retry.breaker.transitions{to},
// opskit.retry.breaker.requests{outcome}, opskit.retry.limiter.waits,
// opskit.retry.limiter.wait_time (s), opskit.retry.limiter.rejections and
// opskit.retry.throttle.rejections.
// Counters are atomics read at collection time.
package retry
