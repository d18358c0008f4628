package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is what Do returns when it gives up: how many attempts it made,
// the last attempt's error, and why it stopped when that was not simply
// running out of attempts or a permanent error. errors.Is matches both
// Last and Reason, so a caller can test for context.DeadlineExceeded and
// for its own error on the same value.
type Error struct {
	Attempts int   // calls made, the first one included
	Last     error // the last attempt's error (unwrapped from Permanent)
	// Reason is nil when the attempts ran out or the error was not
	// retryable; otherwise one of context.DeadlineExceeded (the next wait
	// would cross the deadline, or it passed), context.Canceled,
	// ErrBudgetExhausted, ErrBodyNotRewindable, or the caller context's
	// cause.
	Reason error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("retry: ")
	switch {
	case e.Reason != nil:
		fmt.Fprintf(&b, "gave up after %d attempt(s): %v", e.Attempts, trimPrefix(e.Reason))
	default:
		fmt.Fprintf(&b, "failed after %d attempt(s)", e.Attempts)
	}
	if e.Last != nil {
		fmt.Fprintf(&b, ": last error: %s", trimPrefix(e.Last))
	}
	return b.String()
}

// trimPrefix keeps "retry: " from repeating inside one message.
func trimPrefix(err error) string { return strings.TrimPrefix(err.Error(), "retry: ") }

// Unwrap returns Reason and Last, whichever are set.
func (e *Error) Unwrap() []error {
	switch {
	case e.Reason == nil:
		return []error{e.Last}
	case e.Last == nil:
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Last}
}

// permanent marks an error that must not be retried.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent wraps err so that Do stops at once and returns it (inside
// *Error, whose Last is err itself). Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// IsPermanent reports whether err, or any error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

// unpermanent strips the Permanent marker so that Error.Last holds the
// caller's own error.
func unpermanent(err error) error {
	var p *permanent
	if errors.As(err, &p) && p == err {
		return p.err
	}
	return err
}

// Hint lets an error ask for a specific wait before the next retry, as an
// HTTP Retry-After header does. Do clamps the wait to Policy.MaxDelay and
// gives up at once when it would cross the deadline. *StatusError
// implements it.
type Hint interface {
	error
	RetryAfter() (time.Duration, bool)
}

// After wraps err with a retry-after hint of d.
func After(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &afterError{err: err, d: d}
}

type afterError struct {
	err error
	d   time.Duration
}

func (a *afterError) Error() string                     { return a.err.Error() }
func (a *afterError) Unwrap() error                     { return a.err }
func (a *afterError) RetryAfter() (time.Duration, bool) { return a.d, true }

// hintOf returns the retry-after hint carried by err, if any.
func hintOf(err error) (time.Duration, bool) {
	var h Hint
	if errors.As(err, &h) {
		return h.RetryAfter()
	}
	return 0, false
}

// notDownstreamFault reports errors that say nothing about the
// downstream's health, which breakers count as neither success nor
// failure: the caller's context ending, certificate errors, and 429.
func notDownstreamFault(ctx context.Context, err error) bool {
	if ctx.Err() != nil || certificateError(err) {
		return true
	}
	var se *StatusError
	return errors.As(err, &se) && se.StatusCode == http.StatusTooManyRequests
}

// certificateError reports a TLS certificate that failed verification:
// retrying will not fix it, and it is ours to fix, not the downstream's
// failure.
func certificateError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		invalid   x509.CertificateInvalidError
		hostname  x509.HostnameError
		roots     x509.SystemRootsError
		insecure  x509.InsecureAlgorithmError
		critical  x509.UnhandledCriticalExtension
		violation x509.ConstraintViolationError
	)
	return errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &invalid) ||
		errors.As(err, &hostname) || errors.As(err, &roots) || errors.As(err, &insecure) ||
		errors.As(err, &critical) || errors.As(err, &violation)
}

// callerStopped reports whether err is the caller's context ending (as
// opposed to an attempt's own timeout): then there is nobody left to retry
// for, and breakers must not count it.
func callerStopped(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
