package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opskit/opskit/internal/component"
	"github.com/opskit/opskit/slo"
)

// TestOutageQueuesOrdersAndDeliversAfterRestart is the service's promise:
// while the downstream is down, orders are accepted (202) and kept; the
// breaker opens so the downstream stops receiving calls; when it is back
// the worker delivers them all, within the delivery bound, so
// order-fulfilment counts each order once, good, and no incident opens.
// Then a second outage: the service is killed with SIGKILL with orders
// queued, restarted on the same state, and delivers them; still every
// order counts once.
func TestOutageQueuesOrdersAndDeliversAfterRestart(t *testing.T) {
	t.Parallel() // mostly waiting on the service's timers
	t.Run("file-queue", func(t *testing.T) { t.Parallel(); testOutage(t, t.TempDir()) })
	t.Run("postgres-queue", func(t *testing.T) { t.Parallel(); testOutage(t, t.TempDir(), "-queue-url", freshDatabase(t)) })
}

func testOutage(t *testing.T, dataDir string, extra ...string) {
	args := append([]string{"-demo-traffic=false", "-data", dataDir, "-operator-token", testToken}, extra...)
	base, cmd, _ := startService(t, args...)
	if code, body := do(t, "POST", base+"/demo/downstream?mode=down", ""); code != 200 {
		t.Fatalf("set down: %d %s", code, body)
	}

	var queued []string
	placeOrder := func() {
		code, body := do(t, "POST", base+"/api/orders", `{"item":"book","quantity":1}`, "X-Tenant", "acme")
		var r struct{ ID, Status string }
		if code != 202 || json.Unmarshal([]byte(body), &r) != nil || r.Status != "accepted" {
			t.Fatalf("order while down = %d %s, want 202 accepted", code, body)
		}
		queued = append(queued, r.ID)
	}
	for range 30 {
		placeOrder()
	}
	// The client protects the downstream now — its breaker is open (20
	// failed calls at 50% or more) or its adaptive throttle refuses most
	// calls — so more orders are queued with (almost) no call reaching it,
	// where each would otherwise make up to three.
	waitFor(t, "the client to stop calling the downstream", func() bool {
		_, m := get(t, base+"/metrics")
		return metricLine(m, "opskit_retry_breaker_state", "2") || metricValue(m, "opskit_retry_throttle_rejections_total") > 0
	})
	before := demoStatus(t, base).Calls
	for range 10 {
		placeOrder()
	}
	if calls := demoStatus(t, base).Calls - before; calls >= 5 {
		t.Errorf("downstream got %d calls for 10 orders while the client was refusing, want almost none", calls)
	}

	if d := queueDepth(t, base); d != len(queued) {
		t.Fatalf("/queue depth %d, want %d", d, len(queued))
	}

	// The downstream comes back; the breaker lets a probe through after
	// its open timeout (30s), the throttle's two-minute window forgets the
	// refusals, and the worker delivers every order, within the bound.
	if code, body := do(t, "POST", base+"/demo/downstream?mode=up", ""); code != 200 {
		t.Fatalf("set up: %d %s", code, body)
	}
	waitForWithin(t, 4*time.Minute, "the queue to drain", func() bool { return queueDepth(t, base) == 0 })
	if got := demoStatus(t, base).Received; got < int64(len(queued)) {
		t.Fatalf("downstream received %d orders, want all %d queued ones", got, len(queued))
	}
	waitFor(t, "every order to count", func() bool { total, _ := fulfilmentEvents(t, base); return total >= int64(len(queued)) })
	if total, bad := fulfilmentEvents(t, base); total != int64(len(queued)) || bad != 0 {
		t.Errorf("order-fulfilment counted %d events, %d bad; want %d orders, 0 bad", total, bad, len(queued))
	}
	// The counts are saved (every 10s) before the kill below.
	counted := time.Now()
	waitForWithin(t, 30*time.Second, "the SLO snapshot to be saved", func() bool {
		fi, err := os.Stat(filepath.Join(dataDir, "slo-snapshot.json"))
		return err == nil && fi.ModTime().After(counted)
	})

	// A second outage, with orders queued when the process is killed.
	if code, body := do(t, "POST", base+"/demo/downstream?mode=down", ""); code != 200 {
		t.Fatalf("set down: %d %s", code, body)
	}
	first := len(queued)
	for range 5 {
		placeOrder()
	}

	// Kill -9, restart on the same state: the downstream (simulated
	// in-process) comes back up, and the worker delivers every order.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	base, _, _ = startService(t, args...)
	// Leases the killed process held lapse first (30s) where they are
	// stored (PostgreSQL); the file queue forgets them at restart.
	waitForWithin(t, time.Minute, "the queue to drain", func() bool { return queueDepth(t, base) == 0 })
	if got := demoStatus(t, base).Received; got < int64(len(queued)-first) {
		t.Fatalf("downstream received %d orders after the restart, want all %d queued ones", got, len(queued)-first)
	}
	if dead := deadLetters(t, base); len(dead) != 0 {
		t.Errorf("/queue/dead = %v, want no dead letters", dead)
	}
	// Each order once, across the SIGKILL: all good, none late.
	waitFor(t, "every order to count", func() bool { total, _ := fulfilmentEvents(t, base); return total >= int64(len(queued)) })
	if total, bad := fulfilmentEvents(t, base); total != int64(len(queued)) || bad != 0 {
		t.Errorf("order-fulfilment counted %d events, %d bad; want %d orders, 0 bad", total, bad, len(queued))
	}
	if n := incidents(t, dataDir, "order-fulfilment"); n != 0 {
		t.Errorf("%d order-fulfilment incidents after an outage delivered within the bound, want 0", n)
	}
}

// featureUses reads one feature's uses from /features?format=json, and
// checks that the declared-but-unused features are reported as such.
func featureUses(t *testing.T, base, name string) int64 {
	t.Helper()
	var rep struct {
		Features []struct {
			Name, Status string
			Uses         int64
		}
	}
	_, body := get(t, base+"/features?format=json")
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/features?format=json: %v", err)
	}
	uses := int64(-1)
	for _, f := range rep.Features {
		if f.Name == name {
			uses = f.Uses
		}
		if f.Name == "invoices.fax" && f.Status != "never used" {
			t.Errorf("invoices.fax is %q, want never used", f.Status)
		}
	}
	return uses
}

func queueDepth(t *testing.T, base string) int {
	t.Helper()
	var qs struct {
		Depth int `json:"depth"`
	}
	if _, body := get(t, base+"/queue"); json.Unmarshal([]byte(body), &qs) != nil {
		t.Fatalf("/queue: %s", body)
	}
	return qs.Depth
}

// sloObjective reads one objective from /slo's JSON: the period's event
// counts (the last window) and the state of its page alert.
func sloObjective(t *testing.T, base, objective string) (total, bad int64, page string) {
	t.Helper()
	var doc struct {
		Objectives []struct {
			Objective string
			Windows   []struct{ Total, Bad int64 }
			Alerts    []struct{ Severity, State string }
		}
	}
	_, body := get(t, base+"/slo?format=json")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("/slo?format=json: %v\n%.500s", err, body)
	}
	for _, o := range doc.Objectives {
		if o.Objective != objective || len(o.Windows) == 0 {
			continue
		}
		period := o.Windows[len(o.Windows)-1]
		for _, a := range o.Alerts {
			if a.Severity == "page" {
				page = a.State
			}
		}
		return period.Total, period.Bad, page
	}
	t.Fatalf("/slo has no objective %s with windows: %.500s", objective, body)
	return 0, 0, ""
}

func fulfilmentEvents(t *testing.T, base string) (total, bad int64) {
	t.Helper()
	total, bad, _ = sloObjective(t, base, "order-fulfilment")
	return total, bad
}

// incidents counts the incidents of objective in the data directory's
// incident log.
func incidents(t *testing.T, dataDir, objective string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(dataDir, "incidents.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := slo.ReadIncidentLog(f)
	if err != nil {
		t.Fatalf("incident log: %v", err)
	}
	n := 0
	for _, inc := range slo.Incidents(recs) {
		if inc.Objective == objective {
			n++
		}
	}
	return n
}

// deadLetter is an entry of /queue/dead, with its id in the textual form
// the requeue URL takes.
type deadLetter struct {
	ID      string `json:"id"`
	Payload []byte `json:"payload"`
	Reason  string `json:"reason"`
}

// deadLetters lists /queue/dead with the operator token.
func deadLetters(t *testing.T, base string) []deadLetter {
	t.Helper()
	code, body := get(t, base+"/queue/dead", "Authorization", "Bearer "+testToken)
	var page struct {
		DeadLetters []deadLetter `json:"dead_letters"`
	}
	if code != 200 {
		t.Fatalf("/queue/dead = %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("/queue/dead: %v: %s", err, body)
	}
	return page.DeadLetters
}

// demoStatus reads /demo/downstream.
func demoStatus(t *testing.T, base string) downstreamStatus {
	t.Helper()
	var st downstreamStatus
	if _, body := get(t, base+"/demo/downstream"); json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("/demo/downstream: %s", body)
	}
	return st
}

// metricValue sums the samples of name (any labels) in the exposition.
func metricValue(exposition, name string) float64 {
	var sum float64
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// metricLine reports whether the exposition has a sample of name (with any
// labels) whose value is value.
func metricLine(exposition, name, value string) bool {
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			if f := strings.Fields(line); f[len(f)-1] == value {
				return true
			}
		}
	}
	return false
}

// freshDatabase creates a database of its own on OPSKIT_POSTGRES_URL's
// server for one test and drops it afterwards.
func freshDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("OPSKIT_POSTGRES_URL")
	if base == "" {
		component.Missing(t, "PostgreSQL", "OPSKIT_POSTGRES_URL is not set; run `eval \"$(.ci/start-postgres)\"` from the repository root to test the PostgreSQL queue")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "opskit_service_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// TestPrometheusRulesPassPromtool prints the service's rules and checks
// them with promtool.
func TestPrometheusRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		component.Missing(t, "promtool", "not installed (Debian package prometheus)")
	}
	var out strings.Builder
	if err := run(t.Context(), []string{"-prometheus-rules"}, &out, os.Stderr); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"order-fulfilment", "api-orders-latency", "tier"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rules lack %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "rules.yml")
	os.WriteFile(path, []byte(out.String()), 0o600)
	// promtool exits 0 on lint findings ("FAILED: lint error …"): read what it says.
	b, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil || !strings.Contains(string(b), "SUCCESS") || strings.Contains(string(b), "FAILED") {
		t.Fatalf("promtool check rules: %v\n%s", err, b)
	}
}
