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
	br, _ := retry.NewBreaker(retry.BreakerSettings{MinRequests: 3, OpenTimeout: time.Hour}, retry.WithName("payments"))
	defer br.Close()
	br.OnStateChange(func(c retry.StateChange) {
		// Runs outside gobreaker's lock: reading the breaker is safe.
		fmt.Printf("%s: %v -> %v (now %v)\n", c.Breaker, c.From, c.To, br.State())
	})
	fail := func(context.Context) error { return errors.New("timeout") }
	for range 3 {
		_ = br.Execute(context.Background(), fail)
	}
	err := br.Execute(context.Background(), fail)
	fmt.Println(errors.Is(err, retry.ErrCircuitOpen))
	// Output:
	// payments: closed -> open (now open)
	// true
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
