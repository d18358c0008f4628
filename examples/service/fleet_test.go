package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// The demo downstream honours Idempotency-Key: a repeat of an accepted key
// gets the first receipt and counts as a duplicate, not as received; a
// refusal remembers nothing, so the same key may try again; a call
// without a key is counted apart; a key too long is refused naming the
// header.
func TestDownstreamAnswersARepeatedKeyWithTheFirstAnswer(t *testing.T) {
	d := newDownstream()
	srv := httptest.NewServer(d.routes(http.NewServeMux()))
	defer srv.Close()
	order := func(key string) (int, orderReceipt) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/orders", strings.NewReader(`{"item":"pen","quantity":1}`))
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r orderReceipt
		b, _ := io.ReadAll(resp.Body)
		json.Unmarshal(b, &r)
		if resp.StatusCode == 400 && !strings.Contains(string(b), "Idempotency-Key") {
			t.Errorf("400 %s, want it to name the header", b)
		}
		return resp.StatusCode, r
	}
	if code, r := order("ord_a"); code != 200 || r.Receipt != 1 {
		t.Fatalf("first ord_a = %d %+v, want 200 receipt 1", code, r)
	}
	if code, r := order("ord_a"); code != 200 || r.Receipt != 1 {
		t.Fatalf("repeated ord_a = %d %+v, want 200 with the first receipt", code, r)
	}
	d.SetMode("down")
	if code, _ := order("ord_b"); code != 503 {
		t.Fatalf("ord_b while down = %d, want 503", code)
	}
	d.SetMode("up")
	if code, r := order("ord_b"); code != 200 || r.Receipt != 2 {
		t.Fatalf("ord_b after the refusal = %d %+v, want 200 receipt 2 (a refusal took nothing)", code, r)
	}
	if code, r := order(""); code != 200 || r.Receipt != 3 {
		t.Fatalf("unkeyed = %d %+v, want 200 receipt 3", code, r)
	}
	if code, _ := order(strings.Repeat("k", maxIdempotencyKey+1)); code != 400 {
		t.Fatalf("a %d-byte key = %d, want 400", maxIdempotencyKey+1, code)
	}
	st := d.status()
	if st.Received != 3 || st.Duplicates != 1 || st.Unkeyed != 1 || st.Calls != 6 {
		t.Errorf("status %+v, want received 3, duplicates 1, unkeyed 1, calls 6", st)
	}
}

// The keys the downstream remembers are bounded: past maxIdempotencyKeys
// the oldest is forgotten (counted), a recent one is still known.
func TestDownstreamForgetsTheOldestKeyPastItsBound(t *testing.T) {
	var k idempotencyKeys
	n := int64(0)
	next := func() int64 { n++; return n }
	for i := range maxIdempotencyKeys + 1 {
		if _, dup := k.accept(fmt.Sprint(i), next); dup {
			t.Fatalf("key %d seen as a duplicate", i)
		}
	}
	if len(k.receipt) != maxIdempotencyKeys || k.forgottenCount() != 1 {
		t.Fatalf("%d keys held, %d forgotten; want %d and 1", len(k.receipt), k.forgottenCount(), maxIdempotencyKeys)
	}
	if r, dup := k.accept(fmt.Sprint(maxIdempotencyKeys), next); !dup || r != maxIdempotencyKeys+1 {
		t.Errorf("the newest key: receipt %d, duplicate %v; want its receipt %d again", r, dup, maxIdempotencyKeys+1)
	}
	if _, dup := k.accept("0", next); dup {
		t.Errorf("the oldest key is still known past the bound")
	}
}

func TestServiceRejectsBadFleetFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-downstream-url", "ftp://x"}, "-downstream-url"},
		{[]string{"-downstream-url", "http://"}, "-downstream-url"},
		{[]string{"-downstream-url", "http://a:1", "-downstream-only"}, "one of them"},
		{[]string{"-alert-webhook", "localhost:9"}, "-alert-webhook"},
	} {
		err := run(t.Context(), tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// fleetProcess is one real process of a fleet test.
type fleetProcess struct {
	name string
	base string
	logs *logTail
}

// startFleet starts one -downstream-only process and, on the PostgreSQL
// database pg, replicas named replica-1 … replica-n that share it, each
// with a data directory of its own; extra flags go to every replica.
func startFleet(t *testing.T, pg string, n int, extra ...string) (downstream string, replicas []fleetProcess) {
	t.Helper()
	downstream, _, _ = startService(t, "-downstream-only")
	for i := range n {
		name := fmt.Sprintf("replica-%d", i+1)
		replicas = append(replicas, startReplica(t, name, pg, downstream, extra...))
	}
	return downstream, replicas
}

func startReplica(t *testing.T, name, pg, downstream string, extra ...string) fleetProcess {
	t.Helper()
	args := append([]string{"-demo-traffic=false", "-instance", name, "-queue-url", pg,
		"-downstream-url", downstream, "-operator-token", testToken}, extra...)
	base, _, logs := startService(t, args...)
	return fleetProcess{name: name, base: base, logs: logs}
}

// placeOrders places n orders through p, in parallel with the other
// processes' calls, and returns the ids of those the service took, by
// status ("delivered" or "accepted").
func placeOrders(p fleetProcess, n int, tenant func(i int) string) (map[string][]string, error) {
	ids := map[string][]string{}
	for i := range n {
		req, _ := http.NewRequest(http.MethodPost, p.base+"/api/orders", strings.NewReader(`{"item":"pen","quantity":1}`))
		req.Header.Set("X-Tenant", tenant(i))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var r struct{ ID, Status string }
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || (resp.StatusCode != 200 && resp.StatusCode != 202) {
			return nil, fmt.Errorf("%s: order %d = %d (%v), want 200 or 202", p.name, i, resp.StatusCode, err)
		}
		ids[r.Status] = append(ids[r.Status], r.ID)
	}
	return ids, nil
}

// queueStats reads /queue.
func queueStats(t *testing.T, base string) (depth int, acked int64) {
	t.Helper()
	var qs struct {
		Depth int   `json:"depth"`
		Acked int64 `json:"acked"`
	}
	if _, body := get(t, base+"/queue"); json.Unmarshal([]byte(body), &qs) != nil {
		t.Fatalf("/queue: %s", body)
	}
	return qs.Depth, qs.Acked
}

// Three replicas (real processes) on one PostgreSQL database, sharing one
// standalone downstream and no directory, and a blue/green shadow started
// with -worker=false. During a downstream outage orders are taken by
// every replica (the shadow too) and queued; when the downstream is back
// every order is delivered exactly once — the downstream saw each
// Idempotency-Key once and no call without one — and only the replicas
// with a worker delivered them.
func TestFleetDeliversEveryOrderOnceThroughOneDownstream(t *testing.T) {
	t.Parallel() // mostly waiting on the processes' timers
	pg := freshDatabase(t)
	perReplica := 8
	if os.Getenv("OPSKIT_LONG") != "" {
		perReplica = 40
	}
	downstream, replicas := startFleet(t, pg, 3)
	shadow := startReplica(t, "shadow", pg, downstream, "-worker=false")
	if code, body := do(t, "POST", downstream+"/demo/downstream?mode=down", ""); code != 200 {
		t.Fatalf("set the downstream down: %d %s", code, body)
	}
	if _, body := get(t, shadow.base+"/readyz?verbose"); strings.Contains(body, "delivery-worker") {
		t.Errorf("the shadow's readiness has a delivery-worker check: %s", body)
	}

	// Every process takes orders at once, from tenants of its own.
	var (
		mu     sync.Mutex
		queued []string
		wg     sync.WaitGroup
		errs   = make(chan error, 4)
	)
	for _, p := range append(replicas[:len(replicas):len(replicas)], shadow) {
		wg.Go(func() {
			ids, err := placeOrders(p, perReplica, func(i int) string { return fmt.Sprintf("%s-t%02d", p.name, i) })
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			queued = append(queued, ids["accepted"]...)
			mu.Unlock()
			if len(ids["delivered"]) != 0 {
				errs <- fmt.Errorf("%s delivered %d orders to a downstream that is down", p.name, len(ids["delivered"]))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if d, _ := queueStats(t, shadow.base); d != len(queued) {
		t.Fatalf("/queue depth %d on the shadow, want the %d queued orders", d, len(queued))
	}

	if code, body := do(t, "POST", downstream+"/demo/downstream?mode=up", ""); code != 200 {
		t.Fatalf("set the downstream up: %d %s", code, body)
	}
	// The replicas' breakers let a probe through after their open timeout
	// (30s); then the workers drain the queue.
	var st downstreamStatus
	waitForWithin(t, 90*time.Second, "every order to reach the downstream", func() bool {
		st = demoStatus(t, downstream)
		return st.Received >= int64(len(queued))
	})
	if st.Received != int64(len(queued)) || st.Duplicates != 0 || st.Unkeyed != 0 {
		t.Errorf("downstream: %d received, %d duplicates, %d without a key; want each of the %d orders once, by key",
			st.Received, st.Duplicates, st.Unkeyed, len(queued))
	}
	var acked int64
	for _, p := range replicas {
		waitFor(t, p.name+"'s queue to be empty", func() bool { d, _ := queueStats(t, p.base); return d == 0 })
		_, a := queueStats(t, p.base)
		acked += a
	}
	if _, a := queueStats(t, shadow.base); a != 0 {
		t.Errorf("the shadow (-worker=false) acknowledged %d orders, want 0", a)
	}
	if acked != int64(len(queued)) {
		t.Errorf("the replicas acknowledged %d orders, want the %d queued", acked, len(queued))
	}
	if st := demoStatus(t, replicas[0].base); st.Received != int64(len(queued)) {
		t.Errorf("GET /demo/downstream on a replica shows %d received, want the shared downstream's %d", st.Received, len(queued))
	}
}
