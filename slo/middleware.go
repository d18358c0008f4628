package slo

import "net/http"

// Middleware records every response of next against the trackers: an
// availability objective counts a response with status 5xx (or a handler
// that panicked) as bad and anything else as good; a latency objective
// records how long the handler took, whatever the status. The clock is the
// first tracker's Monitor clock.
func Middleware(next http.Handler, trackers ...*Tracker) http.Handler {
	if len(trackers) == 0 {
		return next
	}
	clk := trackers[0].clock
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		start := clk.Now()
		panicked := true
		defer func() {
			took := clk.Now().Sub(start)
			good := !panicked && sw.status < 500
			for _, t := range trackers {
				if len(t.max) > 0 {
					t.RecordLatency(took)
				} else {
					t.Record(good)
				}
			}
		}()
		next.ServeHTTP(sw, r)
		panicked = false
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and friends.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
