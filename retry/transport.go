package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/internal/clock"
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
// A response with status 5xx or 429 is a failure: it is retried (waiting
// as its Retry-After header asks, clamped to Policy.MaxDelay; a wait that
// would pass the deadline ends the call at once), and when the Transport
// gives up, RoundTrip returns an *Error whose Last is a *StatusError
// holding the status, headers and body head. Policy.Retryable sees
// *StatusError values and can narrow this. Other responses are returned
// as they are.
//
// Policy.AttemptTimeout bounds each attempt until its response body is
// closed. Make one Transport per downstream: it holds one retry budget,
// and one breaker per host.
type Transport struct {
	base     http.RoundTripper
	policy   Policy
	budget   *Budget
	breakers *Breakers
	ownsBrks bool
	limiter  *Limiter
	clock    clock.Clock
	stats    retryStats
	reg      metric.Registration
}

// NewTransport returns a Transport for p. It reads WithBase, WithName,
// WithBudget, WithBreakers (default: a new Breakers with default
// settings, owned and closed by the Transport), WithLimiter, WithClock,
// WithLogger and WithMeterProvider.
func NewTransport(p Policy, opts ...Option) (*Transport, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	cfg := newConfig(opts)
	t := &Transport{
		base:     cfg.base,
		policy:   p,
		budget:   cfg.budgetFor(p),
		breakers: cfg.breakers,
		limiter:  cfg.limiter,
		clock:    cfg.clock,
	}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.breakers == nil {
		b, err := NewBreakers(BreakerSettings{}, 0, opts...)
		if err != nil {
			return nil, err
		}
		t.breakers, t.ownsBrks = b, true
	}
	reg, err := t.stats.register(cfg.meterProvider, cfg.downstream(), t.budget)
	if err != nil {
		if t.ownsBrks {
			_ = t.breakers.Close()
		}
		return nil, fmt.Errorf("retry: metrics: %w", err)
	}
	t.reg = reg
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
// breakers', and closes the base transport's idle connections.
func (t *Transport) Close() error {
	var errs []error
	if t.reg != nil {
		errs = append(errs, t.reg.Unregister())
		t.reg = nil
	}
	if t.ownsBrks {
		errs = append(errs, t.breakers.Close())
	}
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// Retriable reports whether the Transport may send req more than once.
func Retriable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return req.Header.Get(IdempotencyKeyHeader) != ""
}

// failingStatus reports the statuses the Transport treats as failures.
func failingStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	p := t.policy
	if !Retriable(req) {
		p.MaxAttempts = 1
	}
	timeout := p.AttemptTimeout
	p.AttemptTimeout = 0 // the Transport bounds attempts itself, up to Body.Close
	hasBody := req.Body != nil && req.Body != http.NoBody
	e := engine{policy: p, budget: t.budget, breaker: t.breakers.Get(req.URL.Host),
		limiter: t.limiter, clock: t.clock, stats: &t.stats}

	var (
		resp     *http.Response
		attempt  int
		noRewind bool
	)
	err := e.run(ctx, func(ctx context.Context) error {
		attempt++
		r := req
		stop := func() {}
		if timeout > 0 {
			var actx context.Context
			actx, stop = newAttemptContext(ctx, t.clock, t.clock.Now(), timeout)
			r = req.WithContext(actx)
		}
		if attempt > 1 && hasBody {
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
