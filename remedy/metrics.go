package remedy

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const scope = "github.com/opskit/opskit/remedy"

// Outcomes counted by opskit.remedy.runs and opskit.remedy.undos.
const (
	outcomeDone    = "done"
	outcomeFailed  = "failed"
	outcomeDryRun  = "dry_run"
	outcomeSkipped = "skipped" // a limit, a person's switch, not the leader, not attached
)

// tally counts one outcome of s. Requires mu held.
func (s *slot) tally(undo bool, outcome string) {
	if s.counts == nil {
		s.counts = map[[2]string]int64{}
	}
	kind := "run"
	if undo {
		kind = "undo"
	}
	s.counts[[2]string{kind, outcome}]++
}

// newMetrics registers the instruments, read at collection time under mu.
func (n *Notifier) newMetrics(mp metric.MeterProvider) (metric.Registration, error) {
	meter := mp.Meter(scope)
	var err, e error
	runs, e := meter.Int64ObservableCounter("opskit.remedy.runs", metric.WithUnit("{run}"),
		metric.WithDescription("Runs of remediation actions, by objective, action and outcome (done, failed, dry_run, skipped)."))
	err = errors.Join(err, e)
	undos, e := meter.Int64ObservableCounter("opskit.remedy.undos", metric.WithUnit("{undo}"),
		metric.WithDescription("Undos of remediation actions after their recovery signal, by objective, action and outcome."))
	err = errors.Join(err, e)
	inEffect, e := meter.Int64ObservableGauge("opskit.remedy.in_effect", metric.WithUnit("{action}"),
		metric.WithDescription("1 while an action is in effect, waiting for its recovery signal."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, errors.Join(errors.New("remedy: creating instruments"), err)
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		for objective, slots := range n.slots {
			for _, s := range slots {
				id := []attribute.KeyValue{attribute.String("objective", objective), attribute.String("action", s.act.Name)}
				var active int64
				if s.active {
					active = 1
				}
				o.ObserveInt64(inEffect, active, metric.WithAttributes(id...))
				for k, v := range s.counts {
					inst := runs
					if k[0] == "undo" {
						inst = undos
					}
					o.ObserveInt64(inst, v, metric.WithAttributes(append(id, attribute.String("outcome", k[1]))...))
				}
			}
		}
		return nil
	}, runs, undos, inEffect)
	if err != nil {
		return nil, errors.Join(errors.New("remedy: registering the metrics callback"), err)
	}
	return reg, nil
}
