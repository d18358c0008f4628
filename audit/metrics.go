package audit

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/metric"
)

const scope = "github.com/opskit/opskit/audit"

// logMetrics are the log's instruments. An Append already pays for an
// fsync, so it adds to its counter directly.
type logMetrics struct {
	records  metric.Int64Counter
	failures metric.Int64Counter
	reg      metric.Registration
}

func newLogMetrics(mp metric.MeterProvider, l *Log) (*logMetrics, error) {
	meter := mp.Meter(scope)
	m := &logMetrics{}
	var err, e error
	m.records, e = meter.Int64Counter("opskit.audit.records",
		metric.WithUnit("{record}"),
		metric.WithDescription("Audit records appended and synced to disk."))
	err = errors.Join(err, e)
	m.failures, e = meter.Int64Counter("opskit.audit.failures",
		metric.WithUnit("{record}"),
		metric.WithDescription("Audit records that could not be appended (the action they describe is unrecorded)."))
	err = errors.Join(err, e)
	head, e := meter.Int64ObservableGauge("opskit.audit.head",
		metric.WithUnit("{record}"),
		metric.WithDescription("Sequence number of the last audit record; a drop means records were cut from the log."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, errors.Join(errors.New("audit: creating instruments"), err)
	}
	m.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		seq, _ := l.Head()
		o.ObserveInt64(head, int64(seq))
		return nil
	}, head)
	if err != nil {
		return nil, errors.Join(errors.New("audit: registering metrics callback"), err)
	}
	return m, nil
}

func (m *logMetrics) count(err error) {
	if err != nil {
		m.failures.Add(context.Background(), 1)
		return
	}
	m.records.Add(context.Background(), 1)
}

func (m *logMetrics) close() error {
	if m.reg == nil {
		return nil
	}
	return m.reg.Unregister()
}
