package slo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/internal/clock"
	"github.com/opskit/opskit/slo"
)

// The evaluation goroutine fires on the clock and the callback notifier
// gets IF / DO / SO THAT, then the resolution.
func TestLoopNotifiesCallback(t *testing.T) {
	got := make(chan slo.Alert, 16)
	fc := clock.NewFake(start)
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(10*time.Second),
		slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error { got <- a; return nil })))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tr := m.MustAdd(slo.Objective{Name: "pay", Target: 0.999, Runbook: "roll back the deploy", Outcome: "customers can pay"})
	fc.WaitForTimers(1)
	tr.RecordN(1000, 1000)
	fc.Advance(10 * time.Second)
	var a slo.Alert
	for a = range got {
		if a.Tier == "page-1h" {
			break
		}
	}
	if a.State != slo.Firing || a.Severity != slo.Page || a.Do != "roll back the deploy" || a.SoThat != "customers can pay" ||
		!strings.HasPrefix(a.If, "IF objective pay") || !strings.Contains(a.If, "1000.0x over 1h") || a.Incident == "" {
		t.Errorf("firing alert: %+v", a)
	}
	// Ten minutes of good traffic clear the 5m window.
	for i := 0; i < 60; i++ {
		tr.RecordN(1000, 0)
		fc.Advance(10 * time.Second)
	}
	deadline := time.After(10 * time.Second) // a bound on a broken test, not a wait for time
	for {
		select {
		case a = <-got:
		case <-deadline:
			t.Fatal("no resolved notification")
		}
		if a.Tier == "page-1h" && a.State == slo.Resolved {
			if !a.EndsAt.After(a.StartsAt) {
				t.Errorf("resolved alert: %+v", a)
			}
			return
		}
	}
}

// A notifier that hangs never blocks Evaluate or Record; the overflow is
// counted as dropped, and the blocked delivery as failed once cancelled.
func TestSlowNotifierDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	var calls sync.WaitGroup
	calls.Add(1)
	var once sync.Once
	block := slo.NotifierFunc(func(ctx context.Context, a slo.Alert) error {
		once.Do(calls.Done)
		<-release
		return errors.New("downstream down")
	})
	m, fc := newMonitor(t, slo.WithNotifier(block), slo.WithNotifyQueue(2), slo.WithResendInterval(time.Nanosecond))
	tr := m.MustAdd(slo.Objective{Name: "a", Target: 0.99})
	tr.RecordN(100, 100)
	m.Evaluate() // page-1h and budget-exhausted fire: 2 alerts
	calls.Wait() // the first is being delivered, one waits in the queue
	for i := 0; i < 5; i++ {
		fc.Advance(10 * time.Second)
		tr.RecordN(100, 100)
		m.Evaluate() // 2 resends each: the queue holds 2
	}
	st := m.DeliveryStats()[0]
	if st.Dropped < 8 {
		t.Errorf("got %+v, want at least 8 dropped", st)
	}
	close(release)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if st := m.DeliveryStats()[0]; st.Failed < 1 || st.Sent != 0 {
		t.Errorf("after close: %+v, want failures counted and nothing sent", st)
	}
}

func TestWebhook(t *testing.T) {
	var body map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("bad webhook request: %v %s", err, b)
		}
	}))
	defer srv.Close()
	a := slo.Alert{Objective: "a", Tier: "page-1h", Severity: slo.Page, State: slo.Firing, StartsAt: start, At: start,
		If: "IF x", Do: "do y", SoThat: "z"}
	if err := slo.Webhook(srv.URL, nil).Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if body["objective"] != "a" || body["if"] != "IF x" || body["do"] != "do y" || body["so_that"] != "z" || body["state"] != "firing" {
		t.Errorf("got body %v", body)
	}
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusBadGateway)
	}))
	defer fail.Close()
	if err := slo.Webhook(fail.URL, nil).Notify(context.Background(), a); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("502: got %v", err)
	}
}

func TestAlertmanagerPayload(t *testing.T) {
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/alerts" || r.Method != http.MethodPost {
			t.Errorf("got %s %s", r.Method, r.URL.Path)
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()
	n := slo.Alertmanager(srv.URL+"/", slo.AlertmanagerOptions{Labels: map[string]string{"service": "orders"}})
	a := slo.Alert{Objective: "a", Tier: "page-1h", Severity: slo.Page, State: slo.Firing, StartsAt: start, At: start, If: "IF x"}
	if err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	labels := got[0]["labels"].(map[string]any)
	if labels["alertname"] != "SLOBurnRate" || labels["tier"] != "page-1h" || labels["service"] != "orders" || labels["severity"] != "page" {
		t.Errorf("labels: %v", labels)
	}
	if got[0]["endsAt"] != start.Add(5*time.Minute).Format(time.RFC3339Nano) {
		t.Errorf("firing endsAt: %v", got[0]["endsAt"])
	}
	a.State, a.EndsAt = slo.Resolved, start.Add(time.Hour)
	if err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if got[0]["endsAt"] != start.Add(time.Hour).Format(time.RFC3339Nano) {
		t.Errorf("resolved endsAt: %v", got[0]["endsAt"])
	}
}
