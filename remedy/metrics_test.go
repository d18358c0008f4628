package remedy_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/remedy"
	"github.com/opskit/opskit/slo"
)

// The metrics count runs and undos by outcome, and show what is in effect.
func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	fc := clock.NewFake(start)
	rem, err := remedy.New(nil, remedy.WithAudit(&audittest.Recorder{}), remedy.WithClock(fc), remedy.WithMeterProvider(mp),
		remedy.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer rem.Shutdown(context.Background())
	mon, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Shutdown(context.Background())
	rem.Attach(mon)
	recovered := false
	err = rem.Add(remedy.Rule{Objective: "checkout", PerHour: 10, PerEpisode: 10, CheckEvery: time.Minute, Actions: []remedy.Action{
		{Name: "switch off checkout", Do: func(context.Context, slo.Alert) error { return nil },
			Undo: func(context.Context) error { return nil },
			Recovered: func(context.Context) error {
				if !recovered {
					return errors.New("not yet")
				}
				return nil
			}},
		{Name: "restart payments", Do: func(context.Context, slo.Alert) error { return errors.New("refused") }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	notify := func(id string) {
		if err := rem.Notify(context.Background(), firing(id, slo.Page)); err != nil {
			t.Fatal(err)
		}
	}
	notify("inc-1") // switch done, restart failed
	notify("inc-2") // switch skipped (in effect), restart failed
	got := collect(t, reader)
	for key, want := range map[string]int64{
		"opskit.remedy.runs switch off checkout done":    1,
		"opskit.remedy.runs switch off checkout skipped": 1,
		"opskit.remedy.runs restart payments failed":     2,
		"opskit.remedy.in_effect switch off checkout":    1,
		"opskit.remedy.in_effect restart payments":       0,
	} {
		if got[key] != want {
			t.Errorf("%s = %d, want %d (all: %v)", key, got[key], want, got)
		}
	}
	recovered = true
	fc.Advance(time.Minute)
	got = collect(t, reader)
	if got["opskit.remedy.undos switch off checkout done"] != 1 || got["opskit.remedy.in_effect switch off checkout"] != 0 {
		t.Errorf("after the undo: %v", got)
	}
}

// collect returns every data point as "name action [outcome]" -> value.
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			case metricdata.Sum[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				action, _ := p.Attributes.Value("action")
				key := m.Name + " " + action.AsString()
				if outcome, ok := p.Attributes.Value("outcome"); ok {
					key += " " + outcome.AsString()
				}
				got[key] = p.Value
			}
		}
	}
	return got
}
