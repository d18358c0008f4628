package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/opskit/opskit/clock"
)

// ErrBodyNotRewindable is the Reason of the *Error a Transport returns
// when a request needed a retry but its body could not be sent again
// (the request has a body and no GetBody). http.NewRequest sets GetBody
// for *bytes.Buffer, *bytes.Reader and *strings.Reader bodies.
var ErrBodyNotRewindable = errors.New("retry: request body cannot be rewound (no GetBody)")

// IdempotencyKeyHeader marks a request as safe to retry whatever its
// method; the same key is sent on every attempt.
const IdempotencyKeyHeader = "Idempotency-Key"

// Transport is an http.RoundTripper that sends each request through a
// rate limiter, the breaker of the request's host, and the retry loop
// with its budget. It retries only idempotent methods (GET, HEAD,
// OPTIONS, TRACE, PUT, DELETE) and requests carrying an Idempotency-Key
// header; others get one attempt (still through limiter and breaker).
//
// A response with status 5xx (except 501 Not Implemented) or 429 is a
// failure: it is retried (waiting as its Retry-After header asks, clamped
// to Policy.MaxDelay; a wait that would pass the deadline ends the call at
// once), each retry spending the budget, and when the Transport gives up,
// RoundTrip returns an *Error whose Last is a *StatusError holding the
// status, headers and body head. Policy.Retryable sees *StatusError values
// and can narrow this. Other responses, 501 included (retrying will not
// implement the method), are returned as they are.
//
// What counts against a host's breaker: transport errors, attempt
// timeouts and 5xx answers. What does not: 429 (the host is up and asks
// for patience), certificate errors (never retried either: ours to fix),
// 501 and every other answer below 500 (counted as successes), and the
// caller's own cancellation or deadline.
//
// RoundTrip closes the request body on every path, refusals included, as
// the RoundTripper contract asks. Policy.AttemptTimeout bounds each
// attempt until its response body is closed. Make one Transport per
// downstream: it holds one retry budget, and one breaker per host.
type Transport struct {
	base     http.RoundTripper
	policy   Policy
	budget   *Budget
	breakers *Breakers
	ownsBrks bool
	limiter  *Limiter
	throttle *throttle
	clock    clock.Clock
	stats    retryStats
	reg      registration
}

// NewTransport returns a Transport for p.
func NewTransport(p Policy, opts ...TransportOption) (*Transport, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cfg := configure(opts, TransportOption.applyTransport)
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Transport{
		base:     cfg.base,
		policy:   p,
		budget:   cfg.budgetOr(),
		breakers: cfg.breakers,
		limiter:  cfg.limiter,
		throttle: newThrottle(cfg.throttleK),
		clock:    cfg.clock,
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.breakers == nil {
		b, err := newBreakers(BreakerSettings{}, 0, cfg)
		if err != nil {
			return nil, err
		}
		t.breakers, t.ownsBrks = b, true
	}
	reg, err := t.stats.register(cfg.meterProvider, cfg.name, t.budget, t.throttle)
	if err != nil {
		if t.ownsBrks {
			_ = t.breakers.Close()
		}
		return nil, fmt.Errorf("retry: metrics: %w", err)
	}
	t.reg.set(reg)
	return t, nil
}

// Breakers returns the per-host breakers, to read their states or listen
// to their changes.
func (t *Transport) Breakers() *Breakers { return t.breakers }

// Budget returns the retry budget (nil when budgeting is off).
func (t *Transport) Budget() *Budget { return t.budget }

// Check is a health check that fails while any host's breaker is open.
func (t *Transport) Check(ctx context.Context) error { return t.breakers.Check(ctx) }

// Close releases the Transport's metrics and, when it made them, its
// breakers', and closes the base transport's idle connections. A
// Transport starts no goroutine, so there is nothing to shut down; Close
// does not wait for requests in flight.
func (t *Transport) Close() error {
	var errs []error
	errs = append(errs, t.reg.release())
	if t.ownsBrks {
		errs = append(errs, t.breakers.Close())
	}
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// idempotent reports whether the Transport may send req more than once.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get(IdempotencyKeyHeader) != ""
}

// failingStatus reports the statuses the Transport treats as failures.
func failingStatus(code int) bool {
	return (code >= 500 && code != http.StatusNotImplemented) || code == http.StatusTooManyRequests
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.breakers == nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errors.New("retry: the Transport is a zero value; make it with NewTransport")
	}
	ctx := req.Context()
	p := t.policy
	if !idempotent(req) {
		p.MaxAttempts = 1
	}
	timeout := p.AttemptTimeout
	p.AttemptTimeout = 0 // the Transport bounds attempts itself, up to Body.Close
	hasBody := req.Body != nil && req.Body != http.NoBody
	e := engine{policy: p, budget: t.budget, breaker: t.breakers.Get(req.URL.Host),
		limiter: t.limiter, throttle: t.throttle, clock: t.clock, stats: &t.stats, readNow: timeout > 0}

	var (
		resp     *http.Response
		attempt  int
		sent     bool // the base transport took req.Body, and closes it
		noRewind bool
	)
	err := e.run(ctx, func(ctx context.Context) error {
		attempt++
		r := req
		stop := context.CancelFunc(func() {})
		if timeout > 0 {
			var actx context.Context
			actx, stop = attemptContext(ctx, t.clock, e.started, timeout)
			r = req.WithContext(actx)
		}
		if sent && hasBody {
			body, err := req.GetBody()
			if err != nil {
				stop()
				return Permanent(fmt.Errorf("retry: rewinding the request body: %w", err))
			}
			if r == req {
				r = req.WithContext(ctx)
			}
			r.Body = body
		}
		sent = true
		res, err := t.base.RoundTrip(r)
		if err == nil && failingStatus(res.StatusCode) {
			err = newStatusError(req, res, t.clock.Now())
		}
		if err != nil {
			stop()
			if hasBody && req.GetBody == nil && attempt < p.attempts() && e.retryable(err) {
				noRewind = true
				return Permanent(err)
			}
			return err
		}
		if timeout > 0 {
			res.Body = &stopOnClose{ReadCloser: res.Body, stop: stop}
		}
		resp = res
		return nil
	})
	if hasBody && !sent {
		_ = req.Body.Close() // refused before any attempt: nobody else will
	}
	if err != nil {
		if re, ok := err.(*Error); ok && noRewind {
			re.Reason = ErrBodyNotRewindable
		}
		return nil, err
	}
	return resp, nil
}

// stopOnClose ends an attempt's context when its response body is closed.
type stopOnClose struct {
	io.ReadCloser
	stop func()
}

func (s *stopOnClose) Close() error {
	err := s.ReadCloser.Close()
	s.stop()
	return err
}

// maxErrorBody is how much of a failed response's body a StatusError
// keeps. The rest (up to maxDrain more) is read and discarded so that the
// connection can be reused.
const maxErrorBody = 64 << 10

const maxDrain = 256 << 10

// StatusError is a response whose status the Transport treats as a
// failure (5xx but 501, and 429). The Transport returns it, inside
// *Error, when it gives up; the response itself is already closed. It
// carries the Retry-After wait (RetryAfter), so Do honours it too.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	Status     string // e.g. "503 Service Unavailable"
	Header     http.Header
	Body       []byte // the first 64 KiB of the body

	retryAfter    time.Duration
	hasRetryAfter bool
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("retry: %s %s: %s", e.Method, e.URL, e.Status)
}

// RetryAfter returns the wait the server asked for with Retry-After.
func (e *StatusError) RetryAfter() (time.Duration, bool) { return e.retryAfter, e.hasRetryAfter }

// newStatusError keeps the head of res's body, drains and closes it.
func newStatusError(req *http.Request, res *http.Response, now time.Time) *StatusError {
	e := &StatusError{
		Method:     req.Method,
		URL:        req.URL.Redacted(),
		StatusCode: res.StatusCode,
		Status:     res.Status,
		Header:     res.Header,
	}
	if e.Status == "" {
		e.Status = fmt.Sprintf("%d %s", res.StatusCode, http.StatusText(res.StatusCode))
	}
	if res.Body != nil {
		e.Body, _ = io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
		_ = res.Body.Close()
	}
	e.retryAfter, e.hasRetryAfter = parseRetryAfter(res.Header.Get("Retry-After"), now)
	return e
}

// parseRetryAfter reads a Retry-After header value: delay-seconds ("120")
// or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT", and the obsolete forms
// net/http accepts), relative to now. A date in the past means no wait.
// Huge values saturate instead of overflowing. ok is false for an empty or
// malformed value. It never panics.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if isDigits(v) {
		const maxSeconds = math.MaxInt64 / int64(time.Second)
		var secs int64
		for i := 0; i < len(v); i++ {
			secs = secs*10 + int64(v[i]-'0')
			if secs > maxSeconds {
				return time.Duration(math.MaxInt64), true
			}
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true // Sub saturates for distant dates
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}
