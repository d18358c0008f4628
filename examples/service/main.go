// Command service is a small order service that wires every opskit package
// into one real HTTP server. Run it from the repository root:
//
//	go run ./examples/service
//
// and open http://127.0.0.1:8080/ for the index of its endpoints. With -demo
// (the default) a traffic generator places orders and moves the simulated
// downstream between up, flaky, slow and down, so budgets burn, breakers open
// and the queue fills and drains while you watch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/opskit/opskit/health"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	addr       string
	dataDir    string
	demo       bool
	drainDelay time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	fs.StringVar(&c.dataDir, "data", "opskit-data", "directory for durable state (queue, snapshots, incident log)")
	fs.BoolVar(&c.demo, "demo", true, "generate demo traffic and move the downstream between modes")
	fs.DurationVar(&c.drainDelay, "drain-delay", 2*time.Second, "on SIGTERM, how long readiness fails before the server shuts down")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.drainDelay < 0 {
		return c, fmt.Errorf("-drain-delay must not be negative, got %v", c.drainDelay)
	}
	return c, nil
}

// run starts the service and blocks until ctx is cancelled (a signal), then
// shuts down in order: drain, stop the server, stop the workers.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	telemetry, err := newTelemetry()
	if err != nil {
		return err
	}
	defer telemetry.Shutdown(context.Background())

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	baseURL := "http://" + ln.Addr().String()

	features, err := newFeatures(cfg.dataDir, telemetry)
	if err != nil {
		return err
	}
	defer closeLogged(log, "features", features)

	checks, err := newHealth(cfg.dataDir, baseURL+"/demo/downstream/ping", telemetry, log)
	if err != nil {
		return err
	}
	defer checks.Close()

	a := &app{
		cfg:        cfg,
		log:        log,
		telemetry:  telemetry,
		downstream: newDownstream(),
		features:   features,
		checks:     checks,
		baseURL:    baseURL,
	}
	a.orders = newOrders(a.downstreamClient(), baseURL+"/demo/downstream/orders", features, log)

	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	if err := checks.Start(); err != nil {
		return err
	}
	log.Info("listening on " + baseURL)

	workers, cancelWorkers := context.WithCancel(context.Background())
	defer cancelWorkers()
	var demoDone chan struct{}
	if cfg.demo {
		demoDone = make(chan struct{})
		go func() { defer close(demoDone); runDemo(workers, baseURL, log) }()
	}

	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	// Drain: readiness fails at once (liveness keeps passing) so the load
	// balancer stops sending traffic, then the server shuts down.
	log.Info("draining", "drain_delay", cfg.drainDelay)
	cancelWorkers()
	if demoDone != nil {
		<-demoDone
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.drainDelay+10*time.Second)
	defer cancel()
	if err := checks.DrainAndShutdown(shutdownCtx, srv, cfg.drainDelay); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// app holds what the handlers share.
type app struct {
	cfg        config
	log        *slog.Logger
	telemetry  *telemetry
	downstream *downstream
	features   *features
	checks     *health.Checker
	orders     *orders
	baseURL    string
}

// closeLogged closes c at shutdown; an error is logged, not returned, so
// one component failing to close does not stop the others from closing.
func closeLogged(log *slog.Logger, what string, c io.Closer) {
	if err := c.Close(); err != nil {
		log.Error("close "+what, "err", err)
	}
}

// downstreamClient is the HTTP client the service uses to reach the
// downstream.
func (a *app) downstreamClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second}
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.serveIndex)
	mux.Handle("GET /metrics", a.telemetry.handler)
	mux.HandleFunc("POST /api/orders", a.orders.serveCreate)
	mux.Handle("GET /features", a.features.handler())
	a.checks.Mount(mux)
	mux.HandleFunc("GET /demo/downstream", a.downstream.serveStatus)
	mux.HandleFunc("GET /demo/downstream/ping", a.downstream.servePing)
	mux.HandleFunc("POST /demo/downstream", a.downstream.serveSetMode)
	mux.HandleFunc("POST /demo/downstream/orders", a.downstream.serveOrder)
	return mux
}
