package retry

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
)

// ErrBudgetExhausted is returned (wrapped in *Error, with the last failure)
// when a retry was due but the downstream's retry budget was spent.
var ErrBudgetExhausted = errors.New("retry: retry budget exhausted")

// Budget defaults, documented on BudgetConfig.
const (
	defaultBudgetTokens = 10
	defaultBudgetRatio  = 0.1
)

// milli is the fixed-point scale of the token count: tokens are counted in
// thousandths so that fractional deposits stay exact integers.
const milli = 1000

// BudgetConfig sizes a Budget. The zero value means the defaults: 10 tokens,
// 0.1 token earned per success (so in steady state retries stay near 10% of
// successful calls).
type BudgetConfig struct {
	// MaxTokens is the bucket size, and the burst of retries allowed
	// after a quiet period. 0 means 10.
	MaxTokens float64
	// Ratio is the tokens each successful call earns; each scheduled
	// retry spends one. 0 means 0.1.
	Ratio float64
}

// Budget is a token bucket that limits retries to a share of successful
// calls, in the spirit of gRPC retry throttling and Finagle's RetryBudget.
// During an outage there are no successes, so the bucket drains after
// MaxTokens retries and from then on every call makes a single attempt:
// retries cannot multiply the load on a downstream that is already down.
// Share one Budget among every caller of one downstream. It is safe for
// concurrent use and lock-free.
//
// The zero Budget is a full budget with the default settings, the same as
// NewBudget(BudgetConfig{}). A Budget must not be copied after first use.
type Budget struct {
	used    atomic.Int64 // milli-tokens spent and not yet earned back, in [0, limit()]
	max     int64        // milli-tokens; 0 means the default
	deposit int64        // milli-tokens earned per success; 0 means the default
	spent   atomic.Int64 // retries allowed
	denied  atomic.Int64 // retries refused
}

// NewBudget returns a full budget.
func NewBudget(cfg BudgetConfig) (*Budget, error) {
	if cfg.MaxTokens < 0 || math.IsNaN(cfg.MaxTokens) || cfg.MaxTokens > 1e12 {
		return nil, fmt.Errorf("retry: BudgetConfig.MaxTokens is %v, want in [0, 1e12]", cfg.MaxTokens)
	}
	if cfg.Ratio < 0 || math.IsNaN(cfg.Ratio) || cfg.Ratio > 1e6 {
		return nil, fmt.Errorf("retry: BudgetConfig.Ratio is %v, want in [0, 1e6]", cfg.Ratio)
	}
	b := &Budget{}
	if cfg.MaxTokens != 0 {
		b.max = max(int64(math.Round(cfg.MaxTokens*milli)), milli) // at least one retry fits
	}
	if cfg.Ratio != 0 {
		b.deposit = max(int64(math.Round(cfg.Ratio*milli)), 1)
	}
	return b, nil
}

// limit is the bucket size in milli-tokens, defaults applied.
func (b *Budget) limit() int64 {
	if b.max == 0 {
		return defaultBudgetTokens * milli
	}
	return b.max
}

// TryRetry spends one token and reports whether a retry may be scheduled.
// A nil Budget always allows.
func (b *Budget) TryRetry() bool {
	if b == nil {
		return true
	}
	limit := b.limit()
	for {
		cur := b.used.Load()
		if limit-cur < milli {
			b.denied.Add(1)
			return false
		}
		if b.used.CompareAndSwap(cur, cur+milli) {
			b.spent.Add(1)
			return true
		}
	}
}

// Success credits one successful call. A nil Budget ignores it.
func (b *Budget) Success() {
	if b == nil {
		return
	}
	deposit := b.deposit
	if deposit == 0 {
		deposit = defaultBudgetRatio * milli
	}
	for {
		cur := b.used.Load()
		if cur <= 0 {
			return // full: a load, no write, so hot callers do not contend
		}
		if b.used.CompareAndSwap(cur, max(cur-deposit, 0)) {
			return
		}
	}
}

// BudgetStats counts a budget's decisions since it was made.
type BudgetStats struct {
	Tokens  float64 // retries the budget would allow now (+Inf for a nil Budget)
	Allowed int64   // retries the budget allowed
	Denied  int64   // retries it refused
}

// Stats returns the budget's counters.
func (b *Budget) Stats() BudgetStats {
	if b == nil {
		return BudgetStats{Tokens: math.Inf(1)}
	}
	tokens := float64(b.limit()-b.used.Load()) / milli
	return BudgetStats{Tokens: tokens, Allowed: b.spent.Load(), Denied: b.denied.Load()}
}
