package report

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/retry"
)

// Option configures a Writer (New).
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	clock     clock.Clock
	loc       *time.Location
	catchUp   int
	hook      *Webhook
	leader    func() bool
	log       *slog.Logger
	onDeliver func(Week, error)
}

// DefaultCatchUp is how many missed weeks a Writer writes at most when it
// starts (WithCatchUp).
const DefaultCatchUp = 8

// MaxCatchUp bounds WithCatchUp.
const MaxCatchUp = 52

// recheck is how often a Writer that failed to write or deliver tries
// again; leaderRecheck how often one that is not the leader asks again
// (a leader is chosen at the monitors' first evaluations after a start).
const (
	recheck       = time.Hour
	leaderRecheck = time.Minute
)

// WithClock sets the clock. Default: clock.Real().
func WithClock(c clock.Clock) Option { return optionFunc(func(cfg *config) { cfg.clock = c }) }

// WithLocation sets where a week starts: Monday 00:00 in loc. Default UTC.
func WithLocation(loc *time.Location) Option { return optionFunc(func(c *config) { c.loc = loc }) }

// WithCatchUp sets how many missed weeks a Writer writes, newest last,
// when it finds several missing (after a long stop): 1 to MaxCatchUp,
// default DefaultCatchUp. Older missed weeks are skipped and logged.
func WithCatchUp(n int) Option { return optionFunc(func(c *config) { c.catchUp = n }) }

// WithLeader makes the Writer write only while leader returns true, for a
// fleet where every replica runs a Writer over shared records: the others
// ask again every minute. leader is called once per scheduled pass, never
// under a lock. Default: always write.
func WithLeader(leader func() bool) Option { return optionFunc(func(c *config) { c.leader = leader }) }

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.log = l }) }

// WithWebhook POSTs each week's JSON report to a webhook once it is
// written. A delivery that still fails after h.Policy's attempts is tried
// again an hour later, and after a restart, until it succeeds; the weeks
// waiting are kept in the Writer's state.
func WithWebhook(h Webhook) Option { return optionFunc(func(c *config) { c.hook = &h }) }

// WithOnDelivery calls f after each delivery of a week to the webhook has
// succeeded (err nil, the state already saved) or given up for now. f is
// called from the Writer's goroutine, never under a lock.
func WithOnDelivery(f func(w Week, err error)) Option {
	return optionFunc(func(c *config) { c.onDeliver = f })
}

// Webhook is where WithWebhook delivers. Its zero fields are defaults.
type Webhook struct {
	URL string // http or https; required
	// Client sends the requests. Default: a client with a 30-second
	// timeout per request.
	Client *http.Client
	// Policy retries a failed POST (a network error, 408, 429 or a 5xx;
	// any other status is final). Its zero MaxAttempts, BaseDelay and
	// MaxDelay mean 5 attempts, waits from 1 second up to 1 minute.
	Policy retry.Policy
	// Timeout bounds one delivery, its retries included. Default 5 minutes.
	Timeout time.Duration
}
