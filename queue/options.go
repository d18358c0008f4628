package queue

import (
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
	"github.com/opskit/opskit/retry"
)

// Defaults for the options of Open.
const (
	DefaultSegmentSize = 64 << 20
	DefaultMaxPayload  = 16 << 20
)

// DefaultRetryPolicy returns the redelivery schedule used when
// WithRetryPolicy is not given. It keeps a message through at least an
// hour of downstream outage before dead-lettering it: 33 deliveries, the
// waits between them 1s doubling to a cap of 5m with equal jitter (each
// wait between half and all of its nominal value). The nominal waits add up
// to 2h3m31s (1+2+...+256s, then 23 waits of 5m); with jitter, to at least
// 1h1m45s. "Not now" answers (see Handler) spend no attempt at all.
func DefaultRetryPolicy() retry.Policy {
	return retry.Policy{MaxAttempts: 33, BaseDelay: time.Second, MaxDelay: 5 * time.Minute, Jitter: retry.JitterEqual}
}

// Option configures Open.
type Option interface{ apply(*config) }

// optionFunc adapts a function to Option.
type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	mp          metric.MeterProvider
	log         *slog.Logger
	clk         clock.Clock
	policy      retry.Policy
	syncEvery   time.Duration
	segmentSize int64
	maxPayload  int
	maxBytes    int64
	maxMessages int
	block       bool
	fs          fsys // the file-system seam; tests inject faults through it
}

// WithMeterProvider sets where metrics go; default otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.mp = mp })
}

// WithLogger sets the logger for recovery reports and background errors;
// default slog.Default().
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.log = l }) }

// WithClock sets the clock for not-before times, leases, backoff, ages and
// the relaxed-mode sync interval; default (and nil) the real clock.
func WithClock(clk clock.Clock) Option { return optionFunc(func(c *config) { c.clk = clk }) }

// WithRetryPolicy sets the Nack backoff and the dead-letter threshold: a
// message is dead-lettered when a delivery fails (Nack or an expired
// lease) and its attempt number has reached p.MaxAttempts. Zero fields of
// p mean retry's defaults (3 attempts, 100ms doubling to 10s); without
// this option DefaultRetryPolicy() applies. Only MaxAttempts, BaseDelay,
// MaxDelay and Jitter are used.
func WithRetryPolicy(p retry.Policy) Option { return optionFunc(func(c *config) { c.policy = p }) }

// WithSyncInterval switches to relaxed mode: Enqueue, Ack and the other
// settling calls return once the record is appended in memory, and the log
// is written and fsynced every d (and written, without fsync, whenever 1
// MiB is pending or a consumer needs an unwritten payload).
//
// What each mode can lose. Durable mode (d <= 0, the default): nothing
// whose call returned nil; a call that returned an error may or may not
// have been stored. Relaxed mode: if the process dies, the records still
// in memory (at most the last d of calls, at most about 1 MiB); if the
// machine or its operating system dies, everything since the last fsync
// (the last d). A lost ack means a redelivery; a lost enqueue, a lost
// message whose id may be given again. When a periodic fsync fails, the
// log refuses all further work at once (Enqueue, Receive and the settling
// calls return the error, and Stats and the health check report it):
// records written since the last good fsync may not be on disk, and the
// messages they hold stay undeliverable until the queue is reopened, which
// re-reads what the disk really has.
func WithSyncInterval(d time.Duration) Option { return optionFunc(func(c *config) { c.syncEvery = d }) }

// WithSegmentSize sets the size at which a new segment file is started;
// default DefaultSegmentSize.
func WithSegmentSize(n int64) Option { return optionFunc(func(c *config) { c.segmentSize = n }) }

// WithMaxPayload sets the largest accepted payload; default
// DefaultMaxPayload.
func WithMaxPayload(n int) Option { return optionFunc(func(c *config) { c.maxPayload = n }) }

// WithMaxBytes bounds the record bytes of stored messages (dead letters
// included); 0, the default, means no bound. Enqueue past it answers
// ErrFull, or blocks with WithBlockWhenFull.
func WithMaxBytes(n int64) Option { return optionFunc(func(c *config) { c.maxBytes = n }) }

// WithMaxMessages bounds the stored messages (dead letters included); 0,
// the default, means no bound.
func WithMaxMessages(n int) Option { return optionFunc(func(c *config) { c.maxMessages = n }) }

// WithBlockWhenFull makes Enqueue wait for room (or its context) instead of
// answering ErrFull.
func WithBlockWhenFull() Option { return optionFunc(func(c *config) { c.block = true }) }

func newConfig(opts []Option) (config, error) {
	c := config{policy: DefaultRetryPolicy(), segmentSize: DefaultSegmentSize, maxPayload: DefaultMaxPayload}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.fs == nil {
		c.fs = osFS{}
	}
	c.clk = timer.Or(c.clk)
	if c.policy.MaxAttempts == 0 {
		c.policy.MaxAttempts = retry.DefaultMaxAttempts
	}
	switch {
	case c.segmentSize < 4096:
		return c, fmt.Errorf("queue: SegmentSize is %d, want >= 4096", c.segmentSize)
	case c.maxPayload <= 0 || c.maxPayload > maxBodySize-bodyHeader-MaxKeyLen:
		return c, fmt.Errorf("queue: MaxPayload is %d, want 1..%d", c.maxPayload, maxBodySize-bodyHeader-MaxKeyLen)
	case c.maxBytes < 0:
		return c, fmt.Errorf("queue: MaxBytes is %d, want >= 0", c.maxBytes)
	case c.maxMessages < 0:
		return c, fmt.Errorf("queue: MaxMessages is %d, want >= 0", c.maxMessages)
	}
	if err := c.policy.Validate(); err != nil {
		return c, fmt.Errorf("queue: retry policy: %w", err)
	}
	return c, nil
}
