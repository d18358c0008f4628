package benchmarks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	alex "github.com/alexliesenfeld/health"
	"github.com/heptiolabs/healthcheck"

	"github.com/opskit/opskit/health"
)

// readyzChecks is how many background checks each readiness probe serves.
const readyzChecks = 10

// BenchmarkReadyz serves a readiness probe of 10 background checks that all
// pass, each library answering from its cached results: opskit from its
// snapshot, alexliesenfeld/health with periodic checks, heptiolabs with
// Async checks. One request is reused; each iteration gets a new recorder.
func BenchmarkReadyz(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
	b.Run("opskit", func(b *testing.B) {
		c, err := health.New(health.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for i := range readyzChecks {
			c.MustRegister(health.Check{Name: fmt.Sprintf("check-%d", i), Interval: time.Minute,
				Func: func(context.Context) error { return nil }})
		}
		_ = c.Start()
		benchReadyz(b, c.Handler(health.Readiness), req)
	})
	b.Run("health", func(b *testing.B) {
		opts := []alex.CheckerOption{}
		for i := range readyzChecks {
			opts = append(opts, alex.WithPeriodicCheck(time.Minute, 0, alex.Check{Name: fmt.Sprintf("check-%d", i),
				Check: func(context.Context) error { return nil }}))
		}
		checker := alex.NewChecker(opts...)
		defer checker.Stop()
		benchReadyz(b, alex.NewHandler(checker), req)
	})
	b.Run("healthcheck", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := healthcheck.NewHandler()
		for i := range readyzChecks {
			h.AddReadinessCheck(fmt.Sprintf("check-%d", i),
				healthcheck.AsyncWithContext(ctx, func() error { return nil }, time.Minute))
		}
		benchReadyz(b, http.HandlerFunc(h.ReadyEndpoint), req)
	})
}

// benchReadyz waits until h answers 200 (every background check has run
// once), then measures it.
func benchReadyz(b *testing.B, h http.Handler, req *http.Request) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			body, _ := io.ReadAll(rec.Body)
			b.Fatalf("not ready after 10s: %d %s", rec.Code, body)
		}
		time.Sleep(time.Millisecond) // background checks start on their own goroutines
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
