package retry

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
)

// downstream is a scripted RoundTripper: it answers each request with the
// next status (repeating the last) and records what it received.
type downstream struct {
	mu       sync.Mutex
	statuses []int
	header   http.Header // added to every response
	bodies   []string
	keys     []string
	calls    atomic.Int32
}

func (d *downstream) RoundTrip(req *http.Request) (*http.Response, error) {
	n := int(d.calls.Add(1))
	var body string
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		_ = req.Body.Close()
		body = string(b)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.bodies = append(d.bodies, body)
	d.keys = append(d.keys, req.Header.Get(IdempotencyKeyHeader))
	status := d.statuses[min(n, len(d.statuses))-1]
	h := http.Header{}
	for k, v := range d.header {
		h[k] = v
	}
	return &http.Response{
		StatusCode: status,
		Status:     http.StatusText(status),
		Header:     h,
		Body:       io.NopCloser(strings.NewReader("reply " + http.StatusText(status))),
		Request:    req,
	}, nil
}

func newTestTransport(t *testing.T, p Policy, d http.RoundTripper, opts ...TransportOption) (*Transport, *clock.Fake) {
	t.Helper()
	fake := clock.NewFake(epoch)
	if p.Jitter == JitterFull {
		p.Jitter = JitterNone
	}
	tr, err := NewTransport(p, append([]TransportOption{WithClock(fake), WithBase(d)}, opts...)...)
	if err != nil {
		t.Fatalf("NewTransport: %v", err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr, fake
}

// roundTrip sends req in a goroutine and lets the fake clock run out each
// backoff wait in turn (exactly: a longer step could fire the next wait
// too), then returns the transport's answer.
func roundTrip(tr *Transport, fake *clock.Fake, req *http.Request, waits ...time.Duration) (*http.Response, error) {
	type out struct {
		res *http.Response
		err error
	}
	ch := make(chan out, 1)
	go func() {
		res, err := tr.RoundTrip(req)
		ch <- out{res, err}
	}()
	for _, d := range waits {
		fake.WaitForTimers(1)
		fake.Advance(d)
	}
	o := <-ch
	return o.res, o.err
}

func TestTransportRetriesIdempotentOn5xx(t *testing.T) {
	d := &downstream{statuses: []int{503, 502, 200}}
	tr, fake := newTestTransport(t, Policy{MaxAttempts: 3, BaseDelay: time.Second}, d)
	req, _ := http.NewRequest(http.MethodGet, "http://svc.test/x", nil)
	res, err := roundTrip(tr, fake, req, time.Second, 2*time.Second)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || d.calls.Load() != 3 {
		t.Fatalf("status %d after %d calls, want 200 after 3", res.StatusCode, d.calls.Load())
	}
}

func TestTransportGivesUpWithStatusError(t *testing.T) {
	d := &downstream{statuses: []int{500, 429}}
	tr, fake := newTestTransport(t, Policy{MaxAttempts: 2, BaseDelay: time.Second}, d)
	req, _ := http.NewRequest(http.MethodGet, "http://svc.test/x", nil)
	res, err := roundTrip(tr, fake, req, time.Second)
	if res != nil {
		t.Fatal("a response came back with the error")
	}
	var se *StatusError
	if !errors.As(err, &se) {
		t.Fatalf("RoundTrip = %v, want a *StatusError inside", err)
	}
	if se.StatusCode != 429 || string(se.Body) != "reply Too Many Requests" || se.Method != "GET" {
		t.Fatalf("StatusError %+v, want the last response (429) and its body", se)
	}
	if want := "retry: failed after 2 attempt(s): last error: GET http://svc.test/x: Too Many Requests"; err.Error() != want {
		t.Fatalf("message %q, want %q (one package prefix)", err.Error(), want)
	}
	// Through http.Client too (it wraps the error in *url.Error).
	d.calls.Store(0)
	client := &http.Client{Transport: tr}
	ch := runAsync(func() error { _, err := client.Get("http://svc.test/y"); return err })
	fake.WaitForTimers(1)
	fake.Advance(time.Second)
	if err := <-ch; !errors.As(err, &se) || se.StatusCode != 429 {
		t.Fatalf("http.Client error %v, want a *StatusError inside", err)
	}
}

func TestTransportDoesNotRetryPost(t *testing.T) {
	d := &downstream{statuses: []int{503, 200}}
	tr, _ := newTestTransport(t, Policy{MaxAttempts: 3}, d)
	req, _ := http.NewRequest(http.MethodPost, "http://svc.test/orders", strings.NewReader(`{"a":1}`))
	_, err := tr.RoundTrip(req)
	if d.calls.Load() != 1 {
		t.Fatalf("POST: %d calls, want 1", d.calls.Load())
	}
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("POST error %v, want StatusError 503", err)
	}
}

func TestTransportRetriesPostWithIdempotencyKeyAndRewindsBody(t *testing.T) {
	d := &downstream{statuses: []int{503, 503, 201}}
	tr, fake := newTestTransport(t, Policy{MaxAttempts: 3, BaseDelay: time.Second}, d)
	req, _ := http.NewRequest(http.MethodPost, "http://svc.test/orders", strings.NewReader(`{"item":"book"}`))
	req.Header.Set(IdempotencyKeyHeader, "order-42")
	res, err := roundTrip(tr, fake, req, time.Second, 2*time.Second)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("status %d, want 201", res.StatusCode)
	}
	for i := range 3 {
		if d.bodies[i] != `{"item":"book"}` || d.keys[i] != "order-42" {
			t.Fatalf("attempt %d sent body %q key %q, want the same body and key every time", i+1, d.bodies[i], d.keys[i])
		}
	}
}

func TestTransportBodyNotRewindable(t *testing.T) {
	d := &downstream{statuses: []int{503, 200}}
	tr, _ := newTestTransport(t, Policy{MaxAttempts: 3}, d)
	req, _ := http.NewRequest(http.MethodPut, "http://svc.test/x", io.NopCloser(strings.NewReader("data")))
	req.GetBody = nil
	_, err := tr.RoundTrip(req)
	var se *StatusError
	if !errors.Is(err, ErrBodyNotRewindable) || !errors.As(err, &se) || d.calls.Load() != 1 {
		t.Fatalf("RoundTrip = %v after %d calls, want ErrBodyNotRewindable with the 503 after 1", err, d.calls.Load())
	}
}

func TestTransportRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		deadline   time.Duration // 0: none
		wantWait   time.Duration // -1: fails without waiting
	}{
		{"seconds", "7", 0, 7 * time.Second},
		{"http date", epoch.Add(20 * time.Second).Format(http.TimeFormat), 0, 20 * time.Second},
		{"clamped to MaxDelay", "3600", 0, 30 * time.Second},
		{"past the deadline fails fast", "20", 10 * time.Second, -1},
		{"date in the past", epoch.Add(-time.Hour).Format(http.TimeFormat), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &downstream{statuses: []int{503, 200}, header: http.Header{"Retry-After": {tt.retryAfter}}}
			tr, fake := newTestTransport(t, Policy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 30 * time.Second}, d)
			ctx := context.Background()
			if tt.deadline > 0 {
				ctx = deadlineCtx{ctx, epoch.Add(tt.deadline)}
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://svc.test/x", nil)
			ch := make(chan error, 1)
			go func() {
				res, err := tr.RoundTrip(req)
				if err == nil {
					res.Body.Close()
				}
				ch <- err
			}()
			if tt.wantWait < 0 {
				err := <-ch
				if !errors.Is(err, context.DeadlineExceeded) || d.calls.Load() != 1 {
					t.Fatalf("RoundTrip = %v after %d calls, want DeadlineExceeded after 1", err, d.calls.Load())
				}
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != 503 {
					t.Fatalf("RoundTrip = %v, want the 503 reachable", err)
				}
				return
			}
			if tt.wantWait > 0 {
				fake.WaitForTimers(1)
				fake.Advance(tt.wantWait - time.Nanosecond)
				if d.calls.Load() != 1 {
					t.Fatal("retried before Retry-After elapsed")
				}
				fake.Advance(time.Nanosecond)
			}
			if err := <-ch; err != nil || d.calls.Load() != 2 {
				t.Fatalf("RoundTrip = %v after %d calls, want success after 2", err, d.calls.Load())
			}
		})
	}
}

func TestTransportBreakerStopsTrafficPerHost(t *testing.T) {
	d := &downstream{statuses: []int{503}}
	bs, err := NewBreakers(BreakerSettings{MinRequests: 4, OpenTimeout: time.Hour}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	tr, _ := newTestTransport(t, Policy{MaxAttempts: 1}, d, WithBreakers(bs))
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, "http://down.test/x", nil)
		_, _ = tr.RoundTrip(req)
	}
	if got := d.calls.Load(); got != 4 {
		t.Fatalf("downstream received %d calls, want 4 (then the breaker opened)", got)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://down.test/x", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("RoundTrip = %v, want ErrCircuitOpen", err)
	}
	if err := tr.Check(context.Background()); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Check = %v, want ErrCircuitOpen", err)
	}
	// Another host is unaffected.
	d.statuses = []int{200}
	req, _ = http.NewRequest(http.MethodGet, "http://up.test/x", nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatalf("other host: %v", err)
	}
	res.Body.Close()
	if got := tr.Breakers().States()["down.test"]; got != StateOpen {
		t.Fatalf("down.test state %v, want open", got)
	}
}

func TestTransportAttemptTimeoutLastsUntilBodyClosed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<16))
	}))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	tr, fake := newTestTransport(t, Policy{AttemptTimeout: time.Minute}, base)
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil || len(b) != 1<<16 {
		t.Fatalf("read %d bytes, %v: the attempt's context ended before the body was read", len(b), err)
	}
	if fake.Timers() != 1 {
		t.Fatalf("%d timers armed while the body is open, want 1", fake.Timers())
	}
	res.Body.Close()
	if fake.Timers() != 0 {
		t.Fatal("closing the body did not stop the attempt timer")
	}
}

func TestIdempotent(t *testing.T) {
	for method, want := range map[string]bool{"GET": true, "HEAD": true, "PUT": true, "DELETE": true, "OPTIONS": true, "POST": false, "PATCH": false} {
		req, _ := http.NewRequest(method, "http://x.test/", nil)
		if got := idempotent(req); got != want {
			t.Errorf("idempotent(%s) = %v, want %v", method, got, want)
		}
	}
	req, _ := http.NewRequest("PATCH", "http://x.test/", nil)
	req.Header.Set(IdempotencyKeyHeader, "k")
	if !idempotent(req) {
		t.Error("idempotent(PATCH with Idempotency-Key) = false")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := epoch
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"007", 7 * time.Second, true},
		{"99999999999999999999", math.MaxInt64, true},
		{"9223372037", math.MaxInt64, true},
		{"9223372036", 9223372036 * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Thursday, 01-Jan-26 00:00:30 GMT", 30 * time.Second, true}, // RFC 850
		{"Thu Jan  1 00:01:00 2026", time.Minute, true},              // ANSI C asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"+3", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Thursday, 01-Jan-26 00:00:30 GMT", "Thu Jan  1 00:01:00 2026", "-1", " 5 ", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, epoch)
		if d < 0 {
			t.Fatalf("parseRetryAfter(%q) = %v, negative", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v with ok false", s, d)
		}
		// Cross-check against the standard library's own parsers.
		v := strings.TrimSpace(s)
		if isDigits(v) {
			n, err := strconv.ParseUint(v, 10, 64)
			want := time.Duration(math.MaxInt64)
			if err == nil && n <= math.MaxInt64/uint64(time.Second) {
				want = time.Duration(n) * time.Second
			}
			if !ok || d != want {
				t.Fatalf("parseRetryAfter(%q) = %v, %v; want %v, true", s, d, ok, want)
			}
			return
		}
		tm, err := http.ParseTime(v)
		if ok != (err == nil) || (ok && d != max(tm.Sub(epoch), 0)) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v; http.ParseTime says %v, %v", s, d, ok, tm, err)
		}
	})
}

// TestTransportOutageScenario is the example service's case: a downstream
// that answers 503 to everything. The budget limits retries to its tokens,
// then the breaker stops the traffic altogether, so the downstream's
// received count stops growing while it is down.
func TestTransportOutageScenario(t *testing.T) {
	var received atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, "downstream is down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	budget, err := NewBudget(BudgetConfig{}) // 10 tokens
	if err != nil {
		t.Fatal(err)
	}
	bs, err := NewBreakers(BreakerSettings{MinRequests: 20, FailureRatio: 0.5, OpenTimeout: time.Hour}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	// 1ns waits: the backoff itself is tested elsewhere with a fake clock;
	// here only the counting matters.
	// Adaptive throttling off: this scenario counts what budget and breaker
	// do; TestThrottleUnderOverload measures the throttle.
	tr, err := NewTransport(Policy{MaxAttempts: 3, BaseDelay: time.Nanosecond, MaxDelay: time.Nanosecond},
		WithBase(base), WithBudget(budget), WithBreakers(bs), WithThrottle(0))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	client := &http.Client{Transport: tr}
	var rejected int
	for i := range 50 {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", strings.NewReader(`{"item":"book"}`))
		req.Header.Set(IdempotencyKeyHeader, "order-"+string(rune('a'+i%26)))
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
			t.Fatal("a down downstream answered success")
		}
		if errors.Is(err, ErrCircuitOpen) {
			rejected++
		}
	}
	// 5 calls × 3 attempts spend the 10 tokens; 5 more single attempts
	// reach 20 failures and open the breaker; the other 40 never leave.
	if got := received.Load(); got != 20 {
		t.Fatalf("downstream received %d requests, want 20", got)
	}
	if rejected != 40 {
		t.Fatalf("%d calls refused by the breaker, want 40", rejected)
	}
	if st := budget.Stats(); st.Allowed != 10 || st.Denied != 5 {
		t.Fatalf("budget %+v, want 10 allowed, 5 denied", st)
	}
	if err := tr.Check(context.Background()); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Check = %v, want ErrCircuitOpen", err)
	}
}
