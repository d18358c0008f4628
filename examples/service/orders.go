package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
)

// order is the body of POST /api/orders, and what the queue stores.
type order struct {
	ID       string `json:"id,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// decodeOrder reads and validates an order body; its errors name the field.
func decodeOrder(body io.Reader) (order, error) {
	var o order
	dec := json.NewDecoder(body) // the server caps every body at maxBody
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		if mb := new(http.MaxBytesError); errors.As(err, &mb) {
			return o, fmt.Errorf("body is larger than %d bytes: %w", mb.Limit, err)
		}
		return o, fmt.Errorf("body is not a valid order: %v", err)
	}
	if dec.More() {
		return o, errors.New("body holds more than one JSON value")
	}
	o.Item = strings.TrimSpace(o.Item)
	switch {
	case o.Item == "":
		return o, errors.New(`field "item" is required`)
	case len(o.Item) > 100:
		return o, fmt.Errorf(`field "item" is %d characters, at most 100 allowed`, len(o.Item))
	case o.Quantity < 1 || o.Quantity > 1000:
		return o, fmt.Errorf(`field "quantity" is %d, want 1 to 1000`, o.Quantity)
	}
	return o, nil
}

// requestPathBudget is how long a customer waits for the downstream before
// the order is queued instead: retries beyond it happen in the background.
const requestPathBudget = time.Second

// orders places orders: straight with the downstream when it answers, or
// durably into the queue when it does not, for the worker to deliver later.
type orders struct {
	client     *http.Client // retry Transport + breaker + budget
	url        string
	queue      queue.Backend
	features   *features
	objectives *objectives
	admission  *admission                       // the simulated work every order holds a slot for, and its timing
	candidate  atomic.Pointer[candidateRelease] // the candidate story's release; nil otherwise
	log        *slog.Logger
	queuedLog  sampler // one "order queued" line per 10s, not one per order
}

// sampler lets one event in every interval through and counts the rest,
// so an outage at ten orders a second logs a line every ten seconds.
type sampler struct {
	mu    sync.Mutex // guards next and count
	next  time.Time
	count int
}

const sampleEvery = 10 * time.Second

// due counts an event and reports whether to log it, with how many events
// (this one included) happened since the last one logged.
func (s *sampler) due(now time.Time) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	if now.Before(s.next) {
		return 0, false
	}
	n := s.count
	s.next, s.count = now.Add(sampleEvery), 0
	return n, true
}

// serveCreate answers POST /api/orders: 200 delivered, 202 accepted for
// later delivery. The answer never carries the downstream's address or the
// retry errors; those go to the log.
func (o *orders) serveCreate(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { o.admission.duration.Record(r.Context(), time.Since(start).Seconds()) }()
	tenant, err := tenantOf(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ord, err := decodeOrder(r.Body)
	if err != nil {
		code := http.StatusBadRequest
		if errors.As(err, new(*http.MaxBytesError)) {
			code = http.StatusRequestEntityTooLarge
		}
		writeError(w, code, err.Error())
		return
	}
	// The order's own work (pricing, stock) is simulated: it waits for one
	// of the service's slots and holds it for a fixed time, so the service
	// has a capacity for the limiter in front of it to find.
	if !o.admission.work.Serve(r.Context()) {
		writeError(w, http.StatusServiceUnavailable, "order not accepted: the request ended while it waited to be worked on")
		return
	}
	ord.ID = newOrderID()
	ord.Tenant = tenant
	ctx := o.features.withTenant(r.Context(), tenant)
	bulk := ord.Quantity > 3
	// A switched-off orders.bulk refuses before any work: Enabled counts the
	// refusal as a failed bulk order (its objective keeps seeing it), and
	// lets a trial share through (remedy.go).
	if bulk && !o.features.bulkOrder.Enabled(ctx) {
		o.features.placeOrder.FailWith(ctx, "bulk orders switched off")
		o.objectives.fulfil.refused(ord.ID)
		writeError(w, http.StatusServiceUnavailable, "order not accepted: bulk orders (more than three of an item) are switched off for now; order at most three")
		return
	}
	if err := o.features.refuseBulk(tenant, bulk); err != nil {
		o.features.outcome(ctx, bulk, err)
		o.objectives.fulfil.refused(ord.ID) // the customer was turned away, not for bad input
		writeError(w, http.StatusServiceUnavailable, "order not accepted: "+err.Error())
		return
	}

	cand := o.candidate.Load() // the candidate story: a share of the orders is the candidate's
	if !cand.serves() {
		cand = nil
	}
	if cand != nil {
		if err := cand.serve(); err != nil {
			o.features.outcome(ctx, bulk, err)
			writeError(w, http.StatusInternalServerError, "order not accepted: "+err.Error())
			return
		}
	}

	deliverCtx, cancel := context.WithTimeout(r.Context(), requestPathBudget)
	err = o.post(deliverCtx, ord)
	cancel()
	if err == nil {
		o.features.outcome(ctx, bulk, nil)
		if cand != nil {
			cand.delivered()
		} else {
			o.objectives.fulfil.delivered(ord.ID)
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": ord.ID, "status": "delivered"})
		return
	}
	// The downstream failed or the breaker is open: keep the order on
	// disk (fsynced before we answer) and let the worker deliver it. Its
	// clock starts before it is stored, so the worker cannot finish it
	// before it is known.
	o.objectives.fulfil.accepted(ord.ID, time.Now())
	payload, _ := json.Marshal(ord)
	if _, qerr := o.queue.Enqueue(r.Context(), payload, queue.WithDedupeKey(ord.ID)); qerr != nil {
		o.objectives.fulfil.refused(ord.ID)
		o.features.outcome(ctx, bulk, errors.New("order neither delivered nor queued"))
		o.log.Error("order neither delivered nor queued", "order", ord.ID, "delivery_err", err, "queue_err", qerr)
		writeError(w, http.StatusServiceUnavailable, "order not accepted: please try again later")
		return
	}
	o.features.outcome(ctx, bulk, nil) // queued: the customer's order is taken
	if n, ok := o.queuedLog.due(time.Now()); ok {
		o.log.Info("order queued for later delivery", "order", ord.ID, "err", err, "queued_since_last_line", n)
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": ord.ID, "status": "accepted",
		"detail": "the order is stored and will be delivered to fulfilment shortly"})
}

// post sends one order to the downstream. An answer the downstream will
// never change its mind about (a 4xx other than 408 and 429) is permanent:
// the queue makes it a dead letter at once.
func (o *orders) post(ctx context.Context, ord order) error {
	body, err := json.Marshal(ord)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	// The order id makes the POST safe to retry: the Transport retries
	// only idempotent requests or ones that carry a key.
	req.Header.Set("Idempotency-Key", ord.ID)
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if c := resp.StatusCode; c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests {
		return retry.Permanent(fmt.Errorf("downstream refused the order: %s", resp.Status))
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("downstream answered %s", resp.Status)
	}
	return nil
}

func newOrderID() string {
	var b [8]byte
	rand.Read(b[:])
	return "ord_" + hex.EncodeToString(b[:])
}
