// Package e2e is the small order service that the end-to-end load test
// (cmd/loadtest) and BenchmarkServiceRequest measure. The same handler is
// served twice: bare, with a plain http.Client to its downstream, and with
// everything opskit puts on a request's path (see NewOpskit). The difference
// between the two is what the kit costs a service.
//
// The handler decodes a small JSON order, places it with a downstream that
// answers at once, and answers JSON. The downstream is in process, either an
// HTTP server on loopback or an in-memory RoundTripper (no sockets, for
// benchmarks).
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// What clients send: POST OrderPath with OrderBody and a TenantHeader.
const (
	OrderPath    = "/api/orders"
	TenantHeader = "X-Tenant"
)

// OrderBody is a valid order, the body every load-test request carries.
var OrderBody = []byte(`{"item":"widget","quantity":2}`)

// requestPathBudget bounds the downstream call on the request path.
const requestPathBudget = time.Second

type order struct {
	ID       string `json:"id,omitempty"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

type reply struct {
	ID     string `json:"id,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// orders is the handler both servers share. onOrder, when set, sees each
// valid order before it is placed; the opskit server counts the feature
// there. Bare leaves it nil.
type orders struct {
	client  *http.Client
	url     string
	ids     atomic.Uint64
	onOrder func(*http.Request)
}

func (o *orders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ord order
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&ord); err != nil {
		writeJSON(w, http.StatusBadRequest, reply{Status: "rejected", Error: "body is not an order"})
		return
	}
	if ord.Item == "" || ord.Quantity < 1 || ord.Quantity > 1000 {
		writeJSON(w, http.StatusBadRequest, reply{Status: "rejected", Error: "item and quantity 1..1000 are required"})
		return
	}
	ord.ID = "ord_" + strconv.FormatUint(o.ids.Add(1), 10)
	if o.onOrder != nil {
		o.onOrder(r)
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestPathBudget)
	err := o.place(ctx, ord)
	cancel()
	if err != nil {
		writeJSON(w, http.StatusBadGateway, reply{ID: ord.ID, Status: "failed", Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, reply{ID: ord.ID, Status: "delivered"})
}

// place sends the order downstream. The order id is its idempotency key,
// which makes the POST safe for a retrying transport to send again.
func (o *orders) place(ctx context.Context, ord order) error {
	body, err := json.Marshal(ord)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", ord.ID)
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downstream answered %s", resp.Status)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v reply) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// NewBare returns the order service with nothing but the standard library:
// the handler on a ServeMux and a plain http.Client to the downstream.
func NewBare(d *Downstream) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST "+OrderPath, &orders{client: &http.Client{Transport: d.NewTransport()}, url: d.URL})
	return mux
}

// downstreamReply is what the downstream answers to every request.
var downstreamReply = []byte(`{"accepted":true}`)

// serveDownstream accepts anything at once.
func serveDownstream(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Write(downstreamReply)
}

// Downstream is the service's dependency. Each server gets its own
// transport to it from NewTransport, so they share no connection pool.
type Downstream struct {
	URL      string // where orders are posted
	PingURL  string // what a health check may GET
	loopback *Server
	memory   bool

	mu         sync.Mutex // guards transports
	transports []*http.Transport
}

// NewMemoryDownstream returns a downstream reached without sockets: its
// transports call the handler directly.
func NewMemoryDownstream() *Downstream {
	return &Downstream{URL: "http://downstream.invalid/orders", PingURL: "http://downstream.invalid/ping", memory: true}
}

// NewLoopbackDownstream serves the downstream on a free port of 127.0.0.1
// until Close.
func NewLoopbackDownstream() (*Downstream, error) {
	srv, err := Serve(http.HandlerFunc(serveDownstream))
	if err != nil {
		return nil, fmt.Errorf("e2e: downstream: %w", err)
	}
	return &Downstream{URL: srv.URL + "/orders", PingURL: srv.URL + "/ping", loopback: srv}, nil
}

// NewTransport returns a new RoundTripper to the downstream: a memory
// transport, or an http.Transport that keeps enough idle connections for
// the load test's concurrency (the default of 2 per host would open and
// close connections all the time).
func (d *Downstream) NewTransport() http.RoundTripper {
	if d.memory {
		return memoryTransport{}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 256
	d.mu.Lock()
	d.transports = append(d.transports, t)
	d.mu.Unlock()
	return t
}

// Close closes the idle connections of every transport NewTransport made
// and stops a loopback downstream; a memory one has nothing to stop.
func (d *Downstream) Close() error {
	d.mu.Lock()
	for _, t := range d.transports {
		t.CloseIdleConnections()
	}
	d.mu.Unlock()
	if d.loopback == nil {
		return nil
	}
	return d.loopback.Close()
}

// memoryTransport answers like the downstream would, without a socket.
type memoryTransport struct{}

func (memoryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, err := io.Copy(io.Discard, req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(downstreamReply)),
		ContentLength: int64(len(downstreamReply)),
		Request:       req,
	}, nil
}
