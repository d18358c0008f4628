package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/slo"
	"go.opentelemetry.io/otel/metric/noop"
)

// An outage longer than the delivery bound: every order still undelivered
// as its bound passes counts bad at that moment — exactly the late orders,
// no attempts or breaker refusals — and the page opens one incident. After
// a graceful restart the orders are delivered late and count nothing more.
func TestLateOrdersCountOnceAsTheirBoundPasses(t *testing.T) {
	t.Parallel() // mostly waiting on the service's timers
	dataDir := t.TempDir()
	args := []string{"-demo-traffic=false", "-data", dataDir, "-delivery-bound", "3s", "-operator-token", testToken}
	base, cmd, logs := startService(t, args...)
	if code, body := do(t, "POST", base+"/demo/downstream?mode=down", ""); code != 200 {
		t.Fatalf("set down: %d %s", code, body)
	}
	const orders = 12 // above the objective's minimum events and bad events
	for range orders {
		code, body := do(t, "POST", base+"/api/orders", `{"item":"lamp","quantity":1}`, "X-Tenant", "acme")
		var r struct{ Status string }
		if code != 202 || json.Unmarshal([]byte(body), &r) != nil || r.Status != "accepted" {
			t.Fatalf("order while down = %d %s, want 202 accepted", code, body)
		}
	}
	waitForWithin(t, 40*time.Second, "the late orders to count and the page to fire", func() bool {
		_, bad, page := sloObjective(t, base, "order-fulfilment")
		return bad >= orders && page == "firing"
	})
	if total, bad := fulfilmentEvents(t, base); total != orders || bad != orders {
		t.Errorf("order-fulfilment counted %d events, %d bad; want exactly the %d late orders", total, bad, orders)
	}
	if n := incidents(t, dataDir, "order-fulfilment"); n != 1 {
		t.Errorf("%d order-fulfilment incidents, want 1", n)
	}
	// The log says so, in the on-call engineer's words.
	line := logs.find(t, 15*time.Second, `msg="incident opened"`, `objective=order-fulfilment`)
	for _, want := range []string{"IF=", "DO=", "SO_THAT=", "severity=page"} {
		if !strings.Contains(line, want) {
			t.Errorf("incident log line lacks %s: %s", want, line)
		}
	}

	// The operator acknowledges it and leaves a note; without the token
	// nothing changes. Both actions are in the incident and the audit trail.
	id := strings.TrimSpace(strings.SplitN(strings.SplitN(line, "incident=", 2)[1], " ", 2)[0])
	incident := func(form string, header ...string) int {
		code, _ := do(t, "POST", base+"/slo/incident", form, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
		return code
	}
	if code := incident("action=ack&id=" + id); code != 401 {
		t.Errorf("ack without the token = %d, want 401", code)
	}
	bearer := []string{"Authorization", "Bearer " + testToken}
	if code := incident("action=ack&id="+id, bearer...); code != 204 {
		t.Errorf("ack with the token = %d, want 204", code)
	}
	if code := incident("action=note&text=downstream+restarted&id="+id, bearer...); code != 204 {
		t.Errorf("note with the token = %d, want 204", code)
	}
	if _, body := get(t, base+"/audit", bearer...); !strings.Contains(body, `"incident.ack"`) || !strings.Contains(body, "downstream restarted") {
		t.Errorf("/audit lacks the ack and the note: %s", body)
	}

	// SIGTERM saves the state; the restarted service's downstream is up
	// and the worker delivers every order, late: nothing more counts.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("service exited with %v after SIGTERM", err)
	}
	base, _, _ = startService(t, args...)
	waitFor(t, "the late orders to be delivered", func() bool { return demoStatus(t, base).Received >= orders })
	if total, bad := fulfilmentEvents(t, base); total != orders || bad != orders {
		t.Errorf("after the restart and late delivery: %d events, %d bad; want still %d, all bad", total, bad, orders)
	}
	if n := incidents(t, dataDir, "order-fulfilment"); n != 1 {
		t.Errorf("%d order-fulfilment incidents after the restart, want still 1", n)
	}
}

// waitForWithin polls a real process until cond holds, for at most d.
func waitForWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// One log line per change of an incident, each with its IF, DO and SO
// THAT; resends of the same state log nothing.
func TestIncidentLogOneLinePerChange(t *testing.T) {
	var buf strings.Builder
	l := newIncidentLog(slog.New(slog.NewTextHandler(&buf, nil)))
	alert := func(sev slo.Severity, state slo.AlertState, tier string, repeat bool) slo.Alert {
		return slo.Alert{Objective: "order-fulfilment", Severity: sev, State: state, Tier: tier, Repeat: repeat,
			Incident: "inc-1", If: "order-fulfilment burns its budget 20x", Do: "check the downstream", SoThat: "orders ship"}
	}
	for _, a := range []slo.Alert{
		alert(slo.Page, slo.Firing, "page-1h", false),
		alert(slo.Page, slo.Firing, "page-1h", true), // resend: nothing
		alert(slo.Ticket, slo.Firing, "ticket-1d", false),
		alert(slo.Page, slo.Firing, "page-6h", true), // another tier leads
		alert(slo.Page, slo.Resolved, "page-6h", false),
		alert(slo.Ticket, slo.Resolved, "ticket-1d", false),
		alert(slo.Ticket, slo.Resolved, "ticket-1d", false), // unknown by now: nothing
	} {
		l.notify(t.Context(), a)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		for _, want := range []string{`IF="order-fulfilment burns its budget 20x"`, `DO="check the downstream"`, `SO_THAT="orders ship"`, "incident=inc-1"} {
			if !strings.Contains(line, want) {
				t.Errorf("log line lacks %s: %s", want, line)
			}
		}
		msg := regexp.MustCompile(`msg="([^"]+)" .* change="?([^"=]+?)"? severity`).FindStringSubmatch(line)
		if msg == nil {
			t.Fatalf("unexpected line %s", line)
		}
		got = append(got, msg[1]+": "+msg[2])
	}
	want := []string{"incident opened: page firing", "incident updated: ticket firing",
		"incident updated: tier page-1h -> page-6h", "incident updated: page resolved", "incident resolved: ticket resolved"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// After a restart, reaccept starts each waiting order's clock from its
// enqueue time: those whose bound passed while the service was down count
// late at once, each once, and the orders stay in the queue, ready, their
// attempts not spent.
func TestReacceptCountsOrdersLateFromTheirEnqueueTime(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	q, err := queue.Open(filepath.Join(t.TempDir(), "queue"), queue.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for i := range 3 {
		payload, _ := json.Marshal(order{ID: fmt.Sprintf("ord_%d", i), Item: "pen", Quantity: 1})
		if _, err := q.Enqueue(t.Context(), payload); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(10 * time.Minute) // the service was down past the 5-minute bound

	mon, err := slo.New(slo.WithClock(clk), slo.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Shutdown(t.Context())
	f, err := newFulfilment(mon, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if n := reaccept(t.Context(), q, f, log); n != 3 {
		t.Fatalf("reaccept saw %d orders, want 3", n)
	}
	if n := reaccept(t.Context(), q, f, log); n != 3 { // the orders were given back; counting them again adds nothing
		t.Fatalf("second reaccept saw %d orders, want 3", n)
	}
	st := mon.Evaluate()
	w := st[0].Windows[len(st[0].Windows)-1]
	if st[0].Objective != "order-fulfilment" || w.Total != 3 || w.Bad != 3 {
		t.Errorf("%s: %d events, %d bad; want the 3 late orders, bad once each", st[0].Objective, w.Total, w.Bad)
	}
	for range 3 {
		m, err := q.TryReceive(t.Context(), time.Minute)
		if err != nil || m.Attempt != 1 {
			t.Fatalf("order after reaccept: %v, %v; want ready at its first attempt", m, err)
		}
	}
}
