package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Backend is the queue contract that Worker runs on and that the queuetest
// conformance suite checks. *Queue (local disk) implements it; another
// store (the queue/postgres module) implements it too. Nothing in it names
// files or segments.
type Backend interface {
	// Enqueue stores payload durably and returns its id. With a dedupe key
	// already held by a stored message it returns that message's id and an
	// error matching ErrDuplicate.
	Enqueue(ctx context.Context, payload []byte, opts ...EnqueueOption) (ID, error)
	// Receive waits until a message is ready, leases it for visibility and
	// returns it; it returns ctx's error when ctx ends first, ErrClosed
	// once the backend is closed.
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
	// Extend moves the lease deadline to now+d.
	Extend(ctx context.Context, m *Message, d time.Duration) error
	// DeadLetters lists up to limit dead letters (all when limit <= 0),
	// oldest id first, with their payloads.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Requeue makes dead letter id ready again with its attempts reset.
	Requeue(ctx context.Context, id ID) error
	// Purge deletes dead letter id.
	Purge(ctx context.Context, id ID) error
	// Stats reports counts and ages.
	Stats(ctx context.Context) (Stats, error)
	// Close releases the backend; calls after it return ErrClosed.
	Close() error
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

// ParseID parses the form ID.String writes.
func ParseID(s string) (ID, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || len(s) == 0 || len(s) > 16 {
		return 0, fmt.Errorf("queue: bad message id %q", s)
	}
	return ID(v), nil
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

// DeadLetter is a message that spent its attempts or was rejected.
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

// Validate reports the first bad field.
func (c EnqueueConfig) Validate() error {
	if c.Delay < 0 {
		return fmt.Errorf("queue: Delay is %v, want >= 0", c.Delay)
	}
	if len(c.DedupeKey) > MaxKeyLen {
		return fmt.Errorf("queue: DedupeKey is %d bytes, want <= %d", len(c.DedupeKey), MaxKeyLen)
	}
	return nil
}

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
