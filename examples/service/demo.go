package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
)

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
			body := fmt.Sprintf(`{"item": %q, "quantity": %d}`, demoItems[rand.IntN(len(demoItems))], 1+rand.IntN(5))
			tenant := fmt.Sprintf("tenant-%02d", rand.IntN(12))
			post(ctx, client, baseURL+"/api/orders", tenant, []byte(body))
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

func post(ctx context.Context, client *http.Client, url, tenant string, body []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return
	}
	if tenant != "" {
		req.Header.Set("X-Tenant", tenant)
	}
	resp, err := client.Do(req)
	if err != nil {
		return // demo traffic: failures show up in the service's own telemetry
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
