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
	"net/http"
	"strings"
	"time"

	"github.com/opskit/opskit/internal/capacity"
)

// Service is the simulated service. Every request that is not a probe
// waits for one of the slots (in arrival order, giving up when its context
// ends), holds it for the service time, and answers 200. Probes and
// /metrics answer at once, beside the slots. The slots are
// internal/capacity's, which the example service's order path uses too.
type Service struct {
	*capacity.Slots
}

// NewService returns a service with n slots of the given service time: its
// capacity is n/service requests a second.
func NewService(n int, service time.Duration) (*Service, error) {
	s, err := capacity.New(n, service, nil)
	if err != nil {
		return nil, err
	}
	return &Service{s}, nil
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
	if !s.Serve(r.Context()) {
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	w.WriteHeader(http.StatusOK)
}
