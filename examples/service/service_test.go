package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/internal/component"
)

// serviceBin is the service built once for every test that runs it.
var serviceBin struct {
	once sync.Once
	path string
	err  error
}

// startService builds the service (once) and runs it as a real process on a
// free port; it returns the base URL and the running command.
func startService(t *testing.T, args ...string) (string, *exec.Cmd, *logTail) {
	t.Helper()
	base, cmd, logs, err := launchService(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return base, cmd, logs
}

// launchService is startService returning its error instead of failing
// the test, so that several processes can start at once from goroutines.
func launchService(t *testing.T, args ...string) (string, *exec.Cmd, *logTail, error) {
	serviceBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "opskit-service-test-")
		if err != nil {
			serviceBin.err = err
			return
		}
		serviceBin.path = filepath.Join(dir, "service")
		if out, err := exec.Command("go", "build", "-o", serviceBin.path, ".").CombinedOutput(); err != nil {
			serviceBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if serviceBin.err != nil {
		return "", nil, nil, serviceBin.err
	}
	args = append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir()}, args...)
	cmd := exec.Command(serviceBin.path, args...)
	cmd.Env = append(os.Environ(), "OPSKIT_OPERATOR_TOKEN=") // only -operator-token in args sets one
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	logs := &logTail{lines: make(chan string, 1024)}
	go logs.read(stderr)
	addr := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-logs.lines:
			if !ok {
				return "", nil, nil, fmt.Errorf("service %q exited before logging its address", args)
			}
			if m := addr.FindStringSubmatch(line); m != nil {
				return m[1], cmd, logs, nil
			}
		case <-deadline:
			return "", nil, nil, fmt.Errorf("service %q did not log its address within 30s", args)
		}
	}
}

type logTail struct{ lines chan string }

// find reads the service's log until a line holds every one of parts, for
// at most d, and returns it.
func (l *logTail) find(t *testing.T, d time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				t.Fatalf("service log ended without a line holding %q", parts)
			}
			n := 0
			for _, p := range parts {
				if strings.Contains(line, p) {
					n++
				}
			}
			if n == len(parts) {
				return line
			}
		case <-deadline:
			t.Fatalf("no line holding %q in the service log within %v", parts, d)
		}
	}
}

func (l *logTail) read(r io.Reader) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		select {
		case l.lines <- s.Text():
		default: // nobody is reading: drop rather than block the service
		}
	}
	close(l.lines)
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url, "", header...)
}

func do(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServiceServesMetricsDownstreamAndStopsOnSIGTERM(t *testing.T) {
	dataDir := t.TempDir()
	base, cmd, _ := startService(t, "-demo-traffic=false", "-drain-delay", "2s", "-data", dataDir)

	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics = %d, want 200 with go_goroutines; body starts %.300q", code, body)
	}
	if code, body := get(t, base+"/"); code != 200 || !strings.Contains(body, `href="/metrics"`) {
		t.Fatalf("/ = %d, want 200 linking /metrics; body %.300q", code, body)
	}

	var st downstreamStatus
	code, body = get(t, base+"/demo/downstream")
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Mode != "up" || st.Received != 0 {
		t.Fatalf("GET /demo/downstream = %d %s, want 200 mode up received 0", code, body)
	}
	code, body = do(t, http.MethodPost, base+"/demo/downstream?mode=sideways", "")
	if code != 400 || !strings.Contains(body, `sideways`) {
		t.Fatalf("bad mode = %d %s, want 400 naming the mode", code, body)
	}

	code, body = do(t, http.MethodPost, base+"/api/orders", `{"item":"book","quantity":2}`, "X-Tenant", "acme")
	if code != 200 {
		t.Fatalf("order while up = %d %s, want 200", code, body)
	}
	code, body = get(t, base+"/demo/downstream")
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Received != 1 {
		t.Fatalf("after one order: %s, want received 1", body)
	}
	if code, body := do(t, http.MethodPost, base+"/demo/downstream?mode=down", ""); code != 200 || !strings.Contains(body, `"down"`) {
		t.Fatalf("set mode down = %d %s", code, body)
	}

	// Reports: /slo lists both objectives, /queue its counters, /features
	// every format and a 400 naming a bad parameter.
	for _, tc := range []struct{ path, want string }{
		{"/slo?format=json", `"api-orders-latency"`},
		{"/slo", "order-fulfilment"},
		{"/queue", `"oldest_age_seconds"`},
		{"/features", "invoices.fax"},
		{"/features?format=md", "| orders.place"},
		{"/features?format=csv", "orders.place,team-orders"},
		{"/features?format=json", `"never_used"`},
	} {
		if code, body := get(t, base+tc.path); code != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s = %d, want 200 containing %q; body starts %.200q", tc.path, code, tc.want, body)
		}
	}
	if code, body := get(t, base+"/features?format=xml"); code != 400 || !strings.Contains(body, "format") {
		t.Errorf("/features?format=xml = %d %q, want 400 naming format", code, body)
	}
	if code, body := do(t, http.MethodPost, base+"/api/orders", `{"item":"book"}`); code != 400 || !strings.Contains(body, "quantity") {
		t.Errorf("order without quantity = %d %s, want 400 naming quantity", code, body)
	}
	if _, m := get(t, base+"/metrics"); !strings.Contains(m, "opskit_slo_events_total") || !strings.Contains(m, "opskit_feature_uses") {
		t.Errorf("/metrics lacks opskit_slo_events_total or opskit_feature_uses")
	}

	// Health: the four probes, one check, exclude, JSON. The downstream is
	// down and non-critical, so readiness is 200 with a warning.
	for _, p := range []string{"/livez", "/startupz", "/healthz"} {
		if code, body := get(t, base+p); code != 200 || body != "ok" {
			t.Errorf("GET %s = %d %q, want 200 ok", p, code, body)
		}
	}
	waitFor(t, "readiness to warn about the downstream", func() bool {
		code, body := get(t, base+"/readyz?verbose")
		return code == 200 && strings.Contains(body, "[!]downstream warn") && strings.Contains(body, "delivery-worker")
	})
	if code, body := get(t, base+"/readyz/downstream", "Accept", "application/health+json"); code != 200 || !strings.Contains(body, `"status":"warn"`) {
		t.Errorf("/readyz/downstream as JSON = %d %s, want 200 with status warn", code, body)
	}
	// The release id is the build's revision, or (devel) when the build
	// recorded none (GOFLAGS=-buildvcs=false, no checkout).
	if _, body := get(t, base+"/livez", "Accept", "application/health+json"); !regexp.MustCompile(`"version":"[^"]+","releaseId":"([0-9a-f]{12}(-dirty)?|\(devel\))","serviceId":"service"`).MatchString(body) {
		t.Errorf("/livez as JSON = %s, want the version, release id and service", body)
	}
	if _, m := get(t, base+"/metrics"); !regexp.MustCompile(`opskit_build_info\{[^}]*service_name="service"[^}]*\} 1`).MatchString(m) {
		t.Errorf("/metrics lacks opskit_build_info{service_name=\"service\",...} 1")
	}
	if code, body := get(t, base+"/healthz?verbose&exclude=downstream&exclude=nosuch"); code != 200 ||
		!strings.Contains(body, "[+]downstream excluded") || !strings.Contains(body, "nosuch") {
		t.Errorf("/healthz with excludes = %d %q", code, body)
	}

	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Draining: readiness fails while liveness passes.
	waitFor(t, "readiness to fail during the drain", func() bool { code, _ := get(t, base+"/readyz"); return code == 503 })
	if code, _ := get(t, base+"/livez"); code != 200 {
		t.Errorf("/livez during drain = %d, want 200", code)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("service exited with %v after SIGTERM, want exit 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("service still running %v after SIGTERM", time.Since(start))
	}

	// Feature counts survive a restart on the same data directory.
	base, _, _ = startService(t, "-demo-traffic=false", "-data", dataDir)
	if uses := featureUses(t, base, "orders.place"); uses != 1 {
		t.Errorf("orders.place has %d uses after a restart, want the 1 from before", uses)
	}
}

// waitFor polls a real process until cond holds; it fails after 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, 20*time.Second, what, cond)
}

func TestServiceRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-drain-delay", "-1s"}, {"-nosuch"}, {"extra"}} {
		if err := run(t.Context(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("run(%q) = nil, want an error", args)
		}
	}
}

func TestDecodeOrderNamesTheProblem(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"item":"book","quantity":2}`, ""},
		{`{"quantity":2}`, `"item" is required`},
		{`{"item":"book","quantity":0}`, `"quantity" is 0`},
		{`{"item":"book","quantity":2,"colour":"red"}`, `unknown field "colour"`},
		{`not json`, "not a valid order"},
		{`{"item":"book","quantity":1}{}`, "more than one"},
	} {
		_, err := decodeOrder(strings.NewReader(tc.body))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("decodeOrder(%s) = %v, want no error", tc.body, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("decodeOrder(%s) = %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if serviceBin.path != "" { // built outside every test's TempDir
		os.RemoveAll(filepath.Dir(serviceBin.path))
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	component.Report("examples/service") // tests skipped for a missing PostgreSQL or promtool
	os.Exit(code)
}
