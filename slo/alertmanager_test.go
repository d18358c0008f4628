package slo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// TestRealAlertmanager sends a firing alert to a real Alertmanager on a
// loopback port, reads it back from /api/v2/alerts, then resolves it.
func TestRealAlertmanager(t *testing.T) {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if bin, err = exec.LookPath("alertmanager"); err != nil {
			componentMissing(t, "Alertmanager not installed (Debian package prometheus-alertmanager): skipping the real Alertmanager test")
		}
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: none\nreceivers:\n  - name: none\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=")
	out, _ := os.Create(filepath.Join(dir, "log"))
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	eventually(t, ctx, dir, func() error {
		resp, err := client.Get(base + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("ready: %s", resp.Status)
		}
		return nil
	})

	n := slo.Alertmanager(base, slo.AlertmanagerOptions{Client: client, Labels: map[string]string{"service": "test"}})
	now := time.Now()
	// The labels and annotations a Monitor sets (see TestLoopNotifiesCallback).
	a := slo.Alert{Objective: "checkout", Tier: "page-1h", Severity: slo.Page, State: slo.Firing, StartsAt: now, At: now,
		If: "objective checkout burns 20x", Do: "https://runbooks.example/checkout", SoThat: "customers can pay",
		Labels: map[string]string{"alertname": slo.AlertName, "objective": "checkout", "severity": "page",
			"source": slo.SourceInProcess, "instance": "pod-1"},
		Annotations: map[string]string{"summary": "checkout: error budget burning at 20.0x (page page-1h)",
			"description": "If objective checkout burns 20x, do: https://runbooks.example/checkout, so that customers can pay.",
			"runbook_url": "https://runbooks.example/checkout", "tier": "page-1h"}}
	if err := n.Notify(ctx, a); err != nil {
		t.Fatal(err)
	}
	list := func() ([]map[string]any, error) {
		resp, err := client.Get(base + "/api/v2/alerts?filter=objective%3D%22checkout%22")
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var got []map[string]any
		return got, json.NewDecoder(resp.Body).Decode(&got)
	}
	eventually(t, ctx, dir, func() error {
		got, err := list()
		if err != nil {
			return err
		}
		if len(got) != 1 {
			return fmt.Errorf("got %d alerts", len(got))
		}
		labels := got[0]["labels"].(map[string]any)
		ann := got[0]["annotations"].(map[string]any)
		if labels["tier"] != nil || labels["alertname"] != "SLOBurnRate" || labels["source"] != "in-process" ||
			labels["instance"] != "pod-1" || labels["service"] != "test" || ann["tier"] != "page-1h" ||
			ann["runbook_url"] != "https://runbooks.example/checkout" {
			t.Fatalf("alert read back: %v", got[0])
		}
		return nil
	})
	a.State, a.EndsAt = slo.Resolved, time.Now()
	if err := n.Notify(ctx, a); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, dir, func() error {
		got, err := list()
		if err != nil {
			return err
		}
		if len(got) != 0 {
			return fmt.Errorf("still active: %v", got)
		}
		return nil
	})
}

// eventually retries f until it succeeds or ctx ends; it polls an external
// process, which no fake clock can drive.
func eventually(t *testing.T, ctx context.Context, dir string, f func() error) {
	t.Helper()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("gave up: %v\nalertmanager log:\n%s", err, log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
