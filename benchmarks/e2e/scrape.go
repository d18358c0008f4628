package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Fetch GETs path from a server and returns the status and body.
type Fetch func(ctx context.Context, path string) (status int, body []byte, err error)

// FetchHTTP fetches over HTTP from baseURL with client.
func FetchHTTP(client *http.Client, baseURL string) Fetch {
	return func(ctx context.Context, path string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+path, nil)
		if err != nil {
			return 0, nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, body, err
	}
}

// FetchHandler calls h directly, without a socket.
func FetchHandler(h http.Handler) Fetch {
	return func(ctx context.Context, path string) (int, []byte, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil))
		return rec.Code, rec.Body.Bytes(), nil
	}
}

// Scraper plays the platform around the service: every interval it scrapes
// /metrics as Prometheus would and probes /livez and /readyz as Kubernetes
// would, and checks every answer.
type Scraper struct {
	fetch    Fetch
	interval time.Duration
	cancel   context.CancelFunc
	done     chan struct{}

	mu     sync.Mutex // guards rounds and err
	rounds int
	err    error
}

// StartScraper scrapes once at once, then every interval, until Close.
func StartScraper(fetch Fetch, interval time.Duration) *Scraper {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scraper{fetch: fetch, interval: interval, cancel: cancel, done: make(chan struct{})}
	go s.loop(ctx)
	return s
}

func (s *Scraper) loop(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		err := s.scrape(ctx)
		if ctx.Err() != nil {
			return // a scrape cut short by Close is not a failure
		}
		s.mu.Lock()
		s.rounds++
		if err != nil && s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// scrape fetches the three endpoints once.
func (s *Scraper) scrape(ctx context.Context) error {
	for _, path := range []string{"/metrics", "/livez", "/readyz"} {
		status, body, err := s.fetch(ctx, path)
		if err != nil {
			return fmt.Errorf("e2e: scrape %s: %w", path, err)
		}
		if status != http.StatusOK {
			return fmt.Errorf("e2e: scrape %s: status %d: %.200s", path, status, body)
		}
		if path == "/metrics" && !bytes.Contains(body, []byte("opskit_")) {
			return errors.New("e2e: scrape /metrics: no opskit_ series")
		}
	}
	return nil
}

// Close stops the scraper, waits for it, and returns how many complete
// rounds of the three fetches it made and the first failure, if any.
func (s *Scraper) Close() (rounds int, err error) {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rounds, s.err
}
