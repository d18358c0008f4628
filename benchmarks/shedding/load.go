package shedding

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"
)

// Run describes one measured run against one contender.
type Run struct {
	Slots   int           // the service's slots (default 32)
	Service time.Duration // the service time (default 25ms)
	// Load is the offered load: open loop, arrivals a second as a multiple
	// of the full capacity; closed loop, clients as a multiple of the slots.
	Load   float64
	Closed bool
	// Warmup is not counted; the capacity is halved in the middle of
	// Duration when Halve is set.
	Warmup, Duration time.Duration
	Halve            bool
	Timeout          time.Duration // the client's deadline per request (default 1s)
	ProbeRate        float64       // /livez requests a second beside the load (default 20)
}

func (r *Run) defaults() {
	if r.Slots == 0 {
		r.Slots = 32
	}
	if r.Service == 0 {
		r.Service = 25 * time.Millisecond
	}
	if r.Timeout == 0 {
		r.Timeout = time.Second
	}
	if r.ProbeRate == 0 {
		r.ProbeRate = 20
	}
}

// Result is what the measured part of a run saw. A request belongs to it
// when it was sent during the measured part.
type Result struct {
	Good       int             // answered 200 within the client's deadline
	Shed       int             // refused with 503
	Failed     int             // gave up waiting (deadline) or another answer
	Probes     int             // probes sent
	ProbesShed int             // probes not answered 200
	Capacity   float64         // requests the service could have served in the measured part
	Latencies  []time.Duration // of the good requests, sorted
}

// Goodput is the good requests as a share of what the service could have
// served.
func (r Result) Goodput() float64 { return float64(r.Good) / r.Capacity }

// Percentile returns the p-th percentile latency of the good requests.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies)) * p / 100)
	return r.Latencies[min(i, len(r.Latencies)-1)]
}

// Merge pools results of the same cell across rounds.
func Merge(rs ...Result) Result {
	var m Result
	for _, r := range rs {
		m.Good += r.Good
		m.Shed += r.Shed
		m.Failed += r.Failed
		m.Probes += r.Probes
		m.ProbesShed += r.ProbesShed
		m.Capacity += r.Capacity
		m.Latencies = append(m.Latencies, r.Latencies...)
	}
	slices.Sort(m.Latencies)
	return m
}

// tally collects outcomes from many goroutines.
type tally struct {
	mu  sync.Mutex
	res Result
}

func (t *tally) add(code int, lat time.Duration, probe bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case probe:
		t.res.Probes++
		if code != http.StatusOK {
			t.res.ProbesShed++
		}
	case code == http.StatusOK:
		t.res.Good++
		t.res.Latencies = append(t.res.Latencies, lat)
	case code == http.StatusServiceUnavailable:
		t.res.Shed++
	default:
		t.res.Failed++
	}
}

// codeWriter is the least ResponseWriter: it keeps the status.
type codeWriter struct {
	h    http.Header
	code int
}

func (w *codeWriter) Header() http.Header { return w.h }
func (w *codeWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(b), nil
}
func (w *codeWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}

// do sends one request to h and returns its status, as the client saw it:
// an answer after the deadline counts as the deadline.
func do(ctx context.Context, h http.Handler, req *http.Request, timeout time.Duration) int {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w := &codeWriter{h: http.Header{}}
	h.ServeHTTP(w, req.WithContext(ctx))
	if ctx.Err() != nil {
		return http.StatusGatewayTimeout
	}
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Measure loads l (wrapping svc) as r says.
func Measure(ctx context.Context, svc *Service, l Limiter, r Run) (Result, error) {
	r.defaults()
	if r.Load <= 0 || r.Duration <= 0 || r.Warmup < 0 {
		return Result{}, errors.New("shedding: Run needs a positive Load and Duration")
	}
	h, done, err := l.Wrap(svc)
	if err != nil {
		return Result{}, err
	}
	defer done()

	start := time.Now()
	from, half, end := start.Add(r.Warmup), start.Add(r.Warmup+r.Duration/2), start.Add(r.Warmup+r.Duration)
	measured := func(t time.Time) bool { return !t.Before(from) && t.Before(end) }
	var t tally
	var wg sync.WaitGroup
	// Two requests built once and copied per send (WithContext), so that the
	// load generator spends as little of the shared CPUs as it can.
	work, probe := httptest.NewRequest(http.MethodGet, "/work", nil), httptest.NewRequest(http.MethodGet, "/livez", nil)
	send := func(at time.Time, req *http.Request, isProbe bool) {
		code := do(ctx, h, req, r.Timeout)
		if measured(at) {
			t.add(code, time.Since(at), isProbe)
		}
	}

	// Probes, at a steady rate, in every run.
	wg.Go(func() {
		every := time.Duration(float64(time.Second) / r.ProbeRate)
		for at := start; at.Before(end) && ctx.Err() == nil; at = at.Add(every) {
			time.Sleep(time.Until(at))
			wg.Go(func() { send(at, probe, true) })
		}
	})
	if r.Halve {
		wg.Go(func() {
			time.Sleep(time.Until(half))
			svc.SetSlots(r.Slots - r.Slots/2)
		})
		defer svc.SetSlots(r.Slots)
	}

	if r.Closed {
		clients := max(1, int(r.Load*float64(r.Slots)+0.5))
		for range clients {
			wg.Go(func() {
				for ctx.Err() == nil {
					at := time.Now()
					if !at.Before(end) {
						return
					}
					code := do(ctx, h, work, r.Timeout)
					if measured(at) {
						t.add(code, time.Since(at), false)
					}
					if code != http.StatusOK {
						time.Sleep(r.Service) // a refused client pauses one service time
					}
				}
			})
		}
	} else {
		rate := r.Load * float64(r.Slots) / r.Service.Seconds()
		rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), 1))
		next := start
		for next.Before(end) && ctx.Err() == nil {
			now := time.Now()
			for ; !next.After(now) && next.Before(end); next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second))) {
				at := next
				wg.Go(func() { send(at, work, false) })
			}
			time.Sleep(time.Until(next))
		}
	}
	wg.Wait()
	res := t.res
	slices.Sort(res.Latencies)
	full := float64(r.Slots) / r.Service.Seconds()
	res.Capacity = full * r.Duration.Seconds()
	if r.Halve {
		res.Capacity = full*r.Duration.Seconds()/2 + float64(r.Slots-r.Slots/2)/r.Service.Seconds()*r.Duration.Seconds()/2
	}
	return res, ctx.Err()
}
