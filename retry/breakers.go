package retry

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// defaultBreakersSize is how many per-key breakers a Breakers keeps by
// default (documented on NewBreakers).
const defaultBreakersSize = 1024

// Breakers holds one breaker per key (a Transport uses the host), created
// on first use and bounded by a least-recently-used cache, so a client
// that talks to unboundedly many hosts cannot grow without limit. An
// evicted breaker is forgotten with its state.
type Breakers struct {
	settings BreakerSettings
	cfg      config
	stats    *breakerStats
	cache    *lru.Cache[string, *Breaker]
	reg      registration

	mu     sync.Mutex // guards creating breakers and listen
	listen []func(StateChange)
}

// NewBreakers returns an empty set of breakers configured by s; size 0
// means 1024. WithName names the downstream in their
// metrics. Close releases its metrics.
func NewBreakers(s BreakerSettings, size int, opts ...BreakerOption) (*Breakers, error) {
	return newBreakers(s, size, configure(opts, BreakerOption.applyBreaker))
}

func newBreakers(s BreakerSettings, size int, cfg config) (*Breakers, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("retry: Breakers size is %d, want >= 0", size)
	}
	cache, err := lru.New[string, *Breaker](cmpOr(size, defaultBreakersSize))
	if err != nil {
		return nil, fmt.Errorf("retry: breakers cache: %w", err)
	}
	bs := &Breakers{settings: s, cfg: cfg, stats: &breakerStats{downstream: cfg.name}, cache: cache}
	reg, err := bs.stats.register(bs.cfg.meterProvider, bs.all)
	bs.reg.set(reg)
	if err != nil {
		return nil, fmt.Errorf("retry: breaker metrics: %w", err)
	}
	return bs, nil
}

// Get returns key's breaker, creating it closed on first use.
func (bs *Breakers) Get(key string) *Breaker {
	if b, ok := bs.cache.Get(key); ok {
		return b
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.cache.Get(key); ok {
		return b
	}
	b, _ := newBreaker(key, bs.settings, &bs.cfg, bs.stats, bs) // settings validated by NewBreakers
	bs.cache.Add(key, b)
	return b
}

// OnStateChange adds a listener that hears every breaker of the set, with
// the same guarantees as Breaker.OnStateChange.
func (bs *Breakers) OnStateChange(f func(StateChange)) {
	bs.mu.Lock()
	bs.listen = append(bs.listen, f)
	bs.mu.Unlock()
}

func (bs *Breakers) listeners() []func(StateChange) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.listen
}

// States returns each known key's state.
func (bs *Breakers) States() map[string]State {
	out := make(map[string]State, bs.cache.Len())
	for b := range bs.all {
		out[b.name] = b.State()
	}
	return out
}

// Check is a health check: it fails naming every open breaker.
func (bs *Breakers) Check(context.Context) error {
	var open []string
	for b := range bs.all {
		if b.State() == StateOpen {
			open = append(open, b.name)
		}
	}
	if len(open) == 0 {
		return nil
	}
	sort.Strings(open)
	return fmt.Errorf("retry: circuit breakers open for %q: %w", open, ErrCircuitOpen)
}

// Close releases the set's metrics registration. It is safe to call more
// than once.
func (bs *Breakers) Close() error {
	return bs.reg.release()
}

// all yields the breakers the cache holds now.
func (bs *Breakers) all(yield func(*Breaker) bool) {
	for _, b := range bs.cache.Values() {
		if !yield(b) {
			return
		}
	}
}

// Requests outcomes counted by a breaker.
const (
	reqSuccess = iota
	reqFailure
	reqExcluded
	reqRejected
	numReq
)

var reqNames = [numReq]string{"success", "failure", "excluded", "rejected"}

// breakerStats counts what breakers do, with atomics only; one is shared
// by all breakers of a set, so counters survive eviction.
type breakerStats struct {
	downstream  string
	requests    [numReq]atomic.Int64
	transitions [3]atomic.Int64 // indexed by the new State
}

// register creates the breaker instruments over the breakers each yields.
func (s *breakerStats) register(mp metric.MeterProvider, each iter.Seq[*Breaker]) (metric.Registration, error) {
	m := mp.Meter(meterName)
	state, err1 := m.Int64ObservableGauge("opskit.retry.breaker.state",
		metric.WithUnit("{state}"), metric.WithDescription("Breaker state: 0 closed, 1 half-open, 2 open."))
	transitions, err2 := m.Int64ObservableCounter("opskit.retry.breaker.transitions",
		metric.WithUnit("{transition}"), metric.WithDescription("Breaker state changes, by the state entered."))
	requests, err3 := m.Int64ObservableCounter("opskit.retry.breaker.requests",
		metric.WithUnit("{request}"), metric.WithDescription("Calls offered to breakers, by outcome."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	ds := attribute.String("downstream", s.downstream)
	var toSets [3]metric.ObserveOption
	for st := range toSets {
		toSets[st] = metric.WithAttributeSet(attribute.NewSet(ds, attribute.String("to", State(st).String())))
	}
	var reqSets [numReq]metric.ObserveOption
	for i := range reqSets {
		reqSets[i] = metric.WithAttributeSet(attribute.NewSet(ds, attribute.String("outcome", reqNames[i])))
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for b := range each {
			o.ObserveInt64(state, int64(b.State()), metric.WithAttributes(ds, attribute.String("breaker", b.name)))
		}
		for i := range s.transitions {
			o.ObserveInt64(transitions, s.transitions[i].Load(), toSets[i])
		}
		for i := range s.requests {
			o.ObserveInt64(requests, s.requests[i].Load(), reqSets[i])
		}
		return nil
	}, state, transitions, requests)
}
