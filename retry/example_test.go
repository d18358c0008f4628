package retry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/retry"
)

func ExampleDo() {
	calls := 0
	err := retry.Do(context.Background(), retry.Policy{MaxAttempts: 3, BaseDelay: time.Microsecond},
		func(context.Context) error {
			calls++
			if calls < 3 {
				return errors.New("connection reset")
			}
			return nil
		})
	fmt.Println(calls, err)
	// Output: 3 <nil>
}

func ExampleDo_permanent() {
	errNotFound := errors.New("not found")
	err := retry.Do(context.Background(), retry.Policy{}, func(context.Context) error {
		return retry.Permanent(errNotFound)
	})
	var re *retry.Error
	errors.As(err, &re)
	fmt.Println(re.Attempts, errors.Is(err, errNotFound))
	// Output: 1 true
}

func ExampleDo_deadline() {
	// The next wait (two hours) would cross the deadline, so Do returns at
	// once instead of sleeping into it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	p := retry.Policy{MaxAttempts: 5, BaseDelay: 2 * time.Hour, MaxDelay: 2 * time.Hour, Jitter: retry.JitterNone}
	errDown := errors.New("downstream down")
	err := retry.Do(ctx, p, func(context.Context) error { return errDown })
	fmt.Println(errors.Is(err, context.DeadlineExceeded), errors.Is(err, errDown))
	// Output: true true
}

func ExampleDoValue() {
	n, err := retry.DoValue(context.Background(), retry.Policy{}, func(context.Context) (int, error) {
		return 42, nil
	})
	fmt.Println(n, err)
	// Output: 42 <nil>
}

// A Retrier on a fake clock: the test moves time, the backoff follows, and
// nothing sleeps.
func ExampleNew() {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r, err := retry.New(retry.Policy{MaxAttempts: 3, BaseDelay: 30 * time.Second, Jitter: retry.JitterNone},
		retry.WithName("ledger"), retry.WithClock(fake))
	if err != nil {
		panic(err)
	}
	defer r.Close()

	attempts := make(chan time.Time, 3)
	done := make(chan error)
	go func() {
		_, err := retry.DoValue(context.Background(), r, func(context.Context) (string, error) {
			attempts <- fake.Now()
			if len(attempts) < 3 {
				return "", errors.New("ledger busy")
			}
			return "posted", nil
		})
		done <- err
	}()
	for _, wait := range []time.Duration{30 * time.Second, time.Minute} {
		fake.WaitForTimers(1) // the Retrier is waiting
		fake.Advance(wait)
	}
	fmt.Println(<-done)
	close(attempts)
	for at := range attempts {
		fmt.Println(at.Format(time.TimeOnly))
	}
	// Output:
	// <nil>
	// 00:00:00
	// 00:00:30
	// 00:01:30
}

func ExamplePolicy_Delay() {
	p := retry.Policy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, Jitter: retry.JitterNone}
	for attempt := 1; attempt <= 5; attempt++ {
		fmt.Println(p.Delay(attempt))
	}
	// Output:
	// 100ms
	// 200ms
	// 400ms
	// 800ms
	// 1s
}

func ExampleNewBudget() {
	b, _ := retry.NewBudget(retry.BudgetConfig{MaxTokens: 2, Ratio: 0.5})
	fmt.Println(b.TryRetry(), b.TryRetry(), b.TryRetry()) // an outage spends it
	b.Success()
	b.Success() // two successes earn one retry back
	fmt.Println(b.TryRetry())
	// Output:
	// true true false
	// true
}

func ExampleNewBreaker() {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	br, _ := retry.NewBreaker(retry.BreakerSettings{MinRequests: 3, OpenTimeout: time.Minute},
		retry.WithName("payments"), retry.WithClock(fake))
	defer br.Close()
	br.OnStateChange(func(c retry.StateChange) {
		// Runs outside every lock, after the call that caused the change
		// returned: reading the breaker is safe, and shows its state now.
		fmt.Printf("%s %s: %v -> %v (now %v)\n", c.At.Format(time.TimeOnly), c.Breaker, c.From, c.To, br.State())
	})
	fail := func(context.Context) error { return errors.New("timeout") }
	for range 3 {
		_ = br.Execute(context.Background(), fail)
	}
	err := br.Execute(context.Background(), fail)
	fmt.Println(errors.Is(err, retry.ErrCircuitOpen))

	fake.Advance(time.Minute) // the open timeout passes on the breaker's clock
	err = br.Execute(context.Background(), func(context.Context) error { return nil })
	fmt.Println(err)
	// Output:
	// 00:00:00 payments: closed -> open (now open)
	// true
	// 00:01:00 payments: open -> half-open (now closed)
	// 00:01:00 payments: half-open -> closed (now closed)
	// <nil>
}

func ExampleNewTransport() {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "in stock")
	}))
	defer srv.Close()

	tr, err := retry.NewTransport(retry.Policy{MaxAttempts: 3}, retry.WithName("inventory"))
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	client := &http.Client{Transport: tr}
	res, err := client.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Println(res.StatusCode, string(body), hits.Load())
	// Output: 200 in stock 2
}
