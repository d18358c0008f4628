package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// downstreamModes are the behaviours the simulated downstream can take.
var downstreamModes = map[string]string{
	"up":    "accepts every order at once",
	"down":  "answers 503 to every order",
	"slow":  "accepts every order after 2s",
	"flaky": "answers 503 to about half the orders",
	// A refusal no retry can change: the order becomes a dead letter, which
	// an operator can requeue once the downstream takes orders again.
	"reject": "refuses every order as invalid (422)",
}

// downstream simulates the fulfilment system the order service depends on.
// It runs in-process, behind real HTTP, so the service reaches it through
// the same client stack it would use for a remote system.
type downstream struct {
	mu       sync.Mutex // guards mode
	mode     string
	received atomic.Int64 // orders accepted
	calls    atomic.Int64 // order calls, refused ones included
	// manual is set once someone changes the mode over HTTP; the demo
	// then stops scripting modes (its traffic goes on), so what the person
	// set stays set.
	manual atomic.Bool
}

func newDownstream() *downstream { return &downstream{mode: "up"} }

func (d *downstream) Mode() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.mode
}

// SetMode changes the behaviour; an unknown mode is an error naming it.
func (d *downstream) SetMode(mode string) error {
	if _, ok := downstreamModes[mode]; !ok {
		return fmt.Errorf("unknown downstream mode %q: want one of up, down, slow, flaky, reject", mode)
	}
	d.mu.Lock()
	d.mode = mode
	d.mu.Unlock()
	return nil
}

type downstreamStatus struct {
	Mode        string `json:"mode"`
	Description string `json:"description"`
	Received    int64  `json:"received"`
	Calls       int64  `json:"calls"`  // order calls, refused ones included
	SetBy       string `json:"set_by"` // "demo" while the demo script drives it, else "manual"
}

func (d *downstream) status() downstreamStatus {
	mode := d.Mode()
	setBy := "demo"
	if d.manual.Load() {
		setBy = "manual"
	}
	return downstreamStatus{Mode: mode, Description: downstreamModes[mode], Received: d.received.Load(), Calls: d.calls.Load(), SetBy: setBy}
}

// serveStatus answers GET /demo/downstream.
func (d *downstream) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, d.status())
}

// listen starts the simulated downstream on a loopback listener of its own,
// apart from the service's routes, as a remote system would be. The service
// reaches it at the returned URL; stop shuts it down.
func (d *downstream) listen(log *slog.Logger) (url string, stop func(context.Context) error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("downstream: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", d.servePing)
	mux.HandleFunc("POST /orders", d.serveOrder)
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(mux, maxBody),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("downstream stopped serving", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if err != nil {
			srv.Close()
		}
		<-done
		return err
	}, nil
}

// serveOrder answers POST /orders: the call the service makes.
func (d *downstream) serveOrder(w http.ResponseWriter, r *http.Request) {
	d.calls.Add(1)
	if !d.behave(w, r) {
		return
	}
	d.received.Add(1)
	writeJSON(w, http.StatusOK, map[string]string{"status": "accepted"})
}

// servePing answers GET /ping, the readiness check's call:
// it behaves like an order under the current mode but accepts nothing.
func (d *downstream) servePing(w http.ResponseWriter, r *http.Request) {
	if d.behave(w, r) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// behave applies the current mode to a request; false means it has
// already been answered (or abandoned) and must not be accepted.
func (d *downstream) behave(w http.ResponseWriter, r *http.Request) bool {
	switch d.Mode() {
	case "down":
		writeError(w, http.StatusServiceUnavailable, "downstream is down")
		return false
	case "reject":
		writeError(w, http.StatusUnprocessableEntity, "downstream refuses the order")
		return false
	case "flaky":
		if rand.IntN(2) == 0 {
			writeError(w, http.StatusServiceUnavailable, "downstream is flaky")
			return false
		}
	case "slow":
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
