package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A story is one thing the demo shows, picked by name with -demo-story and
// run alone, so that one story does not confound another: setup runs with
// -demo, traffic (the demo's own orders) with -demo-traffic too, until the
// service stops.
type story struct {
	name, what string
	watch      string // the page to watch first, linked from the index
	setup      func(a *app)
	traffic    func(ctx context.Context, a *app)
}

// The stories beyond outage and failing-feature (declared with the
// feature wiring).
const (
	storyOverload  = "overload"  // open-loop orders at three times the capacity, in bursts
	storyCandidate = "candidate" // part of the orders run as a candidate release with more errors
)

// demoStories lists every story, the default first.
var demoStories = []story{
	{name: storyOutage, what: "the downstream walks through flaky, down, up and slow; breakers open, the queue fills and drains",
		watch:   "/queue",
		traffic: func(ctx context.Context, a *app) { runDemo(ctx, a.baseURL, a.downstream, a.log) }},
	{name: storyFailing, what: "the downstream stays up; bulk orders fail for four tenants",
		setup: func(a *app) {
			a.features.bulkBroken.Store(true)
			a.downstream.manual.Store(true) // the outage script stays off
		},
		watch:   "/features",
		traffic: func(ctx context.Context, a *app) { runDemo(ctx, a.baseURL, a.downstream, a.log) }},
	{name: storyOverload, what: "orders arrive at half the capacity, then three times it, in turns of -demo-phase; the limiter sheds the excess",
		watch:   "/metrics",
		setup:   func(a *app) { a.downstream.manual.Store(true) },
		traffic: runOverload},
	{name: storyCandidate, what: "half of the orders run as a candidate release that fails 4% of them, for one -demo-phase; /slo gives its verdict against the baseline",
		watch:   "/slo?objective=" + fulfilmentObjective.Name + "&candidate=" + candidateID,
		setup:   func(a *app) { a.downstream.manual.Store(true) },
		traffic: runCandidate},
	{name: storySelfHealing, what: "bulk pricing goes down for everyone: the page switches orders.bulk off (-remedy), a fifth of bulk orders keep trying, and once they succeed it is switched back on",
		watch:   "/features",
		setup:   func(a *app) { a.downstream.manual.Store(true) },
		traffic: selfHealing},
}

// findStory returns the story called name, or an error listing them all.
func findStory(name string) (story, error) {
	for _, s := range demoStories {
		if s.name == name {
			return s, nil
		}
	}
	return story{}, fmt.Errorf("-demo-story %q: want one of %s", name, storyNames())
}

func storyNames() string {
	names := make([]string, len(demoStories))
	for i, s := range demoStories {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

// demoConfig is the command line of the stories' pace and the order
// path's capacity (-demo, -demo-traffic and -demo-story are in main.go).
type demoConfig struct {
	demoPhase time.Duration
	capacityConfig
}

func (c *demoConfig) flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.demoPhase, "demo-phase", time.Minute, "how long each phase of the overload and candidate stories lasts")
	c.capacityConfig.flags(fs)
}

// validate checks the flags, and that story names one of demoStories.
func (c *demoConfig) validate(story string) error {
	if _, err := findStory(story); err != nil {
		return err
	}
	if c.demoPhase <= 0 {
		return fmt.Errorf("-demo-phase %v: want a positive duration", c.demoPhase)
	}
	return c.capacityConfig.validate()
}

// runStory runs the configured story until ctx ends.
func (a *app) runStory(ctx context.Context) {
	if !a.cfg.demo {
		return
	}
	s, _ := findStory(a.cfg.demoStory) // checked by parseFlags
	if s.setup != nil {
		s.setup(a)
	}
	if a.cfg.demoTraffic && s.traffic != nil {
		a.log.Info("demo: story "+s.name, "what", s.what)
		s.traffic(ctx, a)
	}
}

// demoScript is the downstream's story in demo mode: healthy, wobbly, an
// outage long enough to burn budget and open breakers, then recovery.
var demoScript = []struct {
	mode string
	for_ time.Duration
}{
	{"up", 60 * time.Second},
	{"flaky", 30 * time.Second},
	{"down", 90 * time.Second},
	{"up", 60 * time.Second},
	{"slow", 20 * time.Second},
}

var demoItems = []string{"book", "pen", "lamp", "desk", "chair"}

// runDemo places orders from a handful of tenants about ten times a second
// and walks the downstream through demoScript, until ctx is done. Once a
// person sets the downstream's mode over HTTP, the script stops and the
// traffic goes on, so they can take it down and bring it back themselves.
func runDemo(ctx context.Context, baseURL string, d *downstream, log *slog.Logger) {
	client := &http.Client{Timeout: 10 * time.Second}
	step, stepEnds := -1, time.Time{}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if now.After(stepEnds) && !d.manual.Load() {
				step = (step + 1) % len(demoScript)
				stepEnds = now.Add(demoScript[step].for_)
				d.SetMode(demoScript[step].mode)
				log.Info("demo: downstream mode", "mode", demoScript[step].mode, "for", demoScript[step].for_)
			}
			tenant, body := demoOrder()
			post(ctx, client, baseURL+"/api/orders", tenant, body)
		}
	}
}

// serveSetMode answers POST /demo/downstream?mode=up|down|slow|flaky. It
// needs no token, being the newcomer's story, but it refuses cross-site
// requests and leaves an audit record like any operator action.
func (a *app) serveSetMode(w http.ResponseWriter, r *http.Request) {
	const action = "demo.downstream-mode"
	actor, ok := a.ops.demo.Allow(w, r, action)
	if !ok {
		return
	}
	mode, from := r.URL.Query().Get("mode"), a.downstream.Mode()
	if err := a.downstream.SetMode(mode); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.downstream.manual.Store(true)
	a.ops.record(a.ops.demo, r, actor, action, "downstream", nil, from+" -> "+mode)
	a.log.Info("demo: downstream mode set by hand", "from", from, "to", mode, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, a.downstream.status())
}

// demoOrder is a random order from one of the demo's twelve tenants.
func demoOrder() (tenant string, body []byte) {
	body = fmt.Appendf(nil, `{"item": %q, "quantity": %d}`, demoItems[rand.IntN(len(demoItems))], 1+rand.IntN(5))
	return fmt.Sprintf("tenant-%02d", rand.IntN(12)), body
}

// post sends one order and returns the answer's status code, 0 when none
// came.
func post(ctx context.Context, client *http.Client, url, tenant string, body []byte) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	if tenant != "" {
		req.Header.Set("X-Tenant", tenant)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0 // demo traffic: failures show up in the service's own telemetry
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// runOverload offers orders open-loop, as customers arrive whether or not
// the service keeps up: at half the order path's capacity, then at three
// times it, in turns of -demo-phase, until ctx ends. Each phase ends with
// a log line counting what its orders were answered.
func runOverload(ctx context.Context, a *app) {
	capacity := a.orders.admission.work.Capacity()
	client := newDemoClient()
	defer client.CloseIdleConnections()
	for phase := 0; ctx.Err() == nil; phase++ {
		name, load := "calm", 0.5
		if phase%2 == 1 {
			name, load = "overload", 3.0
		}
		a.log.Info("demo: overload story: "+name+" phase", "offered_per_second", load*capacity,
			"capacity_per_second", capacity, "for", a.cfg.demoPhase)
		var n answers
		n.notSent = offer(ctx, load*capacity, a.cfg.demoPhase, func() {
			tenant, body := demoOrder()
			n.count(post(ctx, client, a.baseURL+"/api/orders", tenant, body))
		})
		a.log.Info("demo: overload story: "+name+" phase done", "admitted", n.admitted, "shed", n.shed,
			"failed", n.failed, "not_sent", n.notSent)
	}
}

// newDemoClient is the client of the open-loop stories: it keeps enough
// connections open for hundreds of orders a second.
func newDemoClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

// answers counts a phase's orders by their answer.
type answers struct {
	mu                     sync.Mutex // guards admitted, shed and failed
	admitted, shed, failed int
	notSent                int // arrivals offer dropped at maxDemoInFlight
}

func (n *answers) count(code int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case code >= 200 && code < 300:
		n.admitted++
	case code == http.StatusServiceUnavailable:
		n.shed++
	default:
		n.failed++
	}
}

// maxDemoInFlight bounds the open-loop generator: past it an arrival is
// not sent (counted as not sent) rather than piling up goroutines.
const maxDemoInFlight = 512

// offer calls send rate times a second, each in a goroutine of its own
// (open loop), for d or until ctx ends, and waits for the calls it made.
// It returns how many arrivals it dropped at maxDemoInFlight.
func offer(ctx context.Context, rate float64, d time.Duration, send func()) (dropped int) {
	var wg sync.WaitGroup
	defer wg.Wait()
	inFlight := make(chan struct{}, maxDemoInFlight)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	end, last, due := start.Add(d), start, 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if !now.Before(end) {
				return
			}
			due += rate * now.Sub(last).Seconds()
			last = now
			for ; due >= 1; due-- {
				select {
				case inFlight <- struct{}{}:
					wg.Go(func() {
						defer func() { <-inFlight }()
						send()
					})
				default:
					dropped++
				}
			}
		}
	}
}
