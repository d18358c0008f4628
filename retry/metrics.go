package retry

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

const meterName = "github.com/opskit/opskit/retry"

// result is how one Do call ended.
type result int

const (
	resultOK result = iota
	resultExhausted
	resultPermanent
	resultDeadline
	resultBudget
	resultCanceled
	resultRejected // by the breaker or the limiter
	numResults
)

var resultNames = [numResults]string{"ok", "exhausted", "permanent", "deadline", "budget_exhausted", "canceled", "rejected"}

// retryStats counts what the retry loop does. The loop only touches
// atomics; the observable instruments read them at collection time. A nil
// *retryStats (the bare Do function) counts nothing.
type retryStats struct {
	calls          [numResults]atomic.Int64
	attemptsOK     atomic.Int64
	attemptsFailed atomic.Int64
	delay          metric.Float64Histogram // recorded on retries only, off the success path
	delayOpt       metric.RecordOption
}

func (s *retryStats) finish(r result, attempts int) {
	if s == nil {
		return
	}
	s.calls[r].Add(1)
	if r == resultOK {
		s.attemptsOK.Add(1)
	}
}

func (s *retryStats) failedAttempt() {
	if s != nil {
		s.attemptsFailed.Add(1)
	}
}

func (s *retryStats) retry(d time.Duration) {
	if s != nil && s.delay != nil {
		s.delay.Record(context.Background(), d.Seconds(), s.delayOpt)
	}
}

// register creates the retry loop's and the budget's instruments.
func (s *retryStats) register(mp metric.MeterProvider, downstream string, budget *Budget, th *throttle) (metric.Registration, error) {
	m := mp.Meter(meterName)
	ds := attribute.String("downstream", downstream)
	var errs [6]error
	var attempts, calls metric.Int64ObservableCounter
	var tokens metric.Float64ObservableGauge
	var denied metric.Int64ObservableCounter
	attempts, errs[0] = m.Int64ObservableCounter("opskit.retry.attempts",
		metric.WithUnit("{attempt}"), metric.WithDescription("Calls of the retried function, by outcome."))
	calls, errs[1] = m.Int64ObservableCounter("opskit.retry.calls",
		metric.WithUnit("{call}"), metric.WithDescription("Retried operations, by how they ended."))
	s.delay, errs[2] = m.Float64Histogram("opskit.retry.delay",
		metric.WithUnit("s"), metric.WithDescription("Waits scheduled before retries."))
	tokens, errs[3] = m.Float64ObservableGauge("opskit.retry.budget.tokens",
		metric.WithUnit("{token}"), metric.WithDescription("Retries the retry budget would allow now."))
	denied, errs[4] = m.Int64ObservableCounter("opskit.retry.budget.denied",
		metric.WithUnit("{retry}"), metric.WithDescription("Retries refused because the budget was spent."))
	var throttled metric.Int64ObservableCounter
	throttled, errs[5] = m.Int64ObservableCounter("opskit.retry.throttle.rejections",
		metric.WithUnit("{request}"), metric.WithDescription("Requests the adaptive throttle refused locally."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	s.delayOpt = metric.WithAttributeSet(attribute.NewSet(ds))
	okSet := metric.WithAttributeSet(attribute.NewSet(ds, attribute.String("outcome", "success")))
	failSet := metric.WithAttributeSet(attribute.NewSet(ds, attribute.String("outcome", "failure")))
	var resultSets [numResults]metric.ObserveOption
	for i := range resultSets {
		resultSets[i] = metric.WithAttributeSet(attribute.NewSet(ds, attribute.String("result", resultNames[i])))
	}
	dsOnly := metric.WithAttributeSet(attribute.NewSet(ds))
	instruments := []metric.Observable{attempts, calls}
	if budget != nil {
		instruments = append(instruments, tokens, denied)
	}
	if th != nil {
		instruments = append(instruments, throttled)
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(attempts, s.attemptsOK.Load(), okSet)
		o.ObserveInt64(attempts, s.attemptsFailed.Load(), failSet)
		for i := range s.calls {
			o.ObserveInt64(calls, s.calls[i].Load(), resultSets[i])
		}
		if budget != nil {
			st := budget.Stats()
			o.ObserveFloat64(tokens, st.Tokens, dsOnly)
			o.ObserveInt64(denied, st.Denied, dsOnly)
		}
		if th != nil {
			o.ObserveInt64(throttled, th.rejected.Load(), dsOnly)
		}
		return nil
	}, instruments...)
}

// registration is a metrics registration that Close releases at most
// once, from any goroutine.
type registration struct {
	r atomic.Pointer[metric.Registration]
}

func (g *registration) set(r metric.Registration) {
	if r != nil {
		g.r.Store(&r)
	}
}

func (g *registration) release() error {
	if p := g.r.Swap(nil); p != nil {
		return (*p).Unregister()
	}
	return nil
}
