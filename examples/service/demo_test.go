package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// The demo scripts the downstream's mode until a person sets it; from then
// on it leaves the mode alone but keeps placing orders.
func TestDemoLeavesAManuallySetModeAlone(t *testing.T) {
	var orders atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/orders" && r.Header.Get("X-Tenant") != "" {
			orders.Add(1)
		}
	}))
	defer srv.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	scripted := newDownstream()
	scripted.SetMode("down")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); runDemo(ctx, srv.URL, scripted, log) }()
	waitFor(t, "the demo to script the first mode", func() bool { return scripted.Mode() == demoScript[0].mode })
	cancel()
	<-done

	manual := newDownstream()
	manual.SetMode("down")
	manual.manual.Store(true)
	ctx, cancel = context.WithCancel(t.Context())
	done = make(chan struct{})
	go func() { defer close(done); runDemo(ctx, srv.URL, manual, log) }()
	before := orders.Load()
	waitFor(t, "demo traffic to continue", func() bool { return orders.Load() >= before+3 })
	cancel()
	<-done
	if got := manual.Mode(); got != "down" {
		t.Fatalf("mode after demo ticks = %q, want the manually set %q", got, "down")
	}
	if st := manual.status(); st.SetBy != "manual" {
		t.Fatalf("status set_by = %q, want manual", st.SetBy)
	}
}
