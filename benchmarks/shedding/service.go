// Package shedding is the overload benchmark: a service whose capacity is
// simulated (a fixed number of slots, each held for a fixed service time,
// so that the machine's shared cores do not decide it), loaded past that
// capacity behind no limiter, opskit's overload.Limiter and failsafe-go's
// adaptivelimiter, with the capacity halved in the middle of every run.
//
// Requests go straight to the http.Handler, in process: sockets would
// spend the CPUs the load generator and the service share on loopback
// traffic (9000 requests a second at three times the capacity, shed ones
// included) and make the machine, not the limiter, decide the result.
package shedding

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Service is the simulated service. Every request that is not a probe
// waits for one of the slots (in arrival order, giving up when its context
// ends), holds it for the service time, and answers 200. Probes and
// /metrics answer at once, beside the slots.
type Service struct {
	service time.Duration
	full    int

	mu      sync.Mutex
	slots   int // how many may run now
	busy    int
	waiters []chan struct{} // closed when granted a slot, oldest first
	granted map[chan struct{}]bool
}

// NewService returns a service with n slots of the given service time: its
// capacity is n/service requests a second.
func NewService(n int, service time.Duration) *Service {
	return &Service{service: service, full: n, slots: n, granted: map[chan struct{}]bool{}}
}

// Capacity is the service's throughput in requests a second, with all its
// slots.
func (s *Service) Capacity() float64 { return float64(s.full) / s.service.Seconds() }

// SetSlots changes how many requests run at once, from now on: work
// already running past the new number finishes, and no more starts until
// the service is under it.
func (s *Service) SetSlots(n int) {
	s.mu.Lock()
	s.slots = n
	s.grantLocked()
	s.mu.Unlock()
}

func (s *Service) grantLocked() {
	for s.busy < s.slots && len(s.waiters) > 0 {
		ch := s.waiters[0]
		s.waiters = s.waiters[1:]
		s.busy++
		s.granted[ch] = true
		close(ch)
	}
}

// acquire waits for a slot, in arrival order, until ctx ends.
func (s *Service) acquire(ctx context.Context) bool {
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

func (s *Service) release() {
	s.mu.Lock()
	s.busy--
	s.grantLocked()
	s.mu.Unlock()
}

// IsProbe reports whether path is a probe or the metrics endpoint.
func IsProbe(path string) bool {
	for _, p := range []string{"/livez", "/readyz", "/startupz", "/healthz", "/metrics"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if IsProbe(r.URL.Path) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !s.acquire(r.Context()) {
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	time.Sleep(s.service)
	s.release()
	w.WriteHeader(http.StatusOK)
}
