package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// It runs in-process behind real HTTP, so the service reaches it through
// the same client stack it would use for a remote system — or, with
// -downstream-only, as a process of its own that several replicas share
// (-downstream-url).
//
// Like a real fulfilment API it honours Idempotency-Key: an order whose
// key it accepted before is answered with the first answer (the same
// receipt) and counted as a duplicate, not received again. Only accepted
// orders are remembered; a refusal (down, flaky, reject) took nothing, so
// the same key may try again. It remembers the last maxIdempotencyKeys
// keys, so its memory is bounded; an older key is forgotten (counted).
type downstream struct {
	mu       sync.Mutex // guards mode
	mode     string
	received atomic.Int64 // orders accepted (each key once)
	calls    atomic.Int64 // order calls, refused ones included
	// manual is set once someone changes the mode over HTTP; the demo
	// then stops scripting modes (its traffic goes on), so what the person
	// set stays set.
	manual atomic.Bool

	keys       idempotencyKeys
	duplicates atomic.Int64 // accepted orders whose key was accepted before
	unkeyed    atomic.Int64 // accepted orders without an Idempotency-Key
}

// maxIdempotencyKeys bounds the keys the downstream remembers (about
// 100 bytes each): a repeat older than that many orders counts as new.
const maxIdempotencyKeys = 100_000

// maxIdempotencyKey bounds one key's length; a longer one is refused (400).
const maxIdempotencyKey = 200

// idempotencyKeys remembers the receipt of each accepted key, the oldest
// forgotten first once it holds maxIdempotencyKeys.
type idempotencyKeys struct {
	mu        sync.Mutex // guards the rest
	receipt   map[string]int64
	order     []string // ring of keys in acceptance order
	next      int      // where the next key goes in order
	forgotten int64
}

// accept returns the receipt for key: a new one (n) when key is new,
// else the first one, with dup true.
func (k *idempotencyKeys) accept(key string, n func() int64) (receipt int64, dup bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.receipt[key]; ok {
		return r, true
	}
	if k.receipt == nil {
		k.receipt = map[string]int64{}
	}
	if len(k.order) < maxIdempotencyKeys {
		k.order = append(k.order, key)
	} else {
		delete(k.receipt, k.order[k.next])
		k.order[k.next] = key
		k.next = (k.next + 1) % maxIdempotencyKeys
		k.forgotten++
	}
	r := n()
	k.receipt[key] = r
	return r, false
}

func (k *idempotencyKeys) forgottenCount() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.forgotten
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
	Received    int64  `json:"received"` // orders accepted, each idempotency key once
	Calls       int64  `json:"calls"`    // order calls, refused ones included
	// Duplicates are accepted calls whose Idempotency-Key was accepted
	// before: a delivery made twice. Unkeyed are accepted calls without
	// a key (the service always sends one). Forgotten keys are past the
	// memory bound: a repeat of one would count as received.
	Duplicates int64  `json:"duplicates"`
	Unkeyed    int64  `json:"unkeyed"`
	Forgotten  int64  `json:"forgotten_keys"`
	SetBy      string `json:"set_by"` // "demo" while the demo script drives it, else "manual"
}

func (d *downstream) status() downstreamStatus {
	mode := d.Mode()
	setBy := "demo"
	if d.manual.Load() {
		setBy = "manual"
	}
	return downstreamStatus{Mode: mode, Description: downstreamModes[mode], Received: d.received.Load(), Calls: d.calls.Load(),
		Duplicates: d.duplicates.Load(), Unkeyed: d.unkeyed.Load(), Forgotten: d.keys.forgottenCount(), SetBy: setBy}
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
	stop = d.serve(ln, d.routes(http.NewServeMux()), log)
	return "http://" + ln.Addr().String(), stop, nil
}

// routes adds the calls the service makes: POST /orders and GET /ping.
func (d *downstream) routes(mux *http.ServeMux) *http.ServeMux {
	mux.HandleFunc("GET /ping", d.servePing)
	mux.HandleFunc("POST /orders", d.serveOrder)
	return mux
}

// serve answers h on ln until stop, which shuts the server down within
// ctx (then closes it) and waits for it.
func (d *downstream) serve(ln net.Listener, h http.Handler, log *slog.Logger) (stop func(context.Context) error) {
	srv := &http.Server{
		Handler:           http.MaxBytesHandler(h, maxBody),
		ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("downstream stopped serving", "err", err)
		}
	}()
	return func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if err != nil {
			srv.Close()
		}
		<-done
		return err
	}
}

// runDownstreamOnly is -downstream-only: the process is the simulated
// downstream alone, on ln, for replicas that share it (-downstream-url).
// Besides /orders and /ping it serves GET /demo/downstream (mode and
// counts, duplicates included) and POST /demo/downstream?mode=..., which
// refuses cross-origin browser requests; there are no operators, audit
// trail or demo script here. It runs until ctx ends.
func runDownstreamOnly(ctx context.Context, ln net.Listener, allowHosts []string, log *slog.Logger) error {
	d := newDownstream()
	mux := d.routes(http.NewServeMux())
	mux.HandleFunc("GET /demo/downstream", d.serveStatus)
	mux.Handle("POST /demo/downstream", http.NewCrossOriginProtection().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode, from := r.URL.Query().Get("mode"), d.Mode()
		if err := d.SetMode(mode); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		d.manual.Store(true)
		log.Info("downstream: mode set", "from", from, "to", mode, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, d.status())
	})))
	stop := d.serve(ln, newHostGuard(ln.Addr().String(), allowHosts).wrap(mux), log)
	log.Info("listening on http://" + ln.Addr().String() + " — the demo downstream only: replicas reach it with -downstream-url")
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := stop(shutdownCtx)
	log.Info("stopped", "received", d.received.Load(), "duplicates", d.duplicates.Load())
	return err
}

// serveOrder answers POST /orders: the call the service makes. An
// accepted order gets a receipt; a repeat of an accepted Idempotency-Key
// gets the first receipt again and counts as a duplicate.
func (d *downstream) serveOrder(w http.ResponseWriter, r *http.Request) {
	d.calls.Add(1)
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKey {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("header Idempotency-Key is %d bytes, at most %d allowed", len(key), maxIdempotencyKey))
		return
	}
	if !d.behave(w, r) {
		return
	}
	if r.Context().Err() != nil {
		return // the caller gave up (its attempt timed out): the order is not taken, so its retry is no duplicate
	}
	receipt := d.received.Add // a new key's receipt: its place among the orders received
	if key == "" {
		d.unkeyed.Add(1)
		writeJSON(w, http.StatusOK, orderReceipt{Status: "accepted", Receipt: receipt(1)})
		return
	}
	n, dup := d.keys.accept(key, func() int64 { return receipt(1) })
	if dup {
		d.duplicates.Add(1)
	}
	writeJSON(w, http.StatusOK, orderReceipt{Status: "accepted", Receipt: n})
}

// orderReceipt is the downstream's answer to an accepted order.
type orderReceipt struct {
	Status  string `json:"status"`
	Receipt int64  `json:"receipt"`
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

// remoteStatus serves GET /demo/downstream of a replica whose downstream
// is another process (-downstream-url): that process's status, read-only.
func remoteStatus(url string) http.Handler {
	client := &http.Client{Timeout: 2 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, url, nil)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			writeError(w, http.StatusBadGateway, "downstream status unavailable")
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, io.LimitReader(resp.Body, maxBody))
	})
}
