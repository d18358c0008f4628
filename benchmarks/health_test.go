package benchmarks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	alex "github.com/alexliesenfeld/health"
	"github.com/heptiolabs/healthcheck"

	"github.com/opskit/opskit/health"
)

// readyzChecks is how many background checks each readiness probe serves.
const readyzChecks = 10

// readyzVariant is one shape of answer every implementation is asked for,
// so that each row compares the same work.
type readyzVariant struct {
	name string
	// check says whether a 200 body is this variant's answer.
	check func(body string) error
}

var (
	// plain: the status only ("ok", or an empty JSON object).
	variantPlain = readyzVariant{"plain", func(body string) error {
		if body != "ok" && body != "{}\n" {
			return fmt.Errorf("want a status-only body, got %q", body)
		}
		return nil
	}}
	// verbose: one text line per check, Kubernetes style.
	variantVerbose = readyzVariant{"verbose", func(body string) error {
		for i := range readyzChecks {
			if !strings.Contains(body, fmt.Sprintf("[+]check-%d ok\n", i)) {
				return fmt.Errorf("no line for check-%d in %q", i, body)
			}
		}
		return nil
	}}
	// json: a JSON document naming every check and its status.
	variantJSON = readyzVariant{"json", func(body string) error {
		if !json.Valid([]byte(body)) {
			return fmt.Errorf("not JSON: %q", body)
		}
		for i := range readyzChecks {
			if !strings.Contains(body, fmt.Sprintf(`"check-%d"`, i)) {
				return fmt.Errorf("check-%d missing from %q", i, body)
			}
		}
		return nil
	}}
)

// BenchmarkReadyz serves a readiness probe of 10 background checks that all
// pass, each library answering from its cached results: opskit from its
// snapshot, alexliesenfeld/health with periodic checks, heptiolabs with
// Async checks. Each variant asks every library for the same answer:
// plain (status only), verbose (a text line per check; alexliesenfeld
// through a ResultWriter that writes the Kubernetes lines, heptiolabs has
// no text form and sits this one out) and json (every check's status as
// JSON). Each iteration gets a new recorder; the first answer is checked
// against the variant before timing starts.
func BenchmarkReadyz(b *testing.B) {
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
		h := c.Handler(health.Readiness)
		jsonReq := httptest.NewRequest(http.MethodGet, "/readyz", nil)
		jsonReq.Header.Set("Accept", "application/health+json")
		b.Run("plain", func(b *testing.B) {
			benchReadyz(b, h, httptest.NewRequest(http.MethodGet, "/readyz", nil), variantPlain)
		})
		b.Run("verbose", func(b *testing.B) {
			benchReadyz(b, h, httptest.NewRequest(http.MethodGet, "/readyz?verbose", nil), variantVerbose)
		})
		b.Run("json", func(b *testing.B) { benchReadyz(b, h, jsonReq, variantJSON) })
	})
	b.Run("health", func(b *testing.B) {
		opts := []alex.CheckerOption{}
		for i := range readyzChecks {
			opts = append(opts, alex.WithPeriodicCheck(time.Minute, 0, alex.Check{Name: fmt.Sprintf("check-%d", i),
				Check: func(context.Context) error { return nil }}))
		}
		checker := alex.NewChecker(opts...)
		defer checker.Stop()
		req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
		b.Run("plain", func(b *testing.B) {
			benchReadyz(b, alex.NewHandler(checker, alex.WithResultWriter(alexText{})), req, variantPlain)
		})
		b.Run("verbose", func(b *testing.B) {
			benchReadyz(b, alex.NewHandler(checker, alex.WithResultWriter(alexText{verbose: true})), req, variantVerbose)
		})
		b.Run("json", func(b *testing.B) { benchReadyz(b, alex.NewHandler(checker), req, variantJSON) })
	})
	b.Run("healthcheck", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := healthcheck.NewHandler()
		for i := range readyzChecks {
			h.AddReadinessCheck(fmt.Sprintf("check-%d", i),
				healthcheck.AsyncWithContext(ctx, func() error { return nil }, time.Minute))
		}
		b.Run("plain", func(b *testing.B) {
			benchReadyz(b, http.HandlerFunc(h.ReadyEndpoint), httptest.NewRequest(http.MethodGet, "/ready", nil), variantPlain)
		})
		b.Run("json", func(b *testing.B) {
			benchReadyz(b, http.HandlerFunc(h.ReadyEndpoint), httptest.NewRequest(http.MethodGet, "/ready?full=1", nil), variantJSON)
		})
	})
}

// alexText writes alexliesenfeld/health's result as Kubernetes text: "ok",
// or with verbose a "[+]name ok" line per check, the way a user of that
// library would to serve kubelet-style answers.
type alexText struct{ verbose bool }

func (t alexText) Write(res *alex.CheckerResult, code int, w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	if !t.verbose {
		_, err := io.WriteString(w, "ok")
		return err
	}
	names := make([]string, 0, len(res.Details))
	for name := range res.Details {
		names = append(names, name)
	}
	slices.Sort(names)
	var sb strings.Builder
	for _, name := range names {
		if d := res.Details[name]; d.Status == alex.StatusUp {
			fmt.Fprintf(&sb, "[+]%s ok\n", name)
		} else {
			fmt.Fprintf(&sb, "[-]%s failed\n", name)
		}
	}
	sb.WriteString("readyz check passed\n")
	_, err := io.WriteString(w, sb.String())
	return err
}

// benchReadyz waits until h answers 200 (every background check has run
// once), checks the answer is the variant's, then measures it.
func benchReadyz(b *testing.B, h http.Handler, req *http.Request, v readyzVariant) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			if err := v.check(rec.Body.String()); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
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

// BenchmarkProbeCost prices what anyone who can reach /readyz may ask for,
// against a readiness probe of 10 background checks:
//
//   - normal: GET /readyz, what the kubelet sends;
//   - max-allowed: a query of MaxQueryParams-1 excludes and verbose filling
//     MaxQueryBytes, every name unmatched (the most output and matching a
//     request within the caps can cause);
//   - past-cap-1MB: a query of ~100,000 excludes in a ~1 MB URL, refused
//     with 400.
//
// The handler variants take a parsed request; the server variants send
// the request over loopback to an http.Server and read the answer, so
// they include net/http reading and parsing the URL, which is linear in
// its length (see the 64KB/256KB/1MB rows and their MB/s).
func BenchmarkProbeCost(b *testing.B) {
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
	h := c.Handler(health.Readiness)
	benchReadyz(b, h, httptest.NewRequest(http.MethodGet, "/readyz", nil), variantPlain) // wait for results
	maxQuery := maxAllowedQuery()
	queries := []struct {
		name  string
		query string
		code  int
	}{
		{"normal", "", http.StatusOK},
		{"max-allowed", maxQuery, http.StatusOK},
		{"past-cap-64KB", pastCapQuery(64 << 10), http.StatusBadRequest},
		{"past-cap-256KB", pastCapQuery(256 << 10), http.StatusBadRequest},
		{"past-cap-1MB", pastCapQuery(1000 << 10), http.StatusBadRequest},
	}
	for _, q := range queries {
		if q.name == "past-cap-64KB" || q.name == "past-cap-256KB" {
			continue // the handler refuses on length alone: one row says it
		}
		b.Run("opskit/handler-"+q.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/readyz?"+q.query, nil)
			b.SetBytes(int64(len(req.URL.RawQuery)))
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != q.code {
					b.Fatalf("status %d, want %d", rec.Code, q.code)
				}
			}
		})
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.MaxHeaderBytes = 1 << 20 // net/http's default, stated
	srv.Start()
	defer srv.Close()
	for _, q := range queries {
		b.Run("opskit/server-"+q.name, func(b *testing.B) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			raw := []byte("GET /readyz?" + q.query + " HTTP/1.1\r\nHost: x\r\n\r\n")
			br := bufio.NewReader(conn)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := conn.Write(raw); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != q.code {
					b.Fatalf("status %d, want %d", resp.StatusCode, q.code)
				}
			}
		})
	}
}

// maxAllowedQuery is verbose plus MaxQueryParams-1 distinct excludes that
// match nothing, as long as MaxQueryBytes allows.
func maxAllowedQuery() string {
	n := health.MaxQueryParams - 1
	per := (health.MaxQueryBytes - len("verbose")) / n
	var sb strings.Builder
	for i := range n {
		name := fmt.Sprintf("no-such-check-%02d-", i)
		name += strings.Repeat("x", per-len("exclude=&")-len(name))
		sb.WriteString("exclude=" + name + "&")
	}
	sb.WriteString("verbose")
	return sb.String()
}

// pastCapQuery is excludes filling about size bytes.
func pastCapQuery(size int) string {
	return strings.Repeat("exclude=x&", size/10)
}
