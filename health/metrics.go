package health

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const scope = "github.com/opskit/opskit/health"

// metrics are the Checker's instruments. Run durations and status changes
// are recorded when a run ends (never on a probe's path for background
// checks); the status gauge reads the stored results at collection time,
// so a scrape never runs a check.
type metrics struct {
	duration metric.Float64Histogram
	changes  metric.Int64Counter
	reg      metric.Registration
}

// statusAttrs are the status label values the gauge reports per check.
var statusAttrs = [...]Status{StatusPass, StatusWarn, StatusFail, StatusUnknown}

func newMetrics(mp metric.MeterProvider, c *Checker) (*metrics, error) {
	meter := mp.Meter(scope)
	m := &metrics{}
	var err, e error
	m.duration, e = meter.Float64Histogram("opskit.health.check.duration",
		metric.WithUnit("s"),
		metric.WithDescription("How long each run of a health check took."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	err = errors.Join(err, e)
	m.changes, e = meter.Int64Counter("opskit.health.check.status_changes",
		metric.WithUnit("{change}"),
		metric.WithDescription("Status changes of health checks, by check and new status."))
	err = errors.Join(err, e)
	status, e := meter.Int64ObservableGauge("opskit.health.check.status",
		metric.WithUnit("1"),
		metric.WithDescription("1 for the current status of each health check (pass, warn, fail, unknown), 0 for the others."))
	err = errors.Join(err, e)
	draining, e := meter.Int64ObservableGauge("opskit.health.draining",
		metric.WithUnit("1"),
		metric.WithDescription("1 once the checker is draining for shutdown."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, errors.Join(errors.New("health: creating instruments"), err)
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := c.clock.Now()
		for _, e := range c.set.Load().entries {
			current := e.statusOf(e.current(now))
			for _, s := range statusAttrs {
				var v int64
				if s == current {
					v = 1
				}
				o.ObserveInt64(status, v, metric.WithAttributes(
					attribute.String("check", e.check.Name), attribute.String("status", s.String())))
			}
		}
		var d int64
		if c.draining.Load() {
			d = 1
		}
		o.ObserveInt64(draining, d)
		return nil
	}, status, draining)
	if err != nil {
		return nil, errors.Join(errors.New("health: registering metrics callback"), err)
	}
	return m, nil
}

func (m *metrics) recordRun(e *entry, r *result) {
	m.duration.Record(context.Background(), r.duration.Seconds(), e.attrs)
}

func (m *metrics) recordChange(e *entry, to Status) {
	m.changes.Add(context.Background(), 1, metric.WithAttributes(
		attribute.String("check", e.check.Name), attribute.String("status", to.String())))
}

func (m *metrics) close() error {
	if m.reg == nil {
		return nil
	}
	return m.reg.Unregister()
}
