package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// telemetry is the OpenTelemetry SDK with its Prometheus exporter, plus the
// Go runtime and process collectors, all served from one registry on
// /metrics. Every opskit component gets provider as its MeterProvider.
type telemetry struct {
	*sdkmetric.MeterProvider
	handler http.Handler
}

func newTelemetry() (*telemetry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	return &telemetry{
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
		handler:       promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	}, nil
}

// Shutdown flushes and stops the SDK.
func (t *telemetry) Shutdown(ctx context.Context) error { return t.MeterProvider.Shutdown(ctx) }
