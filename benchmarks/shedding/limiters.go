package shedding

import (
	"fmt"
	"net/http"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"

	"github.com/opskit/opskit/overload"
)

// Limiter is one contender: it wraps the service's handler.
type Limiter struct {
	Name string
	// Wrap returns the handler to load and a func to call when the run is
	// over.
	Wrap func(http.Handler) (http.Handler, func(), error)
}

// Limiters are the contenders, in the order the tables show them.
func Limiters() []Limiter {
	return []Limiter{
		{Name: "none", Wrap: func(h http.Handler) (http.Handler, func(), error) { return h, func() {}, nil }},
		{Name: "opskit", Wrap: wrapOpskit},
		{Name: "failsafe-go", Wrap: wrapFailsafe},
	}
}

// wrapOpskit is overload.Limiter with its defaults, as a service would
// use it: the middleware with its default classifier (probes exempt).
func wrapOpskit(h http.Handler) (http.Handler, func(), error) {
	l, err := overload.New(overload.WithName("bench"))
	if err != nil {
		return nil, nil, err
	}
	wrapped, err := l.Handler(h)
	if err != nil {
		return nil, nil, err
	}
	return wrapped, func() { _ = l.Close() }, nil
}

// wrapFailsafe is failsafe-go's adaptivelimiter with its defaults, refusing
// at once when full (TryAcquirePermit, no queueing), as overload.Limiter
// does; probes bypass it as they bypass opskit's.
func wrapFailsafe(h http.Handler) (http.Handler, func(), error) {
	l := adaptivelimiter.NewWithDefaults[any]()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsProbe(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		p, ok := l.TryAcquirePermit()
		if !ok {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
		if r.Context().Err() != nil {
			p.Drop()
			return
		}
		p.Record()
	}), func() {}, nil
}

// Find returns the named contender.
func Find(name string) (Limiter, error) {
	for _, l := range Limiters() {
		if l.Name == name {
			return l, nil
		}
	}
	return Limiter{}, fmt.Errorf("shedding: no limiter %q", name)
}
