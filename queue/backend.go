package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Backend is the queue contract that Worker and DeadLetterHandler run on
// and that the queuetest conformance suite checks. *Queue (local disk)
// implements it; another store (the postgres module's Queue) implements it
// too. Nothing in it names files or segments.
type Backend interface {
	// Enqueue stores payload durably and returns its id. With a dedupe key
	// already held by a stored message it returns that message's id and an
	// error matching ErrDuplicate.
	Enqueue(ctx context.Context, payload []byte, opts ...EnqueueOption) (ID, error)
	// Receive waits until a message is ready, leases it for visibility and
	// returns it; it returns ctx's error when ctx ends first, ErrClosed
	// once the backend is closed. A visibility above MaxWait is an error.
	Receive(ctx context.Context, visibility time.Duration) (*Message, error)
	// TryReceive is Receive without waiting: ErrEmpty when nothing is ready.
	TryReceive(ctx context.Context, visibility time.Duration) (*Message, error)
	// Ack finishes a delivery: the message is gone. ErrLeaseLost when the
	// lease expired (the message may already be with another consumer).
	Ack(ctx context.Context, m *Message) error
	// Nack fails a delivery: the message comes back after the retry
	// policy's delay, or becomes a dead letter once its attempts are spent.
	Nack(ctx context.Context, m *Message, cause error) error
	// Reject moves a delivered message straight to the dead letters.
	Reject(ctx context.Context, m *Message, cause error) error
	// Release gives a delivery back unprocessed ("not now"): the message
	// is ready again after d (at once when d <= 0; d is capped at MaxWait)
	// and the attempt is not spent. It need not be durable on its own: a
	// crash before the backend's next commit may count the attempt.
	Release(ctx context.Context, m *Message, d time.Duration) error
	// Extend moves the lease deadline to now+d; d above MaxWait is an error.
	Extend(ctx context.Context, m *Message, d time.Duration) error
	// DeadLetters lists the dead letters f selects, lowest id first, with
	// their payloads.
	DeadLetters(ctx context.Context, f DeadFilter) ([]DeadLetter, error)
	// Requeue makes dead letter id ready again with its attempts reset;
	// ErrNotFound when id is not a dead letter.
	Requeue(ctx context.Context, id ID) error
	// Purge deletes dead letter id; ErrNotFound when id is not a dead
	// letter.
	Purge(ctx context.Context, id ID) error
	// RequeueDead requeues every dead letter f selects and returns how
	// many; all of them or none are changed.
	RequeueDead(ctx context.Context, f DeadFilter) (int, error)
	// PurgeDead deletes every dead letter f selects and returns how many;
	// all of them or none are deleted.
	PurgeDead(ctx context.Context, f DeadFilter) (int, error)
	// Stats reports counts and ages.
	Stats(ctx context.Context) (Stats, error)
	// Close releases the backend; calls after it return ErrClosed.
	Close() error
}

// MaxWait bounds every duration a Backend accepts: Enqueue delays and
// not-before times (counted from now), lease visibility and extensions.
// Longer values are refused with an error naming the field, so that no
// time arithmetic can overflow. Release caps its wait at MaxWait.
const MaxWait = 100 * 365 * 24 * time.Hour

// DeadFilter selects dead letters, lowest id first. The zero DeadFilter
// selects them all.
type DeadFilter struct {
	// After, when not zero, selects ids above it: the last id of one page
	// is the After of the next.
	After ID
	// Since and Until, when not zero, select dead letters whose DeadAt is
	// at or after Since and before Until.
	Since, Until time.Time
	// Reason, when not empty, selects dead letters whose reason starts
	// with it.
	Reason string
	// Limit, when > 0, selects at most that many (the lowest ids).
	Limit int
}

// Validate reports the first bad field.
func (f DeadFilter) Validate() error {
	switch {
	case f.Limit < 0:
		return fmt.Errorf("queue: DeadFilter.Limit is %d, want >= 0", f.Limit)
	case !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since):
		return fmt.Errorf("queue: DeadFilter.Until (%v) is before Since (%v)", f.Until, f.Since)
	case len(f.Reason) > maxReason:
		return fmt.Errorf("queue: DeadFilter.Reason is %d bytes, want <= %d", len(f.Reason), maxReason)
	}
	return nil
}

// match reports whether f selects a dead letter (Limit aside).
func (f DeadFilter) match(d DeadLetter) bool {
	return d.ID > f.After &&
		(f.Since.IsZero() || !d.DeadAt.Before(f.Since)) &&
		(f.Until.IsZero() || d.DeadAt.Before(f.Until)) &&
		strings.HasPrefix(d.Reason, f.Reason)
}

// ID identifies a message. Ids increase in enqueue order and are never
// reused by a queue.
type ID uint64

// String formats id as 16 hex digits, the form ParseID reads.
func (id ID) String() string {
	var b [16]byte
	s := strconv.AppendUint(b[:0], uint64(id), 16)
	return "0000000000000000"[len(s):] + string(s)
}

// ParseID parses the form ID.String writes: exactly 16 hex digits, so
// that an id in any other form (a decimal number) is refused rather than
// read as another message's.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || len(s) != 16 {
		return 0, fmt.Errorf("queue: bad message id %q, want 16 hex digits", shorten(s))
	}
	return ID(v), nil
}

// MarshalText writes the form String writes, so JSON, URLs and logs show
// an id the same way.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads the form MarshalText writes.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Message is one delivery of a stored message.
type Message struct {
	ID      ID
	Payload []byte
	// Attempt counts deliveries, this one included: 1 the first time.
	Attempt int
	// EnqueuedAt is when Enqueue accepted the message.
	EnqueuedAt time.Time
	// Deadline is when the lease ends unless extended.
	Deadline time.Time
	// Lease identifies this delivery. Ack, Nack, Reject and Extend check
	// it, so a consumer whose lease expired cannot settle a message that
	// was delivered again. A backend sets it; callers pass it back.
	Lease uint64
}

// DeadLetter is a message that spent its attempts or was rejected. Its
// JSON form writes the id as MarshalText does.
type DeadLetter struct {
	ID         ID        `json:"id"`
	Payload    []byte    `json:"payload"`
	Attempts   int       `json:"attempts"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	DeadAt     time.Time `json:"dead_at"`
	// Reason is the last error given to Nack or Reject.
	Reason string `json:"reason"`
}

// Stats is a snapshot of a queue. Counts are of stored messages; the
// counters (Enqueued and after) count since the queue was opened.
type Stats struct {
	Depth            int           `json:"depth"`     // ready + delayed + in flight
	Ready            int           `json:"ready"`     // deliverable now
	Delayed          int           `json:"delayed"`   // waiting for a not-before time or a backoff
	InFlight         int           `json:"in_flight"` // leased
	Dead             int           `json:"dead"`      // dead letters held
	OldestAge        time.Duration `json:"-"`         // age of the oldest message in Depth
	OldestAgeSeconds float64       `json:"oldest_age_seconds"`
	Bytes            int64         `json:"bytes"` // stored record bytes, dead letters included
	Enqueued         int64         `json:"enqueued"`
	Acked            int64         `json:"acked"`
	Nacked           int64         `json:"nacked"`
	DeadLettered     int64         `json:"dead_lettered"`
	Corrupt          int64         `json:"corrupt"` // damaged records found, at open or on read
	// ReadErrors counts failed reads of stored messages (the message stays
	// and is retried later); Stuck is how many messages failed to read
	// stuckReads times in a row. A backend without such failures leaves
	// them zero.
	ReadErrors int64 `json:"read_errors"`
	Stuck      int   `json:"stuck"`
}

// EnqueueOption adjusts one Enqueue.
type EnqueueOption func(*EnqueueConfig)

// EnqueueConfig is what EnqueueOptions set; other backends read it with
// NewEnqueueConfig.
type EnqueueConfig struct {
	// NotBefore, when not zero, holds the message back until then.
	NotBefore time.Time
	// Delay, when > 0, holds the message back for that long after Enqueue;
	// a backend adds it to its clock's now. NotBefore wins when both are set.
	Delay time.Duration
	// DedupeKey, when not empty, makes Enqueue a no-op while a stored
	// message (ready, delayed, in flight or dead) holds the same key.
	DedupeKey string
}

// NewEnqueueConfig applies opts to a zero EnqueueConfig.
func NewEnqueueConfig(opts ...EnqueueOption) EnqueueConfig {
	var c EnqueueConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Validate reports the first bad field. now is the backend's clock.
func (c EnqueueConfig) Validate(now time.Time) error {
	switch {
	case c.Delay < 0 || c.Delay > MaxWait:
		return fmt.Errorf("queue: Delay is %v, want 0..%v (MaxWait)", c.Delay, MaxWait)
	case !c.NotBefore.IsZero() && (c.NotBefore.Before(minTime) || c.NotBefore.After(now.Add(MaxWait))):
		return fmt.Errorf("queue: NotBefore is %v, want after 1970 and at most MaxWait (%v) from now", c.NotBefore, MaxWait)
	case len(c.DedupeKey) > MaxKeyLen:
		return fmt.Errorf("queue: DedupeKey is %d bytes, want <= %d", len(c.DedupeKey), MaxKeyLen)
	}
	return nil
}

// minTime is the earliest not-before time accepted: the Unix epoch.
var minTime = time.Unix(0, 0)

// WithDelay holds the message back for d.
func WithDelay(d time.Duration) EnqueueOption { return func(c *EnqueueConfig) { c.Delay = d } }

// WithNotBefore holds the message back until t.
func WithNotBefore(t time.Time) EnqueueOption { return func(c *EnqueueConfig) { c.NotBefore = t } }

// WithDedupeKey deduplicates on key while a message with it is stored.
func WithDedupeKey(key string) EnqueueOption {
	return func(c *EnqueueConfig) { c.DedupeKey = key }
}

var (
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("queue: closed")
	// ErrEmpty is returned by TryReceive when nothing is ready.
	ErrEmpty = errors.New("queue: no message ready")
	// ErrFull is returned by Enqueue when the queue holds its maximum
	// bytes or messages (unless it was opened to block instead).
	ErrFull = errors.New("queue: full")
	// ErrDuplicate is returned by Enqueue when the dedupe key is taken.
	ErrDuplicate = errors.New("queue: duplicate dedupe key")
	// ErrLeaseLost is returned when settling a delivery whose lease has
	// expired or was already settled.
	ErrLeaseLost = errors.New("queue: lease lost")
	// ErrNotFound is returned by Requeue and Purge for an id that is not
	// a dead letter.
	ErrNotFound = errors.New("queue: no such dead letter")
	// ErrLocked is returned by Open when another process holds the queue.
	ErrLocked = errors.New("queue: locked by another process")
	// ErrCorrupt matches the error Recovered reports when damaged records
	// were skipped.
	ErrCorrupt = errors.New("queue: corrupt records skipped")
	// ErrBacklog matches the errors of a health check whose limits are
	// exceeded.
	ErrBacklog = errors.New("queue: backlog over limit")
)
