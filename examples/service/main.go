// Command service is a small order service that wires every opskit package
// into one real HTTP server. Run it from the repository root with
//
//	make run
//
// and open http://127.0.0.1:8080/ for the index of its endpoints. With -demo
// (the default) a traffic generator places orders and walks the simulated
// downstream through up, flaky, down and slow, so budgets burn, breakers
// open and the queue fills and drains while you watch.
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
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/health"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	addr            string
	dataDir         string
	demo            bool
	demoTraffic     bool
	demoStory       string
	drainDelay      time.Duration
	deliveryBound   time.Duration
	queueURL        string
	prometheusRules bool
	operatorToken   string
	allowHosts      []string
	release         release.Info // -version, the rest from the build
	demoConfig                   // -demo-phase, the order path's capacity, -shed (demo.go, overload.go)
	remedyConfig                 // -remedy, -remedy-check (remedy.go)
	downstreamOnly  bool         // serve the demo downstream alone
	downstreamURL   string       // another process's downstream ("" = in-process)
	worker          bool         // run the delivery worker
	instance        string       // this replica's name (-instance, default the host name)
	alertWebhook    string       // POST each alert as JSON here
	alertmanager    string       // Alertmanager's base URL (v2 API)
	fleetURL        string       // the PostgreSQL fleet store ("" = off)
	reportWebhook   string       // POST each weekly report's JSON here
	reportLocation  string       // the time zone whose Monday 00:00 starts a report's week
	evaluateEvery   time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free port)")
	fs.StringVar(&c.dataDir, "data", "opskit-data", "directory for durable state (queue, snapshots, incident log)")
	fs.BoolVar(&c.demo, "demo", true, "mount /demo/downstream (see and set the simulated downstream's mode) and run the demo")
	fs.BoolVar(&c.demoTraffic, "demo-traffic", true, "with -demo, generate the story's orders")
	fs.StringVar(&c.demoStory, "demo-story", storyOutage, "with -demo, the one demo story to run: "+storyNames())
	c.demoConfig.flags(fs)
	c.remedyConfig.flags(fs)
	fs.StringVar(&c.operatorToken, "operator-token", "", "bearer token for the admin routes (dead letters, incidents, /audit); default $OPSKIT_OPERATOR_TOKEN; none: admin routes answer 403")
	fs.Func("allow-host", "a further Host header value to answer to (repeatable); the listen address and localhost are always allowed", func(h string) error {
		if h == "" || strings.ContainsAny(h, "/ ") {
			return fmt.Errorf("want a host or host:port, got %q", h)
		}
		c.allowHosts = append(c.allowHosts, h)
		return nil
	})
	fs.DurationVar(&c.drainDelay, "drain-delay", 2*time.Second, "on SIGTERM, how long readiness fails before the server shuts down")
	fs.DurationVar(&c.deliveryBound, "delivery-bound", 5*time.Minute, "how long an accepted order may take to reach the downstream before it counts against order-fulfilment")
	fs.StringVar(&c.queueURL, "queue-url", "", "postgres://... to keep the order queue in PostgreSQL instead of under -data")
	fs.BoolVar(&c.prometheusRules, "prometheus-rules", false, "print Prometheus rules for the service's objectives and exit")
	fs.BoolVar(&c.downstreamOnly, "downstream-only", false, "serve only the demo downstream on -addr (POST /orders, GET /ping, GET and POST /demo/downstream), for replicas that share it through -downstream-url")
	fs.StringVar(&c.downstreamURL, "downstream-url", "", "http://host:port of a downstream started with -downstream-only, instead of the in-process one; set its mode there (this replica shows it read-only at GET /demo/downstream)")
	fs.BoolVar(&c.worker, "worker", true, "run the worker that delivers queued orders; -worker=false serves and enqueues only (a blue/green shadow on the live -queue-url must not consume it)")
	fs.StringVar(&c.instance, "instance", "", "this replica's name, recorded with its alerts (and its fleet data); default: the host name")
	fs.StringVar(&c.fleetURL, "fleet-url", "", "postgres://... of the fleet store: replicas that name the same database share feature usage, SLO counts and alerting, incidents and the audit trail (the same URL as -queue-url shares its pool); empty: each replica keeps them under -data")
	fs.DurationVar(&c.evaluateEvery, "slo-evaluate-every", 10*time.Second, "how often the objectives' alerts are evaluated; with -fleet-url also how often each replica publishes its counts and the leader renews its lease (a dead leader is replaced within four of these)")
	fs.StringVar(&c.alertWebhook, "alert-webhook", "", "http(s) URL to POST every SLO alert to as JSON")
	fs.StringVar(&c.alertmanager, "alertmanager", "", "http(s) base URL of an Alertmanager to send SLO alerts to (its v2 API)")
	fs.StringVar(&c.reportWebhook, "report-webhook", "", "http(s) URL to POST each weekly ops report to as JSON (report.go)")
	fs.StringVar(&c.reportLocation, "report-location", "UTC", "time zone (IANA name) whose Monday 00:00 starts the weekly report's week")
	fs.StringVar(&c.release.Version, "version", "", "the version the service reports (health JSON, opskit_build_info); default: the build's module version, "+release.Devel+" under go run")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.release = release.FromBuild(c.release)
	if c.operatorToken == "" {
		c.operatorToken = os.Getenv("OPSKIT_OPERATOR_TOKEN")
	}
	if c.operatorToken != "" && len(c.operatorToken) < minTokenLen {
		return c, fmt.Errorf("the operator token is %d characters, want at least %d", len(c.operatorToken), minTokenLen)
	}
	if err := c.demoConfig.validate(c.demoStory); err != nil {
		return c, err
	}
	if err := c.remedyConfig.validate(c.demoStory); err != nil {
		return c, err
	}
	if c.deliveryBound <= 0 {
		return c, fmt.Errorf("-delivery-bound must be positive, got %v", c.deliveryBound)
	}
	if c.evaluateEvery < time.Second {
		return c, fmt.Errorf("-slo-evaluate-every must be at least 1s, got %v", c.evaluateEvery)
	}
	if c.drainDelay < 0 {
		return c, fmt.Errorf("-drain-delay must not be negative, got %v", c.drainDelay)
	}
	if c.downstreamURL != "" {
		u, err := url.Parse(c.downstreamURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return c, fmt.Errorf("-downstream-url %q: want http://host:port of a service started with -downstream-only", c.downstreamURL)
		}
		c.downstreamURL = strings.TrimRight(c.downstreamURL, "/")
	}
	for _, f := range []struct{ name, value string }{{"-alert-webhook", c.alertWebhook}, {"-alertmanager", c.alertmanager}} {
		if u, err := url.Parse(f.value); f.value != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			return c, fmt.Errorf("%s %q: want an http(s) URL", f.name, f.value)
		}
	}
	if err := checkReportWebhook(c.reportWebhook); err != nil {
		return c, err
	}
	if c.instance == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return c, fmt.Errorf("-instance is empty and the host name is unknown (%v): name this replica", err)
		}
		c.instance = host
	}
	if c.fleetURL != "" && !strings.HasPrefix(c.fleetURL, "postgres://") && !strings.HasPrefix(c.fleetURL, "postgresql://") {
		return c, fmt.Errorf("-fleet-url %q: want a postgres:// URL", c.fleetURL)
	}
	if c.downstreamOnly && c.downstreamURL != "" {
		return c, errors.New("-downstream-only serves a downstream, -downstream-url uses another one: give one of them")
	}
	return c, nil
}

// run starts the service and blocks until ctx ends (a signal), then shuts
// down in order: drain and stop the server, stop the worker, close the
// queue, the objectives and the features, flush telemetry.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.prometheusRules {
		return slo.WriteRules(stdout, fulfilmentObjective, latencyObjective)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if cfg.downstreamOnly {
		ln, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			return err
		}
		defer ln.Close()
		return runDownstreamOnly(ctx, ln, cfg.allowHosts, log)
	}
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}

	telemetry, err := newTelemetry()
	if err != nil {
		return err
	}
	defer telemetry.Shutdown(context.Background())
	pools := &pgPools{} // -queue-url and -fleet-url; closed after everything that uses them
	defer pools.Close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	a := &app{cfg: cfg, log: log, telemetry: telemetry, downstream: newDownstream(), baseURL: "http://" + ln.Addr().String()}
	downstreamURL := cfg.downstreamURL
	if downstreamURL == "" {
		var stopDownstream func(context.Context) error
		if downstreamURL, stopDownstream, err = a.downstream.listen(log); err != nil {
			return err
		}
		defer stopDownstream(context.Background())
	} else {
		a.downstream.manual.Store(true) // the demo script cannot drive another process's downstream
	}
	store, err := openFleetStore(ctx, cfg, pools, log) // nil without -fleet-url
	if err != nil {
		return err
	}
	if a.ops, err = newOperators(cfg.dataDir, cfg.operatorToken, cfg.release.ID, store, cfg.instance, telemetry, log, a.countAction); err != nil {
		return err
	}
	defer closeLogged(log, "audit trail", a.ops)

	if a.features, err = newFeatures(cfg, store, a.ops.admin.Sink, telemetry); err != nil {
		return err
	}
	defer closeLogged(log, "features", a.features)
	auto, err := newAutomation(cfg, a.features, a.ops.admin.Sink, telemetry, log) // acts on alerts before they are told (remedy.go)
	if err != nil {
		return err
	}
	defer closeLogged(log, "automation", auto) // after the objectives, whose notifiers call it
	if a.objectives, err = newObjectives(cfg, store, telemetry, log, auto); err != nil {
		return err
	}
	defer closeLogged(log, "objectives", a.objectives)
	auto.attach(a.objectives.mon)
	if err := a.features.trackBulk(a.objectives.mon); err != nil {
		return err
	}
	q, closeQueue, err := openOrderQueue(ctx, cfg, pools, telemetry, log)
	if err != nil {
		return err
	}
	defer closeQueue()
	client, err := newDownstreamClient(telemetry, log)
	if err != nil {
		return err
	}
	defer closeLogged(log, "downstream client", client)
	a.client = client
	a.queue = queueAPI{q: q, ops: a.ops}
	if a.reports, err = newReports(cfg, a, q, store, log); err != nil { // report.go
		return err
	}
	defer closeLogged(log, "weekly reports", a.reports) // before the queue closes: it reads it
	adm, err := newAdmission(cfg.capacityConfig, telemetry)
	if err != nil {
		return err
	}
	defer closeLogged(log, "overload limiter", adm)
	a.orders = &orders{client: client.http, url: downstreamURL + "/orders", queue: q,
		features: a.features, objectives: a.objectives, admission: adm, log: log}
	if a.checks, err = newHealth(cfg.dataDir, downstreamURL+"/ping", q, client, cfg.release, telemetry, log); err != nil {
		return err
	}
	defer a.checks.Close()

	routes, err := adm.protect(a.routes()) // shed excess before any work starts (overload.go)
	if err != nil {
		return err
	}
	srv := newServer(newHostGuard(ln.Addr().String(), cfg.allowHosts).wrap(routes), log)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer srv.Close() // an early return must not leave it serving; a no-op after Shutdown
	if err := a.checks.Start(); err != nil {
		return err
	}
	// What a newcomer needs first: where to look, and where the state is
	// (a second run continues from it; delete the directory to start fresh).
	dataDir, _ := filepath.Abs(cfg.dataDir)
	log.Info("listening on "+a.baseURL+" — open it in a browser for the index of endpoints",
		"data", dataDir, "demo", cfg.demo && cfg.demoTraffic, "delivery_bound", cfg.deliveryBound,
		"operator_token", cfg.operatorToken != "")

	var worker *queue.Worker
	if cfg.worker {
		if n := reaccept(ctx, q, a.objectives.fulfil, log); n > 0 {
			log.Info("queue: orders waiting from before the start, their delivery bound counted from when each was accepted", "orders", n)
		}
		if worker, err = startDelivery(q, a.orders, log); err != nil {
			return err
		}
		if err := registerWorker(a.checks, worker); err != nil {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			worker.Shutdown(stopCtx)
			return err
		}
	} else {
		log.Info("worker off (-worker=false): orders are served and queued here, other replicas deliver them")
	}
	demoCtx, stopDemo := context.WithCancel(context.Background())
	defer stopDemo()
	demoDone := make(chan struct{})
	go func() {
		defer close(demoDone)
		a.runStory(demoCtx) // the -demo-story (demo.go)
	}()

	select {
	case err = <-serveErr:
	case <-ctx.Done():
	}
	stopDemo()
	<-demoDone
	if err == nil {
		// Drain: readiness fails at once (liveness keeps passing) so the
		// load balancer stops sending traffic, then the server shuts down.
		log.Info("draining", "drain_delay", cfg.drainDelay)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.drainDelay+10*time.Second)
		defer cancel()
		if err = a.checks.DrainAndShutdown(shutdownCtx, srv, cfg.drainDelay); err != nil {
			err = fmt.Errorf("shutdown: %w", err)
		}
	}
	// The worker stops before the queue closes: a delivery in progress
	// finishes (or its lease lapses and the order is redelivered later).
	if worker != nil {
		workerCtx, stopWorker := context.WithTimeout(context.Background(), 10*time.Second)
		defer stopWorker()
		if werr := worker.Shutdown(workerCtx); werr != nil && err == nil {
			err = werr
		}
	}
	log.Info("stopped")
	return err
}

// newServer bounds every phase of a request, so a slow or idle client
// cannot hold a connection, a header or a body open for long, and no
// route reads a body larger than maxBody.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           http.MaxBytesHandler(h, maxBody),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// app holds what the handlers share.
type app struct {
	cfg        config
	log        *slog.Logger
	telemetry  *telemetry
	downstream *downstream
	features   *features
	objectives *objectives
	client     *downstreamClient
	queue      queueAPI
	checks     *health.Checker
	orders     *orders
	ops        *operators
	reports    *reports
	baseURL    string
}

// countAction counts an operator's successful requeue as a use of the
// ops.requeue-dead-letter feature.
func (a *app) countAction(ctx context.Context, rec audit.Record) {
	if rec.Action == "queue.requeue" && rec.Result == "ok" {
		a.features.requeueDead.Use(ctx)
	}
}

// serveFleet answers GET /fleet: this replica's name, whether it uses a
// fleet store (-fleet-url) and whether it is the leader — the one replica
// that evaluates the fleet's alerts, notifies and writes its incidents
// (always true without a store).
func (a *app) serveFleet(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, fleetStatus{Instance: a.cfg.instance, Store: a.cfg.fleetURL != "", Leader: a.objectives.mon.Leader()})
}

type fleetStatus struct {
	Instance string `json:"instance"`
	Store    bool   `json:"store"`
	Leader   bool   `json:"leader"`
}

// closeLogged closes c at shutdown; an error is logged, not returned, so
// one component failing to close does not stop the others from closing.
func closeLogged(log *slog.Logger, what string, c io.Closer) {
	if err := c.Close(); err != nil {
		log.Error("close "+what, "err", err)
	}
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.serveIndex)
	mux.Handle("GET /metrics", a.telemetry.handler)
	a.checks.Mount(mux)
	mux.Handle("POST /api/orders", slo.Middleware(http.HandlerFunc(a.orders.serveCreate), a.objectives.latency))
	mux.Handle("GET /slo", a.objectives.mon.Handler())
	mux.HandleFunc("GET /fleet", a.serveFleet)
	mux.Handle("GET /features", a.features.handler())
	mux.Handle("/support", a.features.support(a.ops.admin))          // is tenant X affected? operator token, audited
	mux.Handle("/features/switch", a.features.switches(a.ops.admin)) // kill switch, operator token, audited
	mux.HandleFunc("GET /queue", a.queue.serveStats)
	// Admin routes: same-origin, the operator token, one audit record each.
	dead := a.queue.deadLetters()
	mux.Handle("/queue/dead", dead)
	mux.Handle("/queue/dead/", dead)
	mux.Handle("GET /audit", a.ops.handler())
	mux.Handle("GET /report", a.reports.w.Handler(a.ops.admin)) // the weekly ops report, operator token, audited
	mux.Handle("POST /slo/incident", a.objectives.mon.IncidentHandler(a.ops.admin))
	switch {
	case a.cfg.demo && a.cfg.downstreamURL == "":
		mux.HandleFunc("GET /demo/downstream", a.downstream.serveStatus)
		mux.HandleFunc("POST /demo/downstream", a.serveSetMode)
	case a.cfg.demo:
		mux.Handle("GET /demo/downstream", remoteStatus(a.cfg.downstreamURL+"/demo/downstream"))
	}
	return mux
}

// Make sure both queue backends satisfy what the service uses.
var _ queue.Backend = (*queue.Queue)(nil)
