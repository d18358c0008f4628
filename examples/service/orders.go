package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// order is the body of POST /api/orders.
type order struct {
	ID       string `json:"id,omitempty"`
	Tenant   string `json:"tenant,omitempty"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
}

// decodeOrder reads and validates an order body; its errors name the field.
func decodeOrder(body io.Reader) (order, error) {
	var o order
	dec := json.NewDecoder(io.LimitReader(body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
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

// orders places orders with the downstream.
type orders struct {
	client   *http.Client
	url      string
	features *features
	log      *slog.Logger
}

func newOrders(client *http.Client, url string, features *features, log *slog.Logger) *orders {
	return &orders{client: client, url: url, features: features, log: log}
}

// serveCreate answers POST /api/orders.
func (o *orders) serveCreate(w http.ResponseWriter, r *http.Request) {
	ord, err := decodeOrder(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ord.ID = newOrderID()
	ord.Tenant = r.Header.Get("X-Tenant")
	ctx := o.features.withTenant(r.Context(), r)
	o.features.placeOrder.Use(ctx)
	if ord.Quantity > 3 {
		o.features.bulkOrder.Use(ctx)
	}
	if err := o.deliver(r, ord); err != nil {
		o.log.Warn("order not delivered", "order", ord.ID, "err", err)
		writeError(w, http.StatusBadGateway, "downstream unavailable: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": ord.ID, "status": "delivered"})
}

// deliver sends one order to the downstream.
func (o *orders) deliver(r *http.Request, ord order) error {
	body, err := json.Marshal(ord)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, o.url, bytes.NewReader(body))
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
	io.Copy(io.Discard, resp.Body)
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
