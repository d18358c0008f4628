package slo

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/opskit/opskit/internal/timer"
)

// Notifier delivers alerts. Notify is called from the notifier's own
// goroutine, one alert at a time, never under a lock of the Monitor; ctx
// ends after 10 seconds, or when Shutdown runs out of time. A notifier
// must return when ctx ends.
type Notifier interface {
	Notify(ctx context.Context, a Alert) error
}

// NotifierFunc adapts a function to Notifier: the Go callback notifier.
type NotifierFunc func(ctx context.Context, a Alert) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, a Alert) error { return f(ctx, a) }

// notifyTimeout bounds one delivery.
const notifyTimeout = 10 * time.Second

// DeliveryStats counts what happened to the notifications of one notifier.
type DeliveryStats struct {
	Sent    int64 // delivered without error
	Failed  int64 // the notifier returned an error (or panicked)
	Dropped int64 // the queue was full, or the Monitor closed first
}

// dispatcher owns one notifier's queue, goroutine and rate limiter, so a
// slow or failing notifier never blocks Evaluate or other notifiers.
type dispatcher struct {
	m       *Monitor
	index   int
	n       Notifier
	limiter *rate.Limiter
	queue   chan Alert
	ctx     context.Context
	cancel  context.CancelFunc
	closing chan struct{} // closed by close: queued alerts go out without waiting for the limiter
	once    sync.Once

	sent, failed, dropped atomic.Int64
}

func newDispatcher(m *Monitor, index int, n Notifier) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &dispatcher{m: m, index: index, n: n, limiter: rate.NewLimiter(rate.Every(m.cfg.every), m.cfg.burst),
		queue: make(chan Alert, m.cfg.queue), ctx: ctx, cancel: cancel, closing: make(chan struct{})}
}

// enqueue never blocks: a full queue drops the alert and counts it.
func (d *dispatcher) enqueue(a Alert) {
	select {
	case d.queue <- a:
	default:
		d.dropped.Add(1)
		d.m.log.Warn("slo: notification dropped, queue full", "notifier", d.index, "objective", a.Objective, "severity", a.Severity)
	}
}

// close stops accepting alerts; run delivers what is queued, then returns.
// Requires the evaluation goroutine stopped (no enqueue after close).
func (d *dispatcher) close() { d.once.Do(func() { close(d.closing); close(d.queue) }) }

func (d *dispatcher) run() {
	defer d.m.notifies.Done()
	defer d.cancel()
	for a := range d.queue {
		if d.ctx.Err() != nil || !d.wait() {
			d.dropped.Add(1) // Shutdown ran out of time
			continue
		}
		d.deliver(a)
	}
}

// wait blocks until the rate limiter allows one more notification.
func (d *dispatcher) wait() bool {
	now := d.m.clock.Now()
	r := d.limiter.ReserveN(now, 1)
	if !r.OK() {
		return false // burst 0 cannot happen: New checks it
	}
	delay := r.DelayFrom(now)
	if delay <= 0 {
		return true
	}
	t := timer.New(d.m.clock, delay)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-d.closing:
		return true
	case <-d.ctx.Done():
		return false
	}
}

func (d *dispatcher) deliver(a Alert) {
	ctx, cancel := timer.WithTimeout(d.ctx, d.m.clock, notifyTimeout)
	defer cancel()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("slo: notifier panicked: %v", p)
			}
		}()
		return d.n.Notify(ctx, a)
	}()
	if err != nil {
		d.failed.Add(1)
		d.m.log.Error("slo: notification failed", "notifier", d.index, "objective", a.Objective, "severity", a.Severity, "err", err)
		return
	}
	d.sent.Add(1)
}

func (d *dispatcher) stats() DeliveryStats {
	return DeliveryStats{Sent: d.sent.Load(), Failed: d.failed.Load(), Dropped: d.dropped.Load()}
}

// DeliveryStats returns the counts of every notifier, in WithNotifier order.
func (m *Monitor) DeliveryStats() []DeliveryStats {
	out := make([]DeliveryStats, len(m.dispatchers))
	for i, d := range m.dispatchers {
		out[i] = d.stats()
	}
	return out
}
