package retry

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"
)

// MaxErrorBody is how much of a failed response's body a StatusError
// keeps. The rest (up to maxDrain more) is read and discarded so that the
// connection can be reused.
const MaxErrorBody = 64 << 10

const maxDrain = 256 << 10

// StatusError is a response whose status the Transport treats as a
// failure (5xx and 429 by default). The Transport returns it, inside
// *Error, when it gives up; the response itself is already closed.
type StatusError struct {
	Method     string
	URL        string
	StatusCode int
	Status     string // e.g. "503 Service Unavailable"
	Header     http.Header
	Body       []byte // the first MaxErrorBody bytes of the body

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
		e.Body, _ = io.ReadAll(io.LimitReader(res.Body, MaxErrorBody))
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxDrain))
		_ = res.Body.Close()
	}
	e.retryAfter, e.hasRetryAfter = ParseRetryAfter(res.Header.Get("Retry-After"), now)
	return e
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds ("120")
// or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT", and the obsolete forms
// net/http accepts), relative to now. A date in the past means no wait.
// Huge values saturate instead of overflowing. ok is false for an empty or
// malformed value. It never panics.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
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
