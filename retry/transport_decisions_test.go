package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opskit/opskit/internal/timer"
)

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

// TestTransportClosesBodyOnEveryPath holds RoundTrip to the RoundTripper
// contract: the request body is closed whether the request was sent or
// refused before any attempt.
func TestTransportClosesBodyOnEveryPath(t *testing.T) {
	newReq := func() (*http.Request, *closeCounter) {
		body := &closeCounter{Reader: strings.NewReader(`{"item":"book"}`)}
		req, _ := http.NewRequest(http.MethodPost, "http://svc.test/orders", body)
		return req, body
	}
	t.Run("breaker open", func(t *testing.T) {
		bs, err := NewBreakers(BreakerSettings{MinRequests: 1, OpenTimeout: time.Hour}, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer bs.Close()
		d := &downstream{statuses: []int{503}}
		tr, _ := newTestTransport(t, Policy{MaxAttempts: 1}, d, WithBreakers(bs))
		req, body := newReq()
		_, _ = tr.RoundTrip(req) // sent, fails, trips the breaker
		if body.closed.Load() != 1 {
			t.Fatalf("sent body closed %d times, want 1 (by the base transport)", body.closed.Load())
		}
		req, body = newReq()
		if _, err := tr.RoundTrip(req); !errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("RoundTrip = %v, want ErrCircuitOpen", err)
		}
		if body.closed.Load() != 1 {
			t.Fatalf("refused body closed %d times, want 1", body.closed.Load())
		}
	})
	t.Run("rate limited", func(t *testing.T) {
		lim, err := NewLimiter(LimiterConfig{Rate: 1, Burst: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer lim.Close()
		d := &downstream{statuses: []int{200}}
		tr, _ := newTestTransport(t, Policy{}, d, WithLimiter(lim))
		req, body := newReq()
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		req, body = newReq()
		if _, err := tr.RoundTrip(req); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("RoundTrip = %v, want ErrRateLimited", err)
		}
		if body.closed.Load() != 1 {
			t.Fatalf("refused body closed %d times, want 1", body.closed.Load())
		}
	})
}

func TestTransportDoesNotRetry501(t *testing.T) {
	d := &downstream{statuses: []int{501, 200}}
	bs, err := NewBreakers(BreakerSettings{MinRequests: 1, FailureRatio: 0.01}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	tr, _ := newTestTransport(t, Policy{MaxAttempts: 3}, d, WithBreakers(bs))
	req, _ := http.NewRequest(http.MethodGet, "http://svc.test/x", nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip = %v, want the 501 response itself", err)
	}
	res.Body.Close()
	if res.StatusCode != 501 || d.calls.Load() != 1 {
		t.Fatalf("status %d after %d calls, want 501 after 1", res.StatusCode, d.calls.Load())
	}
	c := bs.Get("svc.test").Counts()
	if c.Failures != 0 || bs.Get("svc.test").State() != StateClosed {
		t.Fatalf("breaker counts %+v, want no failure for a 501", c)
	}
}

// TestTransportCertificateErrors uses a real TLS server whose certificate
// the client does not trust.
func TestTransportCertificateErrors(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	base := &http.Transport{TLSClientConfig: &tls.Config{}} // system roots only
	defer base.CloseIdleConnections()
	bs, err := NewBreakers(BreakerSettings{MinRequests: 1, FailureRatio: 0.01}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	tr, _ := newTestTransport(t, Policy{MaxAttempts: 3}, base, WithBreakers(bs))
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		_, err := tr.RoundTrip(req)
		var re *Error
		if !errors.As(err, &re) || re.Attempts != 1 || re.Reason != nil {
			t.Fatalf("RoundTrip = %v, want an *Error after 1 attempt", err)
		}
		var unknown x509.UnknownAuthorityError
		var verify *tls.CertificateVerificationError
		if !errors.As(err, &unknown) && !errors.As(err, &verify) {
			t.Fatalf("RoundTrip = %v, want the certificate error inside", err)
		}
	}
	host := strings.TrimPrefix(srv.URL, "https://")
	b := bs.Get(host)
	if c := b.Counts(); c.Failures != 0 || c.Excluded != 3 || b.State() != StateClosed {
		t.Fatalf("breaker %v with counts %+v, want closed with 3 excluded", b.State(), c)
	}
}

func TestCertificateErrorKinds(t *testing.T) {
	for _, err := range []error{
		&tls.CertificateVerificationError{Err: errBoom},
		x509.UnknownAuthorityError{},
		x509.CertificateInvalidError{Reason: x509.Expired},
		x509.HostnameError{Host: "a.test"},
		fmt.Errorf("dial: %w", x509.SystemRootsError{}),
	} {
		if !certificateError(err) {
			t.Errorf("certificateError(%T) = false", err)
		}
	}
	if certificateError(errBoom) || certificateError(nil) {
		t.Error("certificateError is true for a plain error")
	}
}

// Test429RetriedButNotABreakerFailure: a 429 is retried after its
// Retry-After, each retry spends the budget, and the breaker counts none
// of the 429s (the host is up and asked for patience).
func Test429RetriedButNotABreakerFailure(t *testing.T) {
	d := &downstream{statuses: []int{429, 429, 200}, header: http.Header{"Retry-After": {"5"}}}
	bs, err := NewBreakers(BreakerSettings{MinRequests: 1, FailureRatio: 0.01}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	budget, err := NewBudget(BudgetConfig{MaxTokens: 2})
	if err != nil {
		t.Fatal(err)
	}
	tr, fake := newTestTransport(t, Policy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Minute},
		d, WithBreakers(bs), WithBudget(budget))
	req, _ := http.NewRequest(http.MethodGet, "http://svc.test/x", nil)
	res, err := roundTrip(tr, fake, req, 5*time.Second, 5*time.Second)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || d.calls.Load() != 3 {
		t.Fatalf("status %d after %d calls, want 200 after 3", res.StatusCode, d.calls.Load())
	}
	if st := budget.Stats(); st.Allowed != 2 || st.Tokens != 0.1 {
		t.Fatalf("budget %+v, want both tokens spent on the two retries, 0.1 earned back by the success", st)
	}
	b := bs.Get("svc.test")
	if c := b.Counts(); c.Failures != 0 || c.Excluded != 2 || c.Successes != 1 || b.State() != StateClosed {
		t.Fatalf("breaker %v with counts %+v, want closed, 2 excluded, 1 success", b.State(), c)
	}
}

// TestBreakerCountsAttemptTimeoutsNotCallerDeadlines: an attempt that the
// Policy's AttemptTimeout ends is the downstream's failure; one the
// caller's own deadline ends is not.
func TestBreakerCountsAttemptTimeoutsNotCallerDeadlines(t *testing.T) {
	hang := http.RoundTripper(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}))
	t.Run("caller deadline", func(t *testing.T) {
		bs, err := NewBreakers(BreakerSettings{MinRequests: 1, FailureRatio: 0.01}, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer bs.Close()
		tr, fake := newTestTransport(t, Policy{MaxAttempts: 3, AttemptTimeout: time.Minute}, hang, WithBreakers(bs))
		ctx, cancel := timer.WithTimeout(context.Background(), fake, time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc.test/x", nil)
		res, err := roundTrip(tr, fake, req, time.Second)
		if res != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("RoundTrip = %v, %v; want DeadlineExceeded", res, err)
		}
		if c := bs.Get("svc.test").Counts(); c.Failures != 0 || c.Excluded != 1 {
			t.Fatalf("counts %+v, want the caller's deadline excluded", c)
		}
	})
	t.Run("attempt timeout", func(t *testing.T) {
		bs, err := NewBreakers(BreakerSettings{MinRequests: 1, FailureRatio: 0.01, OpenTimeout: time.Hour}, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer bs.Close()
		tr, fake := newTestTransport(t, Policy{MaxAttempts: 1, AttemptTimeout: time.Second}, hang, WithBreakers(bs))
		req, _ := http.NewRequest(http.MethodGet, "http://svc.test/x", nil)
		res, err := roundTrip(tr, fake, req, time.Second)
		if res != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("RoundTrip = %v, %v; want DeadlineExceeded", res, err)
		}
		if s := bs.Get("svc.test").State(); s != StateOpen {
			t.Fatalf("breaker %v after an attempt timeout, want open (a failure)", s)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
