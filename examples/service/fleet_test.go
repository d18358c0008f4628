package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
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
		{[]string{"-slo-evaluate-every", "10ms"}, "-slo-evaluate-every"},
		{[]string{"-fleet-url", "mysql://x"}, "-fleet-url"},
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
	cmd  *exec.Cmd
	logs *logTail
}

// startFleet starts one -downstream-only process and then, at once, on
// the PostgreSQL database pg, replicas named replica-1 … replica-n and a
// shadow (-worker=false) that share it, each with a data directory of its
// own; extra flags go to every one of them.
func startFleet(t *testing.T, pg string, n int, extra ...string) (downstream string, replicas []fleetProcess, shadow fleetProcess) {
	t.Helper()
	downstream, _, _ = startService(t, "-downstream-only")
	procs := make([]fleetProcess, n+1)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range procs {
		procs[i].name = fmt.Sprintf("replica-%d", i+1)
		if i == n {
			procs[i].name = "shadow"
		}
		args := append([]string{"-demo-traffic=false", "-instance", procs[i].name, "-queue-url", pg,
			"-downstream-url", downstream, "-operator-token", testToken, fmt.Sprintf("-worker=%v", i < n)}, extra...)
		wg.Go(func() { procs[i].base, procs[i].cmd, procs[i].logs, errs[i] = launchService(t, args...) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return downstream, procs[:n], procs[n]
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

// alertReceiver stands in for Alertmanager: it records every alert the
// services' -alert-webhook posts.
type alertReceiver struct {
	url    string
	mu     sync.Mutex
	alerts []receivedAlert
}

type receivedAlert struct {
	Objective string            `json:"objective"`
	Severity  string            `json:"severity"`
	State     string            `json:"state"`
	Repeat    bool              `json:"repeat"`
	Incident  string            `json:"incident"`
	Labels    map[string]string `json:"labels"`
}

func newAlertReceiver(t *testing.T) *alertReceiver {
	r := &alertReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var a receivedAlert
		if err := json.NewDecoder(req.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.alerts = append(r.alerts, a)
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// pages returns the firing page notifications of objective: new ones
// (Repeat false) and resends.
func (r *alertReceiver) pages(objective string) (firsts, repeats []receivedAlert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.alerts {
		if a.Objective == objective && a.Severity == "page" && a.State == "firing" {
			if a.Repeat {
				repeats = append(repeats, a)
			} else {
				firsts = append(firsts, a)
			}
		}
	}
	return firsts, repeats
}

// fleetSLO reads what /slo?format=json says of objective: the period's
// budget and the incidents listed.
func fleetSLO(t *testing.T, base, objective string) (total, bad int64, incidents []string) {
	t.Helper()
	var doc struct {
		Objectives []struct {
			Objective string
			Windows   []struct{ Total, Bad int64 }
			Incidents []struct{ ID string }
		}
	}
	_, body := get(t, base+"/slo?format=json")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/slo?format=json: %v\n%.500s", err, body)
	}
	for _, o := range doc.Objectives {
		if o.Objective == objective && len(o.Windows) > 0 {
			for _, inc := range o.Incidents {
				incidents = append(incidents, inc.ID)
			}
			w := o.Windows[len(o.Windows)-1]
			return w.Total, w.Bad, incidents
		}
	}
	t.Fatalf("/slo has no objective %s: %.500s", objective, body)
	return 0, 0, nil
}

// fleetLeader reads GET /fleet.
func fleetLeader(t *testing.T, base string) (fleetStatus, bool) {
	t.Helper()
	resp, err := http.Get(base + "/fleet")
	if err != nil {
		return fleetStatus{}, false // a killed replica
	}
	defer resp.Body.Close()
	var st fleetStatus
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		t.Fatalf("GET %s/fleet: not JSON", base)
	}
	return st, true
}

// evaluateEvery is the fleet test's -slo-evaluate-every: the replicas
// publish their counts and the leader renews its lease this often.
const evaluateEvery = 2 * time.Second

// takeoverBound is how soon another replica leads after the leader dies:
// the slo.alerts lease (three evaluation intervals) plus one interval
// (slo.WithStore's doc), plus a second of polling and process start.
const takeoverBound = 4*evaluateEvery + time.Second

// featureReport reads orders.place from /features?format=json: its uses and
// distinct tenants with the stated standard error.
func featureReport(t *testing.T, base string) (uses, tenants int64, tenantsErr float64) {
	t.Helper()
	var rep struct {
		Features []struct {
			Name       string
			Uses       int64
			Tenants    int64
			TenantsErr float64 `json:"tenants_err"`
		}
	}
	_, body := get(t, base+"/features?format=json")
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/features?format=json: %v", err)
	}
	for _, f := range rep.Features {
		if f.Name == "orders.place" {
			return f.Uses, f.Tenants, f.TenantsErr
		}
	}
	return 0, 0, 0
}

// Three replicas (real processes) on one PostgreSQL database — queue and
// fleet store — sharing one standalone downstream and no directory, with a
// blue/green shadow (-worker=false) in the same fleet. A downstream
// outage: every process takes orders from tenants of its own and queues
// them; their delivery bound passes and the fleet counts each order once,
// late, pages once, and opens one incident, which every replica's /slo
// lists beside the same budget; /features on every replica shows the
// fleet's uses exactly and its tenants within the stated error. The
// leader is SIGKILLed during the outage: another process leads within
// takeoverBound and the page is neither lost nor sent again. When the
// downstream is back every order is delivered exactly once — the
// downstream saw each Idempotency-Key once and no call without one — and
// the shadow delivered none.
func TestFleetOnPostgresPagesOnceAndDeliversEveryOrderOnce(t *testing.T) {
	t.Parallel() // mostly waiting on the processes' timers
	pg := freshDatabase(t)
	start := time.Now()
	phase := func(what string) { t.Logf("%5.1fs %s", time.Since(start).Seconds(), what) }
	perProcess := 6 // 24 orders: above the objective's minimum events
	long := os.Getenv("OPSKIT_LONG") != ""
	if long {
		perProcess = 60 // and the first leader is killed before it pages too
	}
	alerts := newAlertReceiver(t)
	fleetArgs := []string{"-fleet-url", pg, "-delivery-bound", "3s", "-alert-webhook", alerts.url,
		"-slo-evaluate-every", evaluateEvery.String()}
	downstream, replicas, shadow := startFleet(t, pg, 3, fleetArgs...)
	phase("started")
	all := append(replicas[:len(replicas):len(replicas)], shadow)
	alive := all
	// killLeader SIGKILLs the process that leads and waits, at most
	// takeoverBound, for another to lead.
	killLeader := func() {
		t.Helper()
		leader := -1
		for i, p := range alive {
			if st, _ := fleetLeader(t, p.base); st.Leader {
				if leader >= 0 {
					t.Fatalf("%s and %s both say they lead", alive[leader].name, p.name)
				}
				leader = i
			}
		}
		if leader < 0 {
			t.Fatal("no process says it leads")
		}
		dead := alive[leader]
		dead.cmd.Process.Kill()
		dead.cmd.Wait()
		killed := time.Now()
		alive = append(alive[:leader:leader], alive[leader+1:]...)
		var next string
		waitForWithin(t, takeoverBound, "another process to lead after "+dead.name+" was killed", func() bool {
			for _, p := range alive {
				if st, _ := fleetLeader(t, p.base); st.Leader {
					next = p.name
					return true
				}
			}
			return false
		})
		t.Logf("%s killed; %s leads %v later", dead.name, next, time.Since(killed).Round(100*time.Millisecond))
	}
	if code, body := do(t, "POST", downstream+"/demo/downstream?mode=down", ""); code != 200 {
		t.Fatalf("set the downstream down: %d %s", code, body)
	}
	if _, body := get(t, shadow.base+"/readyz?verbose"); strings.Contains(body, "delivery-worker") {
		t.Errorf("the shadow's readiness has a delivery-worker check: %s", body)
	}

	// Every process takes orders at once, each order from a tenant of its own.
	var (
		mu     sync.Mutex
		queued []string
		wg     sync.WaitGroup
		errs   = make(chan error, len(all))
	)
	for _, p := range all {
		wg.Go(func() {
			ids, err := placeOrders(p, perProcess, func(i int) string { return fmt.Sprintf("%s-t%02d", p.name, i) })
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
	orders := int64(len(queued))
	phase("orders placed")
	if d, _ := queueStats(t, shadow.base); d != len(queued) {
		t.Fatalf("/queue depth %d on the shadow, want the %d queued orders", d, len(queued))
	}
	// unseen bounds the orders the fleet may not count before the
	// deliveries: those a process accepted in the evaluation interval
	// before it was SIGKILLed are counted when a worker takes them.
	unseen := int64(0)
	if long { // before any order is late: the next leader must page
		killLeader()
		unseen = int64(perProcess)
	}

	// The orders' bound (3s) passes: the fleet counts each once, late, the
	// same on every process, and pages once.
	var seen []string
	defer func() {
		if t.Failed() {
			t.Logf("last seen on the processes' /slo (events bad incidents): %q; %d orders", seen, orders)
		}
	}()
	waitForWithin(t, 30*time.Second, "every process to show the fleet's budget: each order once, late", func() bool {
		seen = seen[:0]
		same := true
		for _, p := range alive {
			total, bad, inc := fleetSLO(t, p.base, "order-fulfilment")
			seen = append(seen, fmt.Sprint(total, " ", bad, " ", inc))
			same = same && total == bad && total <= orders && total >= orders-unseen && seen[len(seen)-1] == seen[0]
		}
		return same
	})
	phase("budget counted on every process")
	waitForWithin(t, 10*time.Second, "the fleet to page", func() bool { firsts, _ := alerts.pages("order-fulfilment"); return len(firsts) > 0 })
	for _, p := range alive {
		if _, _, inc := fleetSLO(t, p.base, "order-fulfilment"); len(inc) != 1 {
			t.Errorf("%s's /slo lists incidents %q, want the fleet's one", p.name, inc)
		}
	}
	phase("paged")
	// Operators act on the incident from two processes; the fleet's one
	// audit trail, read on a third, has both, each naming its process.
	firsts, _ := alerts.pages("order-fulfilment")
	form := func(action string) string {
		return "action=" + action + "&text=seen&id=" + url.QueryEscape(firsts[0].Incident)
	}
	for i, action := range []string{"ack", "note"} {
		if code, body := do(t, "POST", alive[i].base+"/slo/incident", form(action), "Content-Type", "application/x-www-form-urlencoded",
			"Authorization", "Bearer "+testToken); code != 204 {
			t.Errorf("%s on %s = %d %s, want 204", action, alive[i].name, code, body)
		}
	}
	var trail struct {
		Records []struct{ Instance, Action, Target string }
	}
	_, body := get(t, alive[2].base+"/audit", "Authorization", "Bearer "+testToken)
	if err := json.Unmarshal([]byte(body), &trail); err != nil {
		t.Fatalf("/audit: %v: %s", err, body)
	}
	var acted []string
	for _, r := range trail.Records {
		if r.Target == firsts[0].Incident {
			acted = append(acted, r.Instance+" "+r.Action)
		}
	}
	if want := []string{alive[0].name + " incident.ack", alive[1].name + " incident.note"}; strings.Join(acted, ", ") != strings.Join(want, ", ") {
		t.Errorf("the fleet trail on %s has %q for the incident, want %q", alive[2].name, acted, want)
	}

	// Feature usage: every process shows the fleet's uses, exactly, and its
	// tenants (one per order) within the stated error (3 standard errors).
	// A process SIGKILLed loses the uses it had not published (at most
	// unseen), and their tenants with them.
	for _, p := range alive {
		var uses, tenants int64
		var tenantsErr float64
		waitForWithin(t, 15*time.Second, p.name+"'s /features to show the fleet's uses", func() bool {
			uses, tenants, tenantsErr = featureReport(t, p.base)
			return uses >= orders-unseen
		})
		if uses > orders || uses < orders-unseen || math.Abs(float64(tenants-uses)) > 3*tenantsErr {
			t.Errorf("%s: /features shows orders.place with %d uses, %d ± %.2f tenants; want %d uses (at least %d) and as many tenants",
				p.name, uses, tenants, tenantsErr, orders, orders-unseen)
		}
	}

	phase("features checked")
	// SIGKILL the leader during the outage; another process leads within
	// the bound. The downstream comes back meanwhile.
	killLeader()
	if code, body := do(t, "POST", downstream+"/demo/downstream?mode=up", ""); code != 200 {
		t.Fatalf("set the downstream up: %d %s", code, body)
	}
	survivors := alive

	// The replicas' breakers let a probe through after their open timeout
	// (30s); then the workers drain the queue, the killed replica's leases
	// once they lapse (30s).
	phase("taken over")
	var st downstreamStatus
	defer func() {
		if t.Failed() {
			t.Logf("downstream: %+v", st)
			for _, p := range survivors {
				depth, acked := queueStats(t, p.base)
				_, m := get(t, p.base+"/metrics")
				t.Logf("%s: queue depth %d, acked %d; breaker open %v, throttled %v", p.name, depth, acked,
					metricLine(m, "opskit_retry_breaker_state", "2"), metricValue(m, "opskit_retry_throttle_rejections_total"))
			}
		}
	}()
	waitForWithin(t, 2*time.Minute, "every order to reach the downstream", func() bool {
		st = demoStatus(t, downstream)
		return st.Received >= orders
	})
	if st.Received != orders || st.Duplicates != 0 || st.Unkeyed != 0 {
		t.Errorf("downstream: %d received, %d duplicates, %d without a key; want each of the %d orders once, by key",
			st.Received, st.Duplicates, st.Unkeyed, orders)
	}
	phase("delivered")
	for _, p := range survivors {
		waitFor(t, p.name+"'s queue to be empty", func() bool { d, _ := queueStats(t, p.base); return d == 0 })
	}
	if survivors[len(survivors)-1].name == shadow.name {
		if _, a := queueStats(t, shadow.base); a != 0 {
			t.Errorf("the shadow (-worker=false) acknowledged %d orders, want 0", a)
		}
	}
	if st := demoStatus(t, survivors[0].base); st.Received != orders {
		t.Errorf("GET /demo/downstream on a replica shows %d received, want the shared downstream's %d", st.Received, orders)
	}

	// One page for the whole outage, across the hand-over: the new leader
	// sent it again only as a resend, of the same incident, and no
	// notification names an instance.
	firsts, repeats := alerts.pages("order-fulfilment")
	if len(firsts) != 1 {
		t.Fatalf("%d new page notifications for order-fulfilment, want 1: %+v", len(firsts), firsts)
	}
	for _, a := range append(firsts, repeats...) {
		if a.Incident != firsts[0].Incident || a.Labels["instance"] != "" {
			t.Errorf("page notification %+v: want incident %s and no instance label", a, firsts[0].Incident)
		}
	}
	// One order more, after every delivery: once it counts, the leader has
	// decided every delivery before it, and none counted a second time.
	if _, err := placeOrders(survivors[0], 1, func(int) string { return "after" }); err != nil {
		t.Fatal(err)
	}
	waitForWithin(t, 30*time.Second, "the order placed after the deliveries to count on every survivor", func() bool {
		for _, p := range survivors {
			if total, _, _ := fleetSLO(t, p.base, "order-fulfilment"); total <= orders {
				return false
			}
		}
		return true
	})
	for _, p := range survivors {
		if total, bad, inc := fleetSLO(t, p.base, "order-fulfilment"); total != orders+1 || bad < orders || bad > orders+1 || len(inc) != 1 {
			t.Errorf("%s's /slo after the deliveries: %d events, %d bad, incidents %q; want %d (each late order once, bad, and the last one) and the one incident",
				p.name, total, bad, inc, orders+1)
		}
	}
}
