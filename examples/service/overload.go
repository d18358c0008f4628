package main

import (
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/opskit/opskit/internal/capacity"
	"github.com/opskit/opskit/overload"
	"go.opentelemetry.io/otel/metric"
)

// admission protects the service from its own overload: an adaptive
// concurrency limit in front of every route sheds the excess with 503 and
// Retry-After before any work starts. The order path's work is simulated
// (work: N slots held for a fixed service time, the same simulation the
// overload benchmark loads), so that its capacity, not the machine's
// shared cores, decides when the service is overloaded.
type admission struct {
	limiter  *overload.Limiter // nil with -shed=false
	work     *capacity.Slots
	duration metric.Float64Histogram // answered orders' time in the handler
}

// capacityConfig is the command line of the order path's capacity and
// the limiter.
type capacityConfig struct {
	orderSlots int
	orderTime  time.Duration
	shed       bool
}

func (c *capacityConfig) flags(fs *flag.FlagSet) {
	fs.IntVar(&c.orderSlots, "order-slots", 4, "orders worked on at once (the order path's simulated capacity is order-slots/order-time a second)")
	fs.DurationVar(&c.orderTime, "order-time", 50*time.Millisecond, "how long each order holds its slot (simulated work)")
	fs.BoolVar(&c.shed, "shed", true, "shed excess requests with 503 + Retry-After (an adaptive concurrency limit, probes and /metrics exempt); -shed=false admits everything, to compare")
}

func (c *capacityConfig) validate() error {
	if c.orderSlots < 1 {
		return fmt.Errorf("-order-slots %d: want at least 1", c.orderSlots)
	}
	if c.orderTime <= 0 {
		return fmt.Errorf("-order-time %v: want a positive duration", c.orderTime)
	}
	return nil
}

// orderDurationBuckets resolve the time of an order around its simulated
// work (50ms by default) finely enough to read a p99 from /metrics.
var orderDurationBuckets = []float64{.005, .01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2.5, 5}

func newAdmission(c capacityConfig, mp metric.MeterProvider) (*admission, error) {
	work, err := capacity.New(c.orderSlots, c.orderTime, nil)
	if err != nil {
		return nil, err
	}
	a := &admission{work: work}
	a.duration, err = mp.Meter("github.com/opskit/opskit/examples/service").Float64Histogram("orders.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Time to answer POST /api/orders, for the requests the limiter admitted (a shed one never reaches the handler)."),
		metric.WithExplicitBucketBoundaries(orderDurationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("orders.duration histogram: %w", err)
	}
	if c.shed {
		// Tuned to this small service (80 orders a second by default):
		// the limit starts at its minimum and grows with the load, rather
		// than at 20, which four slots would first meet as a queue of
		// sixteen (a p99 of 0.3 s over a surge's first seconds against
		// 0.15 s); windows of 8 samples rather than 32, which would take
		// 0.4 s to collect at this rate and follow a surge that much later.
		if a.limiter, err = overload.New(overload.WithMeterProvider(mp), overload.WithName("http"),
			overload.WithWindow(overload.DefaultWindow, 8),
			overload.WithLimits(overload.DefaultMinLimit, overload.DefaultMinLimit, overload.DefaultMaxLimit)); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// protect puts the limiter in front of h. Probes and /metrics are exempt
// (never shed, not counted); orders are normal; everything an operator
// reads or does (the pages, dead letters, incidents, the audit trail, the
// demo's controls) is critical, refused last, so that the people handling
// an overload can still see and act. Their traffic is a few requests
// a minute, against hundreds of orders a second.
func (a *admission) protect(h http.Handler) (http.Handler, error) {
	if a.limiter == nil {
		return h, nil
	}
	return a.limiter.Handler(h, overload.WithClassifier(priorityOf))
}

func priorityOf(r *http.Request) overload.Priority {
	if p := overload.DefaultPriority(r); p == overload.Exempt {
		return p
	}
	if r.URL.Path == "/api/orders" {
		return overload.Normal
	}
	return overload.Critical
}

// Close unregisters the limiter's metrics.
func (a *admission) Close() error {
	if a.limiter == nil {
		return nil
	}
	return a.limiter.Close()
}
