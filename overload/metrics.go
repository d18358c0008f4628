package overload

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const scope = "github.com/opskit/opskit/overload"

// metrics reads the limiter's atomics at collection time: nothing on the
// admit path calls OpenTelemetry.
type metrics struct {
	reg metric.Registration
}

func newMetrics(mp metric.MeterProvider, l *Limiter) (*metrics, error) {
	meter := mp.Meter(scope)
	var err, e error
	limit, e := meter.Int64ObservableGauge("opskit.overload.limit",
		metric.WithUnit("{request}"),
		metric.WithDescription("The adaptive concurrency limit."))
	err = errors.Join(err, e)
	inflight, e := meter.Int64ObservableGauge("opskit.overload.inflight",
		metric.WithUnit("{request}"),
		metric.WithDescription("Admitted work in flight (exempt work not counted)."))
	err = errors.Join(err, e)
	admitted, e := meter.Int64ObservableCounter("opskit.overload.admitted",
		metric.WithUnit("{request}"),
		metric.WithDescription("Work admitted, by priority."))
	err = errors.Join(err, e)
	shed, e := meter.Int64ObservableCounter("opskit.overload.shed",
		metric.WithUnit("{request}"),
		metric.WithDescription("Work refused before it started, by priority."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, errors.Join(errors.New("overload: creating instruments"), err)
	}
	name := attribute.String("limiter", l.cfg.name)
	base := metric.WithAttributes(name)
	var byPriority [numPriorities]metric.ObserveOption
	for p := range byPriority {
		byPriority[p] = metric.WithAttributes(name, attribute.String("priority", Priority(p).String()))
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(limit, l.limit.Load(), base)
		o.ObserveInt64(inflight, l.inflight.Load(), base)
		for p := range byPriority {
			o.ObserveInt64(admitted, l.admitted[p].Load(), byPriority[p])
			if Priority(p) != Exempt {
				o.ObserveInt64(shed, l.shed[p].Load(), byPriority[p])
			}
		}
		return nil
	}, limit, inflight, admitted, shed)
	if err != nil {
		return nil, errors.Join(errors.New("overload: registering metrics callback"), err)
	}
	return &metrics{reg: reg}, nil
}

func (m *metrics) close() error {
	if err := m.reg.Unregister(); err != nil {
		return errors.Join(errors.New("overload: unregistering metrics"), err)
	}
	return nil
}
