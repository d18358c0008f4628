package overload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// DefaultPriority is the classifier Handler uses unless told otherwise:
// the Kubernetes probe paths /livez, /readyz, /startupz and /healthz
// (with any sub-path, such as /readyz/db) and /metrics are Exempt;
// everything else is Normal.
func DefaultPriority(r *http.Request) Priority {
	if isExemptPath(r.URL.Path) {
		return Exempt
	}
	return Normal
}

func isExemptPath(p string) bool {
	for _, e := range [...]string{"/livez", "/readyz", "/startupz", "/healthz", "/metrics"} {
		if len(p) >= len(e) && p[:len(e)] == e && (len(p) == len(e) || p[len(e)] == '/') {
			return true
		}
	}
	return false
}

// Handler wraps next so that each request asks the limiter before next
// runs. A refused request gets 503 Service Unavailable with a Retry-After
// header and a short plain-text body, and next never sees it. A request
// whose context ended while next ran (the client left, or a deadline
// passed) counts as dropped; any other completion feeds its latency to
// the limit. The admit path allocates nothing.
func (l *Limiter) Handler(next http.Handler, opts ...HandlerOption) (http.Handler, error) {
	if next == nil {
		return nil, errors.New("overload: Handler next is nil")
	}
	cfg := handlerConfig{classify: DefaultPriority, retryAfter: DefaultRetryAfter}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("overload: nil HandlerOption")
		}
		o.applyHandler(&cfg)
	}
	if cfg.classify == nil {
		return nil, errors.New("overload: WithClassifier func is nil")
	}
	if cfg.retryAfter <= 0 {
		return nil, fmt.Errorf("overload: WithRetryAfter %v must be positive", cfg.retryAfter)
	}
	secs := int64((cfg.retryAfter + time.Second - 1) / time.Second)
	return &handler{l: l, next: next, classify: cfg.classify, retryAfter: strconv.FormatInt(secs, 10)}, nil
}

type handler struct {
	l          *Limiter
	next       http.Handler
	classify   func(*http.Request) Priority
	retryAfter string
}

const shedBody = "overload: too busy, retry later\n"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := h.l.Acquire(h.classify(r))
	if !ok {
		hd := w.Header()
		hd.Set("Retry-After", h.retryAfter)
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		hd.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(shedBody))
		return
	}
	defer finishRequest(p, r.Context())
	h.next.ServeHTTP(w, r)
}

func finishRequest(p Permit, ctx context.Context) {
	if ctx.Err() != nil {
		p.Drop()
		return
	}
	p.Release()
}
