// Command loadtest measures what the whole opskit kit costs an HTTP service
// under load. It serves the order service of package e2e twice on loopback,
// bare and with the kit, and loads each with the same closed-loop generator
// (fixed connections, fixed duration, warm-up not counted) in alternating
// rounds, bare then opskit, so that both share the machine's noise. During
// the opskit rounds a scraper fetches /metrics, /livez and /readyz every
// second, as Prometheus and Kubernetes would.
//
// It prints a Markdown section: requests per second and latency min, p50,
// p90, p99 and max for both servers (every round pooled), the ratios
// opskit/bare, and the goals. With -append FILE it also appends the section
// to FILE (make loadtest uses benchmarks/RESULTS.md, after the benchmark
// table that make bench rewrites).
//
//	go run ./cmd/loadtest -connections 8 -duration 10s -rounds 3 -append RESULTS.md
//
// It exits with status 1 if any request or scrape failed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/opskit/opskit/benchmarks/e2e"
	"github.com/opskit/opskit/benchmarks/loadtest"
)

type config struct {
	connections int
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	scrape      time.Duration
	downstream  string
	attempt     time.Duration
	appendTo    string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadtest:", err)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.connections, "connections", 8, "concurrent connections, each sending its next request when the previous one is answered")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time of each round, per server")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "warm-up before each round's measured time, not counted")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each loads bare, then opskit")
	fs.DurationVar(&c.scrape, "scrape", time.Second, "how often /metrics, /livez and /readyz are fetched during opskit rounds")
	fs.StringVar(&c.downstream, "downstream", "loopback", `the service's downstream: "loopback" (an HTTP server on 127.0.0.1) or "memory" (no socket)`)
	fs.DurationVar(&c.attempt, "attempt-timeout", 0, "the opskit retry Transport's per-attempt timeout; 0 means 400ms as examples/service, negative (-1ns) none")
	fs.StringVar(&c.appendTo, "append", "", "append the Markdown section to this file (default: print only)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.connections < 1:
		return c, fmt.Errorf("-connections must be at least 1, got %d", c.connections)
	case c.duration <= 0 || c.warmup <= 0 || c.scrape <= 0:
		return c, fmt.Errorf("-duration, -warmup and -scrape must be positive, got %v, %v, %v", c.duration, c.warmup, c.scrape)
	case c.rounds < 1:
		return c, fmt.Errorf("-rounds must be at least 1, got %d", c.rounds)
	case c.downstream != "loopback" && c.downstream != "memory":
		return c, fmt.Errorf(`-downstream must be "loopback" or "memory", got %q`, c.downstream)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	m, err := measure(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	var section bytes.Buffer
	m.write(&section, cfg, time.Now())
	stdout.Write(section.Bytes())
	if cfg.appendTo != "" {
		if err := appendSection(cfg.appendTo, section.Bytes()); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "appended to", cfg.appendTo)
	}
	return m.failure()
}

// measurement is what the rounds measured, per server.
type measurement struct {
	bare, opskit []loadtest.Result
	scrapes      int
	scrapeErr    error
}

func measure(ctx context.Context, cfg config, progress io.Writer) (*measurement, error) {
	var d *e2e.Downstream
	if cfg.downstream == "memory" {
		d = e2e.NewMemoryDownstream()
	} else {
		var err error
		if d, err = e2e.NewLoopbackDownstream(); err != nil {
			return nil, err
		}
	}
	defer d.Close()
	kit, err := e2e.NewOpskit(d, e2e.Config{AttemptTimeout: cfg.attempt})
	if err != nil {
		return nil, err
	}
	defer kit.Close()
	bareSrv, err := e2e.Serve(e2e.NewBare(d))
	if err != nil {
		return nil, err
	}
	defer bareSrv.Close()
	kitSrv, err := e2e.Serve(kit.Handler)
	if err != nil {
		return nil, err
	}
	defer kitSrv.Close()
	scrapeClient := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer scrapeClient.CloseIdleConnections()

	load := func(url string) (loadtest.Result, error) {
		return loadtest.Run(ctx, loadtest.Config{
			URL: url + e2e.OrderPath, Method: http.MethodPost, Body: e2e.OrderBody,
			Header:      http.Header{"Content-Type": {"application/json"}, e2e.TenantHeader: {"tenant-1"}},
			Connections: cfg.connections, Duration: cfg.duration, Warmup: cfg.warmup,
		})
	}
	m := &measurement{}
	for round := 1; round <= cfg.rounds; round++ {
		res, err := load(bareSrv.URL)
		if err != nil {
			return nil, fmt.Errorf("round %d, bare: %w", round, err)
		}
		m.bare = append(m.bare, res)
		fmt.Fprintf(progress, "round %d/%d bare:   %8.0f req/s, p99 %v, %d errors\n", round, cfg.rounds, res.RPS(), res.P99, res.Errors)

		scraper := e2e.StartScraper(e2e.FetchHTTP(scrapeClient, kitSrv.URL), cfg.scrape)
		res, err = load(kitSrv.URL)
		n, serr := scraper.Close()
		m.scrapes += n
		if serr != nil && m.scrapeErr == nil {
			m.scrapeErr = serr
		}
		if err != nil {
			return nil, fmt.Errorf("round %d, opskit: %w", round, err)
		}
		m.opskit = append(m.opskit, res)
		fmt.Fprintf(progress, "round %d/%d opskit: %8.0f req/s, p99 %v, %d errors\n", round, cfg.rounds, res.RPS(), res.P99, res.Errors)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return m, nil
}

// failure reports failed requests or scrapes: then the figures do not
// compare like with like.
func (m *measurement) failure() error {
	bare, kit := loadtest.Merge(m.bare...), loadtest.Merge(m.opskit...)
	if bare.Errors > 0 || kit.Errors > 0 {
		return fmt.Errorf("failed requests: bare %d, opskit %d", bare.Errors, kit.Errors)
	}
	if m.scrapeErr != nil {
		return m.scrapeErr
	}
	return nil
}

// write writes the Markdown section: machine and settings, the table, the
// rounds and the goals.
func (m *measurement) write(w io.Writer, cfg config, when time.Time) {
	bare, kit := loadtest.Merge(m.bare...), loadtest.Merge(m.opskit...)
	fmt.Fprintf(w, "## Load test, %s\n\n", when.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "%s on %s/%s%s, %d CPUs (GOMAXPROCS %d). **The load generator, both servers and the downstream "+
		"run in one process on loopback and share these CPUs**, so absolute figures are modest; the ratios are what count.\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	downstream := "an HTTP server on 127.0.0.1 answering at once"
	if cfg.downstream == "memory" {
		downstream = "in memory, no socket, answering at once"
	}
	scrapes := fmt.Sprintf("%d times, every answer as expected", m.scrapes)
	if m.scrapeErr != nil {
		scrapes = "FAILED: " + m.scrapeErr.Error()
	}
	fmt.Fprintf(w, "Settings: closed loop, %d connections; %s, each bare then opskit, %v measured after %v of warm-up "+
		"(not counted); every request `POST %s` with a %d-byte JSON order and an %s header; downstream: %s. "+
		"The opskit retry Transport %s. During opskit rounds /metrics, /livez and /readyz are fetched every %v (%s). Latencies pooled over the rounds. "+
		"Command: `go run ./cmd/loadtest %s`.\n\n",
		cfg.connections, plural(cfg.rounds, "round"), cfg.duration, cfg.warmup, e2e.OrderPath, len(e2e.OrderBody), e2e.TenantHeader,
		downstream, attemptNote(cfg.attempt), cfg.scrape, scrapes, flagsOf(cfg))
	loadtest.WriteTable(w, []loadtest.Row{{Name: "bare", Result: bare}, {Name: "opskit", Result: kit}})
	fmt.Fprintf(w, "\nreq/s per round: bare %s; opskit %s; opskit/bare %s (the spread is the machine's noise).\n\n",
		rpsList(m.bare), rpsList(m.opskit), ratioList(m.opskit, m.bare))
	tput, p99 := kit.RPS()/bare.RPS(), float64(kit.P99)/float64(bare.P99)
	fmt.Fprintf(w, "Goals: throughput opskit/bare %.3f (goal ≥ 0.95: %s); p99 opskit/bare %.3f (goal ≤ 1.10: %s).\n",
		tput, verdict(tput >= 0.95), p99, verdict(p99 <= 1.10))
}

func flagsOf(cfg config) string {
	s := fmt.Sprintf("-connections %d -duration %v -warmup %v -rounds %d -scrape %v -downstream %s",
		cfg.connections, cfg.duration, cfg.warmup, cfg.rounds, cfg.scrape, cfg.downstream)
	if cfg.attempt != 0 {
		s += fmt.Sprintf(" -attempt-timeout %v", cfg.attempt)
	}
	return s
}

func rpsList(rs []loadtest.Result) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = fmt.Sprintf("%.0f", r.RPS())
	}
	return strings.Join(s, ", ")
}

func ratioList(a, b []loadtest.Result) string {
	s := make([]string, len(a))
	for i := range a {
		s[i] = fmt.Sprintf("%.3f", a[i].RPS()/b[i].RPS())
	}
	return strings.Join(s, ", ")
}

func attemptNote(d time.Duration) string {
	switch {
	case d == 0:
		return "gives each attempt a 400ms timeout, as examples/service does"
	case d < 0:
		return "has no per-attempt timeout"
	}
	return fmt.Sprintf("gives each attempt a %v timeout", d)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}

// cpuModel is ", <model name>" from /proc/cpuinfo, or "" where there is none.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return ", " + strings.TrimSpace(value)
		}
	}
	return ""
}

// appendSection appends section to the end of the file, after a blank line.
// make bench rewrites only what lies between its markers, so a section
// appended after <!-- bench:end --> is kept.
func appendSection(path string, section []byte) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	sep := "\n"
	if len(old) > 0 && !bytes.HasSuffix(old, []byte("\n")) {
		sep = "\n\n"
	}
	if len(old) == 0 {
		sep = ""
	}
	_, err = f.Write(append([]byte(sep), section...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
