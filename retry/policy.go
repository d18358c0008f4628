package retry

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults used for the zero fields of a Policy.
const (
	DefaultMaxAttempts = 3
	DefaultBaseDelay   = 100 * time.Millisecond
	DefaultMaxDelay    = 10 * time.Second
)

// Jitter selects how a backoff delay is randomised. Randomising spreads the
// retries of many clients that failed together, so they do not return
// together.
type Jitter int

const (
	// JitterFull (the default) waits uniformly in [0, d], d being the
	// exponential delay. It spreads load best.
	JitterFull Jitter = iota
	// JitterEqual waits d/2 plus uniformly in [0, d/2]: never less than
	// half the exponential delay.
	JitterEqual
	// JitterDecorrelated is the "decorrelated jitter" of the AWS
	// Architecture Blog: each wait is uniform in [BaseDelay, 3×previous
	// wait], capped by MaxDelay.
	JitterDecorrelated
	// JitterNone waits exactly the exponential delay.
	JitterNone
)

// String names the jitter kind.
func (j Jitter) String() string {
	switch j {
	case JitterFull:
		return "full"
	case JitterEqual:
		return "equal"
	case JitterDecorrelated:
		return "decorrelated"
	case JitterNone:
		return "none"
	}
	return fmt.Sprintf("Jitter(%d)", int(j))
}

// Policy says how often and how patiently to retry. The zero Policy is
// useful: 3 attempts, 100ms base delay doubling up to 10s, full jitter,
// every error retryable except Permanent ones and the caller's own context
// ending. A Policy is a plain value, safe to copy and to share; the retry
// budget belongs to a Retrier or a Transport (WithBudget), not to it.
type Policy struct {
	// MaxAttempts counts every call of the function, the first one
	// included. 0 means DefaultMaxAttempts; 1 means no retries.
	MaxAttempts int
	// BaseDelay is the exponential delay after the first failure; it
	// doubles after each further failure. 0 means DefaultBaseDelay.
	BaseDelay time.Duration
	// MaxDelay caps every wait, after jitter. 0 means DefaultMaxDelay.
	MaxDelay time.Duration
	// Jitter randomises the waits; the zero value is JitterFull.
	Jitter Jitter
	// AttemptTimeout bounds each attempt; the attempt's context ends at
	// the earlier of this and the caller's deadline. 0 means no bound of
	// its own (only the caller's deadline applies), which also keeps the
	// success path free of allocations. A bound costs a timer context per
	// attempt: through the Transport about 2µs and 9 allocations per
	// request (BenchmarkKitLayer in benchmarks/e2e).
	AttemptTimeout time.Duration
	// Retryable classifies errors; it returns false for errors that must
	// not be retried. nil retries every error except the ones never
	// retried, whatever Retryable says: Permanent errors, the caller's
	// context ending, breaker and rate-limiter refusals, and certificate
	// errors.
	Retryable func(error) bool
}

// Validate reports the first field holding a value no default can stand
// for.
func (p Policy) Validate() error {
	switch {
	case p.MaxAttempts < 0:
		return fmt.Errorf("retry: Policy.MaxAttempts is %d, want >= 0", p.MaxAttempts)
	case p.BaseDelay < 0:
		return fmt.Errorf("retry: Policy.BaseDelay is %v, want >= 0", p.BaseDelay)
	case p.MaxDelay < 0:
		return fmt.Errorf("retry: Policy.MaxDelay is %v, want >= 0", p.MaxDelay)
	case p.AttemptTimeout < 0:
		return fmt.Errorf("retry: Policy.AttemptTimeout is %v, want >= 0", p.AttemptTimeout)
	case p.Jitter < JitterFull || p.Jitter > JitterNone:
		return fmt.Errorf("retry: Policy.Jitter is %d, want one of the Jitter constants", int(p.Jitter))
	}
	return nil
}

// attempts returns MaxAttempts with its default applied.
func (p Policy) attempts() int {
	if p.MaxAttempts <= 0 {
		return DefaultMaxAttempts
	}
	return p.MaxAttempts
}

// bounds returns the base and max delays with defaults applied, base never
// above max.
func (p Policy) bounds() (base, limit time.Duration) {
	base, limit = p.BaseDelay, p.MaxDelay
	if base <= 0 {
		base = DefaultBaseDelay
	}
	if limit <= 0 {
		limit = DefaultMaxDelay
	}
	return min(base, limit), limit
}

// exponential returns base·2^(n-1) for n >= 1, saturating at limit.
func exponential(base, limit time.Duration, n int) time.Duration {
	shift := n - 1
	if shift <= 0 {
		return base
	}
	if shift >= 62 || base > limit>>shift {
		return limit
	}
	return base << shift
}

// uniform returns a duration uniformly distributed in [lo, hi]; lo <= hi.
func uniform(lo, hi time.Duration) time.Duration {
	span := hi - lo
	if span <= 0 {
		return lo
	}
	if span == math.MaxInt64 {
		return lo + time.Duration(rand.Int64())
	}
	return lo + time.Duration(rand.Int64N(int64(span)+1))
}

// Delay returns the wait before the retry that follows failed attempt
// number attempt (1-based; values below 1 count as 1), jitter applied. It
// never overflows, never exceeds MaxDelay and is never negative. It is safe
// for concurrent use and does not allocate.
//
// For JitterDecorrelated, whose real form depends on the previous wait,
// Delay assumes the previous wait was the un-jittered exponential delay of
// the attempt before; Do itself uses the exact sequence.
func (p Policy) Delay(attempt int) time.Duration {
	if p.Jitter == JitterDecorrelated {
		base, limit := p.bounds()
		prev := base
		if attempt > 1 {
			prev = exponential(base, limit, attempt-1)
		}
		return p.nextDelay(attempt, prev)
	}
	return p.nextDelay(attempt, 0)
}

// nextDelay is Delay for a caller that remembers the previous wait (0
// before the first retry). Only JitterDecorrelated uses prev: the wait is
// uniform in [BaseDelay, 3×prev], capped by MaxDelay. Do uses this form.
func (p Policy) nextDelay(attempt int, prev time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	base, limit := p.bounds()
	var d time.Duration
	switch p.Jitter {
	case JitterDecorrelated:
		if prev < base {
			prev = base
		}
		hi := limit
		if prev <= limit/3 {
			hi = prev * 3
		}
		d = uniform(base, hi)
	case JitterEqual:
		e := exponential(base, limit, attempt)
		d = uniform(e/2, e)
	case JitterNone:
		d = exponential(base, limit, attempt)
	default: // JitterFull and, defensively, unknown kinds
		d = uniform(0, exponential(base, limit, attempt))
	}
	return min(max(d, 0), limit)
}
