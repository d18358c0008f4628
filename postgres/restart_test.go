package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opskit/opskit/internal/component"
	"github.com/opskit/opskit/postgres"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/retry"
)

// cluster is a throwaway PostgreSQL server of the test's own, so that
// restarting it disturbs nobody else's tests.
type cluster struct {
	bin, dir string
	url      string
}

// startCluster initialises and starts a cluster on a free loopback port,
// stopped and removed when the test ends. It skips the test when the
// PostgreSQL server binaries are not installed (fails under
// OPSKIT_REQUIRE_COMPONENTS=1).
func startCluster(t *testing.T) *cluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		component.Missing(t, "PostgreSQL server", "no binaries under /usr/lib/postgresql; apt-get install postgresql")
	}
	sort.Strings(bins)
	c := &cluster{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "opskit-pg-restart-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() {
		c.run(t, "pg_ctl", "-D", c.data(), "-m", "immediate", "stop")
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 { // initdb refuses root: run the server as postgres
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown postgres %s: %v %s", dir, err, out)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if out, err := c.run(t, "initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, dir)
	if out, err := c.run(t, "pg_ctl", "-D", c.data(), "-l", filepath.Join(dir, "log"), "-w", "-o", opts, "start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	c.url = "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable"
	return c
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

// run runs a server binary, as the postgres user when the test is root.
func (c *cluster) run(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, name)}, args...)...)
	}
	return cmd.CombinedOutput()
}

// restart is `pg_ctl restart -m fast`: every connection is cut.
func (c *cluster) restart(t *testing.T) {
	t.Helper()
	if out, err := c.run(t, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-m", "fast", "-w", "restart"); err != nil {
		t.Fatalf("pg_ctl restart: %v\n%s", err, out)
	}
}

// logCount counts log records whose message starts with a prefix.
type logCount struct {
	mu     sync.Mutex
	prefix string
	n      int
}

func (h *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCount) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCount) WithGroup(string) slog.Handler            { return h }
func (h *logCount) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
	}
	return nil
}

func (h *logCount) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// A Worker on a PostgreSQL queue keeps consuming through a real server
// restart: its failed calls back off and retry, and every message
// enqueued before and after the restart is handled; Check is healthy once
// the database is back.
func TestWorkerSurvivesServerRestart(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, c.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := postgres.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	q, err := postgres.OpenQueue(ctx, pool, postgres.WithPollInterval(50*time.Millisecond), postgres.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })

	handled := make(chan string, 64)
	failures := &logCount{prefix: "queue: worker call failed"}
	w, err := queue.StartWorker(q, func(_ context.Context, m *queue.Message) error {
		handled <- string(m.Payload)
		return nil
	}, queue.WorkerConfig{Concurrency: 2, Logger: slog.New(failures),
		Backoff: retry.Policy{BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Shutdown(ctx) })

	enqueue := func(p string) {
		t.Helper()
		var err error
		for range 50 { // the first calls after a restart may meet a cut connection
			if _, err = q.Enqueue(ctx, []byte(p)); err == nil {
				return
			}
		}
		t.Fatalf("Enqueue(%s) after the restart: %v", p, err)
	}
	await := func(want []string) {
		t.Helper()
		got := map[string]bool{}
		deadline := time.After(60 * time.Second) // a bound for a broken build, not a wait for time to pass
		for len(got) < len(want) {
			select {
			case p := <-handled:
				got[p] = true
			case <-deadline:
				t.Fatalf("handled %v of %v; worker check: %v", got, want, w.Check(ctx))
			}
		}
		for _, p := range want {
			if !got[p] {
				t.Fatalf("handled %v, want %v", got, want)
			}
		}
	}

	before := []string{"before-0", "before-1", "before-2"}
	for _, p := range before {
		enqueue(p)
	}
	await(before)
	c.restart(t)
	after := []string{"after-0", "after-1", "after-2"}
	for _, p := range after {
		enqueue(p)
	}
	await(after)
	if failures.count() == 0 {
		t.Error("the worker logged no failed call: the restart did not reach it, so this test proved nothing")
	}
	if err := w.Check(ctx); err != nil {
		t.Errorf("Check after the database came back = %v, want nil", err)
	}
	if err := w.Shutdown(ctx); err != nil { // lets the last Acks finish
		t.Fatal(err)
	}
	s, err := q.Stats(ctx)
	if err != nil || s.Depth != 0 || s.Dead != 0 {
		t.Errorf("Stats = %+v, %v; want everything acked", s, err)
	}
}
