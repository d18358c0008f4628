package feature

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// registerMetrics registers the observable instruments. They are read at
// collection time from the same counters Stats reads; the hot path never
// calls OpenTelemetry.
//
//	opskit.feature.uses     counter {use}, per feature (zero for unused ones)
//	opskit.feature.tenants  gauge {tenant}, per feature and window (1d, 7d, 30d)
//	opskit.feature.drift    counter {use}, uses of undeclared names
func (r *Registry) registerMetrics() error {
	m := r.mp.Meter("github.com/opskit/opskit/feature")
	uses, err := m.Int64ObservableCounter("opskit.feature.uses",
		metric.WithDescription("Uses of each declared feature since its counts began; zero for features never used."),
		metric.WithUnit("{use}"))
	if err != nil {
		return err
	}
	tenants, err := m.Int64ObservableGauge("opskit.feature.tenants",
		metric.WithDescription("Estimated distinct tenants using each feature over the window ending now."),
		metric.WithUnit("{tenant}"))
	if err != nil {
		return err
	}
	drift, err := m.Int64ObservableCounter("opskit.feature.drift",
		metric.WithDescription("Uses of names that are not declared in the catalog."),
		metric.WithUnit("{use}"))
	if err != nil {
		return err
	}
	windows := []struct {
		days int64
		attr attribute.KeyValue
	}{{1, attribute.String("window", "1d")}, {7, attribute.String("window", "7d")}, {30, attribute.String("window", "30d")}}
	r.metrics, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := r.capture()
		today := dayOf(unixMinute(st.Saved))
		for _, f := range r.declaredNames() {
			fs := st.Features[f]
			if fs == nil { // defined after the capture: next collection
				continue
			}
			name := attribute.String("feature", f)
			o.ObserveInt64(uses, fs.Total, metric.WithAttributes(name))
			for _, w := range windows {
				var b [tenantWords]uint64
				for d := today - w.days + 1; d <= today; d++ {
					if ds := fs.Days[d]; ds != nil {
						for i := range b {
							b[i] |= ds.Bits[i]
						}
					}
				}
				n, _, _ := estimateIfAny(&b)
				o.ObserveInt64(tenants, n, metric.WithAttributes(name, w.attr))
			}
		}
		undeclared := r.driftEvictedUses.Load()
		for _, d := range st.Drift {
			undeclared += d.Uses
		}
		o.ObserveInt64(drift, undeclared)
		return nil
	}, uses, tenants, drift)
	return err
}

func (r *Registry) declaredNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.features))
	for i, f := range r.features {
		out[i] = f.name
	}
	return out
}
