package release

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// RegisterMetrics publishes i on mp as the gauge opskit.build.info, always
// 1, with the attributes service.name, service.version and release.id (in
// Prometheus: opskit_build_info{service_name=...,service_version=...,
// release_id=...} 1), so dashboards and rules can join any series of the
// process with its release. Unregister the returned registration to stop.
func RegisterMetrics(mp metric.MeterProvider, i Info) (metric.Registration, error) {
	g, err := mp.Meter("github.com/opskit/opskit/release").Int64ObservableGauge("opskit.build.info",
		metric.WithDescription("The running release: always 1, its identity in the attributes."))
	if err != nil {
		return nil, fmt.Errorf("release: build info gauge: %w", err)
	}
	attrs := metric.WithAttributeSet(attribute.NewSet(
		attribute.String("service.name", i.Service),
		attribute.String("service.version", i.Version),
		attribute.String("release.id", i.ID),
	))
	reg, err := mp.Meter("github.com/opskit/opskit/release").RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(g, 1, attrs)
		return nil
	}, g)
	if err != nil {
		return nil, fmt.Errorf("release: build info callback: %w", err)
	}
	return reg, nil
}
