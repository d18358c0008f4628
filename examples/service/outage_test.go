package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestOutageQueuesOrdersAndDeliversAfterRestart is the service's promise:
// while the downstream is down, orders are accepted (202) and kept; the
// breaker opens so the downstream stops receiving calls; the fulfilment
// objective pages and opens an incident; the service is then killed with
// SIGKILL, restarted on the same state, and every accepted order reaches
// the downstream once it is back.
func TestOutageQueuesOrdersAndDeliversAfterRestart(t *testing.T) {
	t.Run("file-queue", func(t *testing.T) { testOutage(t, t.TempDir()) })
	t.Run("postgres-queue", func(t *testing.T) { testOutage(t, t.TempDir(), "-queue-url", freshDatabase(t)) })
}

func testOutage(t *testing.T, dataDir string, extra ...string) {
	args := append([]string{"-demo-traffic=false", "-data", dataDir}, extra...)
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
	// The breaker is open now (20 failed calls at 50% or more): more orders
	// are queued without reaching the downstream.
	waitFor(t, "the breaker to open", func() bool {
		_, m := get(t, base+"/metrics")
		return metricLine(m, "opskit_retry_breaker_state", "2")
	})
	before := demoStatus(t, base).Received
	for range 10 {
		placeOrder()
	}
	if after := demoStatus(t, base).Received; after != before {
		t.Errorf("downstream received %d calls while the breaker was open, want none", after-before)
	}

	// The fulfilment objective pages and the incident is recorded.
	waitFor(t, "the page alert on order-fulfilment", func() bool {
		return alertState(t, base, "order-fulfilment", "page-1h") == "firing"
	})
	if !incidentOpened(t, filepath.Join(dataDir, "incidents.jsonl"), "order-fulfilment") {
		t.Error("no incident opened for order-fulfilment in the incident log")
	}
	var qs struct {
		Depth    int `json:"depth"`
		Enqueued int `json:"enqueued"`
	}
	if _, body := get(t, base+"/queue"); json.Unmarshal([]byte(body), &qs) != nil || qs.Depth != len(queued) {
		t.Fatalf("/queue = %s, want depth %d", body, len(queued))
	}

	// Kill -9, restart on the same state: the downstream (simulated
	// in-process) comes back up, and the worker delivers every order.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	base, _, _ = startService(t, args...)
	waitFor(t, "the queue to drain", func() bool {
		_, body := get(t, base+"/queue")
		return json.Unmarshal([]byte(body), &qs) == nil && qs.Depth == 0
	})
	if got := demoStatus(t, base).Received; got < int64(len(queued)) {
		t.Fatalf("downstream received %d orders after the restart, want all %d queued ones", got, len(queued))
	}
	if _, body := get(t, base+"/queue/dead"); strings.TrimSpace(body) != "[]" {
		t.Errorf("/queue/dead = %s, want no dead letters", body)
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

// alertState reads one alert's state from /slo's JSON.
func alertState(t *testing.T, base, objective, tier string) string {
	t.Helper()
	var page struct {
		Objectives []struct {
			Objective string `json:"objective"`
			Budget    struct {
				Remaining *float64 `json:"remaining"`
			} `json:"budget"`
			Windows []struct{ Window string } `json:"windows"`
			Alerts  []struct{ Tier, State string }
		} `json:"objectives"`
	}
	_, body := get(t, base+"/slo?format=json")
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatalf("/slo?format=json: %v\n%s", err, body)
	}
	for _, o := range page.Objectives {
		if o.Objective != objective {
			continue
		}
		if o.Budget.Remaining == nil || len(o.Windows) == 0 {
			t.Fatalf("/slo objective %s lacks budget or windows: %s", objective, body)
		}
		for _, a := range o.Alerts {
			if a.Tier == tier {
				return a.State
			}
		}
	}
	t.Fatalf("/slo has no alert %s on %s: %s", tier, objective, body)
	return ""
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

func incidentOpened(t *testing.T, path, objective string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("incident log: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"`+objective+`"`) && strings.Contains(sc.Text(), "open") {
			return true
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
		msg := "OPSKIT_POSTGRES_URL is not set; run `eval \"$(.ci/start-postgres)\"` from the repository root to test the PostgreSQL queue"
		if os.Getenv("OPSKIT_REQUIRE_COMPONENTS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
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
		msg := "promtool not installed (Debian package prometheus): skipping"
		if os.Getenv("OPSKIT_REQUIRE_COMPONENTS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
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
	if b, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, b)
	}
}
