package slo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/slo"
)

// The evaluation goroutine fires on the clock and the callback notifier
// gets IF / DO / SO THAT, then the resolution.
func TestLoopNotifiesCallback(t *testing.T) {
	got := make(chan slo.Alert, 16)
	fc := clock.NewFake(start)
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(10*time.Second), slo.WithInstance("pod-1"),
		slo.WithNotifier(slo.NotifierFunc(func(_ context.Context, a slo.Alert) error { got <- a; return nil })))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	tr := m.MustAdd(slo.Objective{Name: "pay", Target: 0.999, Runbook: "https://runbooks.example/pay", Outcome: "customers can pay",
		Labels: map[string]string{"team": "payments"}, Annotations: map[string]string{"dashboard": "https://grafana.example/d/pay"}})
	fc.WaitForTimers(1)
	tr.RecordN(1000, 1000)
	fc.Advance(10 * time.Second)
	var a slo.Alert
	for a = range got {
		if a.Severity == slo.Page {
			break
		}
	}
	if a.State != slo.Firing || a.Tier != "page-1h" || a.Do != "https://runbooks.example/pay" || a.SoThat != "customers can pay" ||
		!strings.HasPrefix(a.If, "objective pay") || !strings.Contains(a.If, "1000.0x over 1h") || a.Incident == "" {
		t.Errorf("firing alert: %+v", a)
	}
	wantLabels := map[string]string{"alertname": "SLOBurnRate", "objective": "pay", "severity": "page",
		"source": "in-process", "instance": "pod-1", "team": "payments"}
	if !maps.Equal(a.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", a.Labels, wantLabels)
	}
	ann := a.Annotations
	if ann["runbook_url"] != "https://runbooks.example/pay" || ann["tier"] != "page-1h" || ann["incident"] != a.Incident ||
		ann["dashboard"] != "https://grafana.example/d/pay" || !strings.HasPrefix(ann["description"], "If objective pay") ||
		!strings.Contains(ann["description"], ", do: https://runbooks.example/pay, so that customers can pay.") ||
		strings.Contains(ann["description"], "IF") || !strings.Contains(ann["summary"], "pay") {
		t.Errorf("annotations: %v", ann)
	}
	// Forty minutes of good traffic clear the 5m window (page-1h) and the
	// 30m one (page-6h, which holds after page-1h).
	for i := 0; i < 240; i++ {
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
		if a.Severity == slo.Page && a.State == slo.Resolved {
			if !a.EndsAt.After(a.StartsAt) || !strings.HasPrefix(a.Annotations["summary"], "Resolved: ") ||
				!strings.HasPrefix(a.Annotations["description"], "Resolved. ") || strings.Contains(a.If, "burns its error budget at") ||
				a.Labels["severity"] != "page" || a.Labels["instance"] != "pod-1" {
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
	m.Evaluate() // page and ticket fire: 2 alerts
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
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := m.DeliveryStats()[0]; st.Failed < 1 || st.Sent != 0 {
		t.Errorf("after shutdown: %+v, want failures counted and nothing sent", st)
	}
}

// Shutdown returns when its context ends, even while a notifier ignores
// its own context, and says what it left undone.
func TestShutdownIsBounded(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	stubborn := slo.NotifierFunc(func(context.Context, slo.Alert) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release // ignores ctx
		return nil
	})
	fc := clock.NewFake(start)
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog),
		slo.WithNotifier(stubborn), slo.WithResendInterval(time.Nanosecond))
	if err != nil {
		t.Fatal(err)
	}
	tr := m.MustAdd(slo.Objective{Name: "a", Target: 0.99})
	tr.RecordN(100, 100)
	m.Evaluate()
	<-started
	fc.Advance(time.Second)
	m.Evaluate() // two more wait behind the stuck one
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = m.Shutdown(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "undelivered") {
		t.Errorf("Shutdown: %v, want the undelivered count and context.Canceled", err)
	}
	if err := m.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if _, err := m.Add(slo.Objective{Name: "b", Target: 0.9, DisableTiers: []string{"page-1h", "page-6h", "ticket-1d", "ticket-3d"}}); !errors.Is(err, slo.ErrClosed) {
		t.Errorf("Add after Shutdown: %v", err)
	}
	close(release) // goleak in TestMain waits for the notifier goroutine to end
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
	a := slo.Alert{Objective: "a", Tier: "page-1h", Severity: slo.Page, State: slo.Firing, StartsAt: start, At: start, If: "x",
		Labels:      map[string]string{"alertname": "SLOBurnRate", "objective": "a", "severity": "page", "source": "in-process"},
		Annotations: map[string]string{"summary": "s", "description": "If x.", "tier": "page-1h"}}
	if err := n.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	labels := got[0]["labels"].(map[string]any)
	if labels["alertname"] != "SLOBurnRate" || labels["tier"] != nil || labels["service"] != "orders" || labels["severity"] != "page" ||
		labels["source"] != "in-process" {
		t.Errorf("labels: %v", labels)
	}
	if ann := got[0]["annotations"].(map[string]any); ann["tier"] != "page-1h" || ann["description"] != "If x." {
		t.Errorf("annotations: %v", ann)
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
