package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/opskit/opskit/retry"
	"go.opentelemetry.io/otel/metric"
)

// downstreamClient is how the service reaches the downstream: an HTTP
// client whose Transport retries (idempotent or keyed requests only), spends
// a retry budget so an outage is not multiplied, and keeps a circuit breaker
// per host so that, once the downstream is clearly down, requests stop
// reaching it and orders go straight to the queue.
type downstreamClient struct {
	http      *http.Client
	transport *retry.Transport
	breakers  *retry.Breakers
}

func newDownstreamClient(mp metric.MeterProvider, log *slog.Logger) (*downstreamClient, error) {
	budget, err := retry.NewBudget(retry.BudgetConfig{})
	if err != nil {
		return nil, err
	}
	breakers, err := retry.NewBreakers(retry.BreakerSettings{
		MinRequests:  20,
		FailureRatio: 0.5,
		Window:       time.Minute,
		OpenTimeout:  30 * time.Second, // one probe per 30s while open
	}, 0, retry.WithMeterProvider(mp), retry.WithLogger(log))
	if err != nil {
		return nil, err
	}
	breakers.OnStateChange(func(c retry.StateChange) {
		log.Warn("downstream breaker changed state", "breaker", c.Breaker, "from", c.From, "to", c.To)
	})
	tr, err := retry.NewTransport(retry.Policy{
		MaxAttempts:    3,
		BaseDelay:      100 * time.Millisecond,
		MaxDelay:       2 * time.Second,
		AttemptTimeout: 400 * time.Millisecond,
	}, retry.WithName("downstream"), retry.WithBudget(budget), retry.WithBreakers(breakers),
		retry.WithMeterProvider(mp), retry.WithLogger(log))
	if err != nil {
		breakers.Close()
		return nil, err
	}
	return &downstreamClient{http: &http.Client{Transport: tr}, transport: tr, breakers: breakers}, nil
}

// Check fails while a breaker is open, for the readiness probe.
func (c *downstreamClient) Check(ctx context.Context) error { return c.transport.Check(ctx) }

func (c *downstreamClient) Close() error {
	err := c.transport.Close()
	if berr := c.breakers.Close(); err == nil {
		err = berr
	}
	return err
}
