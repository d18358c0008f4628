package slo

import (
	"context"
	"fmt"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. Through the OpenTelemetry Prometheus exporter they become
// the series in the comments; the generated rules (Rules) read EventsSeries.
const (
	// EventsMetric counts events per objective, attributes "objective",
	// "good" ("true"/"false") and "release" (the release the Tracker
	// records under: WithRelease's id, or ForRelease's; absent when
	// empty): opskit_slo_events_total{objective,good,release}. A release
	// dropped past MaxReleases stops being reported.
	EventsMetric = "opskit.slo.events"
	// BudgetMetric is the unspent fraction of the error budget over the
	// period: opskit_slo_budget_remaining_ratio{objective}.
	BudgetMetric = "opskit.slo.budget.remaining"
	// BurnRateMetric is the burn rate per window, attribute "window" in
	// Prometheus duration syntax: opskit_slo_burn_rate_ratio{objective,window}.
	BurnRateMetric = "opskit.slo.burn_rate"
	// AlertsMetric is 1 while an objective's page or ticket alert fires:
	// opskit_slo_alert_firing{objective,severity}.
	AlertsMetric = "opskit.slo.alert.firing"
	// NotificationsMetric counts notifications by notifier index and result
	// (sent, failed, dropped): opskit_slo_notifications_total.
	NotificationsMetric = "opskit.slo.notifications"

	// EventsSeries is EventsMetric's name in Prometheus.
	EventsSeries = "opskit_slo_events_total"
)

// registerMetrics creates the observable instruments; everything is read
// at collection time from the atomics and the last evaluation.
func (m *Monitor) registerMetrics() error {
	meter := m.cfg.meter.Meter("github.com/opskit/opskit/slo")
	events, err := meter.Int64ObservableCounter(EventsMetric, metric.WithUnit("{event}"),
		metric.WithDescription("Events counted against each objective, by whether they were good."))
	if err != nil {
		return fmt.Errorf("slo: metrics: %w", err)
	}
	budget, err := meter.Float64ObservableGauge(BudgetMetric, metric.WithUnit("1"),
		metric.WithDescription("Unspent fraction of the error budget over the objective's period."))
	if err != nil {
		return fmt.Errorf("slo: metrics: %w", err)
	}
	burn, err := meter.Float64ObservableGauge(BurnRateMetric, metric.WithUnit("1"),
		metric.WithDescription("Error budget burn rate per window; 1 spends the budget in exactly one period."))
	if err != nil {
		return fmt.Errorf("slo: metrics: %w", err)
	}
	firing, err := meter.Int64ObservableGauge(AlertsMetric, metric.WithUnit("{alert}"),
		metric.WithDescription("1 while the alert fires, as of the last evaluation."))
	if err != nil {
		return fmt.Errorf("slo: metrics: %w", err)
	}
	notes, err := meter.Int64ObservableCounter(NotificationsMetric, metric.WithUnit("{notification}"),
		metric.WithDescription("Notifications by notifier and result: sent, failed or dropped."))
	if err != nil {
		return fmt.Errorf("slo: metrics: %w", err)
	}
	m.metrics, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := m.clock.Now()
		for _, in := range m.indicators() {
			obj := attribute.String("objective", in.name)
			in.observeEvents(func(rel string, good, bad int64) {
				attrs := []attribute.KeyValue{obj, attribute.Bool("good", true)}
				if rel != "" {
					attrs = append(attrs, attribute.String("release", rel))
				}
				o.ObserveInt64(events, good, metric.WithAttributes(attrs...))
				attrs[1] = attribute.Bool("good", false)
				o.ObserveInt64(events, bad, metric.WithAttributes(attrs...))
			})
			st := in.computeStatus(now)
			o.ObserveFloat64(budget, st.Budget.Remaining, metric.WithAttributes(obj))
			for _, w := range st.Windows {
				o.ObserveFloat64(burn, w.BurnRate, metric.WithAttributes(obj, attribute.String("window", fmtDuration(w.Window))))
			}
			for _, a := range in.snapshot().alerts {
				var v int64
				if a.State == Firing {
					v = 1
				}
				o.ObserveInt64(firing, v, metric.WithAttributes(obj, attribute.String("severity", string(a.Severity))))
			}
		}
		for _, d := range m.dispatchers {
			n := attribute.String("notifier", strconv.Itoa(d.index))
			s := d.stats()
			o.ObserveInt64(notes, s.Sent, metric.WithAttributes(n, attribute.String("result", "sent")))
			o.ObserveInt64(notes, s.Failed, metric.WithAttributes(n, attribute.String("result", "failed")))
			o.ObserveInt64(notes, s.Dropped, metric.WithAttributes(n, attribute.String("result", "dropped")))
		}
		return nil
	}, events, budget, burn, firing, notes)
	if err != nil {
		return fmt.Errorf("slo: metrics: %w", err)
	}
	return nil
}
