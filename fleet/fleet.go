package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Store is what the replicas of one service share. Every method is safe
// for concurrent use by any number of replicas (processes) at once.
//
// Kinds and names are short identifiers chosen by the package that uses
// them ("feature", "slo", "incident", "audit"); instances are replica
// names (slo.WithInstance, feature.WithInstance).
type Store interface {
	// Key returns the fleet's secret called name. The first caller's
	// proposed value is stored; every caller, on any replica, at any time
	// after, gets that same value back — also when several replicas start
	// at once.
	Key(ctx context.Context, name string, proposed []byte) ([]byte, error)

	// Put replaces instance's state of kind (a replica publishes its own
	// counts; nobody else writes them, so there is no lost update).
	Put(ctx context.Context, kind, instance string, data []byte) error

	// States returns every instance's latest state of kind, ordered by
	// instance, each with the time it was written (by the store's clock).
	States(ctx context.Context, kind string) ([]State, error)

	// Append adds one record to the fleet's log of kind and returns its
	// sequence number: 1, 2, 3 … per kind, unique fleet-wide, never reused.
	Append(ctx context.Context, kind string, data []byte) (uint64, error)

	// Records returns up to limit records of kind with Seq > after, oldest
	// first. limit ≤ 0 means MaxRecords.
	Records(ctx context.Context, kind string, after uint64, limit int) ([]Record, error)

	// Lead makes instance the holder of the lease called name when the
	// lease is free, expired, or already instance's, for ttl from now (by
	// the store's clock), and reports whether instance holds it. A holder
	// renews by calling Lead again well within ttl; a holder that dies
	// loses the lease ttl after its last renewal, and the next caller
	// takes it. A holder that shuts down gives the lease up by renewing
	// it for the shortest ttl (a millisecond).
	Lead(ctx context.Context, name, instance string, ttl time.Duration) (bool, error)
}

// State is one instance's latest state of a kind.
type State struct {
	Instance string
	At       time.Time
	Data     []byte
}

// Record is one entry of a fleet log.
type Record struct {
	Seq  uint64
	At   time.Time
	Data []byte
}

// Limits every Store enforces, so no caller can make another replica read
// or hold an unbounded amount.
const (
	MaxName    = 200     // bytes in a kind, name or instance
	MaxData    = 8 << 20 // bytes in one state or record
	MaxRecords = 1000    // records returned by one Records call
)

// ErrInvalid is matched (errors.Is) by every error about a bad argument.
var ErrInvalid = errors.New("fleet: invalid argument")

// Check validates the arguments a Store receives; implementations call it
// first so every store rejects the same input with the same words.
func Check(field, value string) error {
	if value == "" {
		return fmt.Errorf("%w: %s is empty", ErrInvalid, field)
	}
	if len(value) > MaxName {
		return fmt.Errorf("%w: %s %.20q… is %d bytes (max %d)", ErrInvalid, field, value, len(value), MaxName)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalid, field, value)
	}
	for _, r := range value {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s %q contains a control character", ErrInvalid, field, value)
		}
	}
	return nil
}

// CheckData validates a state or record payload.
func CheckData(data []byte) error {
	if len(data) > MaxData {
		return fmt.Errorf("%w: data is %d bytes (max %d)", ErrInvalid, len(data), MaxData)
	}
	return nil
}

// CheckTTL validates a lease duration.
func CheckTTL(ttl time.Duration) error {
	if ttl < time.Millisecond || ttl > 24*time.Hour {
		return fmt.Errorf("%w: ttl %v is outside 1ms..24h", ErrInvalid, ttl)
	}
	return nil
}
