// Package loadtest is a closed-loop HTTP load generator: a fixed number of
// connections, each sending its next request as soon as the previous answer
// arrives, for a fixed duration after a warm-up that is not counted. It
// reports what Locust-style tools report: requests per second and latency
// min, p50, p90, p99 and max.
package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config describes one run. Zero fields take the documented defaults.
type Config struct {
	URL         string        // required: the address to load, on loopback
	Method      string        // default GET
	Body        []byte        // sent with every request when set
	Header      http.Header   // added to every request
	Connections int           // default 8
	Duration    time.Duration // measured part, default 5s
	Warmup      time.Duration // not counted, default 1s
}

// Result is what one run measured after the warm-up.
type Result struct {
	Requests                int           // answered with a 2xx
	Errors                  int           // transport errors and non-2xx answers
	Elapsed                 time.Duration // the measured part
	Min, P50, P90, P99, Max time.Duration

	latencies []time.Duration // of the successful requests, sorted, for Merge
}

// RPS is successful requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Run loads cfg.URL until the warm-up and duration have passed or ctx ends.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.URL == "" {
		return Result{}, errors.New("loadtest: Config.URL is required")
	}
	if cfg.Connections < 0 || cfg.Duration < 0 || cfg.Warmup < 0 {
		return Result{}, fmt.Errorf("loadtest: negative setting in %+v", cfg)
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Connections == 0 {
		cfg.Connections = 8
	}
	if cfg.Duration == 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = time.Second
	}

	start := time.Now()
	measureFrom, stopAt := start.Add(cfg.Warmup), start.Add(cfg.Warmup+cfg.Duration)
	ctx, cancel := context.WithDeadline(ctx, stopAt)
	defer cancel()

	type tally struct {
		lat    []time.Duration
		errors int
	}
	tallies := make([]tally, cfg.Connections)
	var wg sync.WaitGroup
	for i := range tallies {
		// One transport per worker, one idle connection each: the number of
		// connections is exactly cfg.Connections.
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
		t := &tallies[i]
		t.lat = make([]time.Duration, 0, 1<<16)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer client.CloseIdleConnections()
			for ctx.Err() == nil {
				sent := time.Now()
				ok := send(ctx, client, cfg)
				done := time.Now()
				if sent.Before(measureFrom) || done.After(stopAt) {
					continue // warm-up, or cut off by the end of the run
				}
				if ok {
					t.lat = append(t.lat, done.Sub(sent))
				} else if ctx.Err() == nil {
					t.errors++
				}
			}
		}()
	}
	wg.Wait()

	var all []time.Duration
	errs := 0
	for _, t := range tallies {
		all = append(all, t.lat...)
		errs += t.errors
	}
	res := summarize(all, errs, cfg.Duration)
	if res.Requests == 0 {
		return res, fmt.Errorf("loadtest: no successful request to %s in %v (%d errors)", cfg.URL, cfg.Duration, res.Errors)
	}
	return res, nil
}

// Merge pools runs of the same server, such as the rounds of an
// alternating comparison: counts and durations add up, and the
// percentiles are those of every request of every run together. One run
// is returned as it is.
func Merge(runs ...Result) Result {
	if len(runs) == 1 {
		return runs[0]
	}
	var all []time.Duration
	var errs int
	var elapsed time.Duration
	for _, r := range runs {
		all = append(all, r.latencies...)
		errs += r.Errors
		elapsed += r.Elapsed
	}
	return summarize(all, errs, elapsed)
}

// summarize sorts lat and computes the Result.
func summarize(lat []time.Duration, errs int, elapsed time.Duration) Result {
	res := Result{Requests: len(lat), Errors: errs, Elapsed: elapsed, latencies: lat}
	if len(lat) == 0 {
		return res
	}
	slices.Sort(lat)
	res.Min, res.Max = lat[0], lat[len(lat)-1]
	res.P50, res.P90, res.P99 = percentile(lat, 50), percentile(lat, 90), percentile(lat, 99)
	return res
}

// percentile of sorted values, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted))+0.5) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

func send(ctx context.Context, client *http.Client, cfg Config) bool {
	var body io.Reader
	if cfg.Body != nil {
		body = bytes.NewReader(cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL, body)
	if err != nil {
		return false
	}
	for k, v := range cfg.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
