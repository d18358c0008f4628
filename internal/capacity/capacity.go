// Package capacity simulates what a service can do at once: a number of
// slots, each held for a fixed service time, so that its throughput is
// slots/service requests a second whatever the machine's cores are doing.
// The overload benchmark (benchmarks/shedding) and the example service's
// order path use it, so that shedding is measured and shown against a
// capacity that two shared cores do not decide.
package capacity

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/internal/timer"
)

// Slots is the simulated capacity. Work waits for a slot in arrival order
// (giving up when its context ends), holds it for the service time, and
// gives it back.
type Slots struct {
	clock   clock.Clock
	service time.Duration
	full    int

	mu      sync.Mutex // guards slots, busy, waiters, granted
	slots   int        // how many may run now
	busy    int
	waiters []chan struct{} // closed when granted a slot, oldest first
	granted map[chan struct{}]bool
}

// New returns n slots of the given service time, timed on c (nil: the
// real clock): a capacity of n/service a second.
func New(n int, service time.Duration, c clock.Clock) (*Slots, error) {
	if n < 1 {
		return nil, fmt.Errorf("capacity: slots %d must be at least 1", n)
	}
	if service <= 0 {
		return nil, fmt.Errorf("capacity: service time %v must be positive", service)
	}
	return &Slots{clock: timer.Or(c), service: service, full: n, slots: n, granted: map[chan struct{}]bool{}}, nil
}

// Capacity is the throughput in work a second with all the slots New
// gave.
func (s *Slots) Capacity() float64 { return float64(s.full) / s.service.Seconds() }

// SetSlots changes how many run at once, from now on: work already
// running past the new number finishes, and no more starts until the
// running work is under it. n below 1 counts as 1.
func (s *Slots) SetSlots(n int) {
	s.mu.Lock()
	s.slots = max(n, 1)
	s.grantLocked()
	s.mu.Unlock()
}

// grantLocked hands free slots to the oldest waiters; requires mu held.
func (s *Slots) grantLocked() {
	for s.busy < s.slots && len(s.waiters) > 0 {
		ch := s.waiters[0]
		s.waiters = s.waiters[1:]
		s.busy++
		s.granted[ch] = true
		close(ch)
	}
}

// Acquire waits for a slot, in arrival order, until ctx ends; it reports
// whether it got one, to be given back with Release.
func (s *Slots) Acquire(ctx context.Context) bool {
	s.mu.Lock()
	if s.busy < s.slots && len(s.waiters) == 0 {
		s.busy++
		s.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	select {
	case <-ch:
		s.mu.Lock()
		delete(s.granted, ch)
		s.mu.Unlock()
		return true
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.granted[ch] { // granted as the context ended: give it back
			delete(s.granted, ch)
			s.busy--
			s.grantLocked()
			return false
		}
		if i := slices.Index(s.waiters, ch); i >= 0 {
			s.waiters = slices.Delete(s.waiters, i, i+1)
		}
		return false
	}
}

// Release gives back a slot Acquire gave.
func (s *Slots) Release() {
	s.mu.Lock()
	s.busy--
	s.grantLocked()
	s.mu.Unlock()
}

// Serve is one piece of work: it waits for a slot until ctx ends, then
// holds it for the service time (work once started is finished, as a
// handler that ignores its context would) and gives it back. It reports
// whether the work ran.
func (s *Slots) Serve(ctx context.Context) bool {
	if !s.Acquire(ctx) {
		return false
	}
	defer s.Release()
	_ = timer.Sleep(context.Background(), s.clock, s.service)
	return true
}

// State says how many slots are busy and how many waiters queue.
func (s *Slots) State() (busy, waiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy, len(s.waiters)
}
