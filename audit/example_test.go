package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/clock"
)

// A handler that changes state asks the Guard first and logs what it did.
func ExampleGuard() {
	dir, _ := os.MkdirTemp("", "audit-example")
	defer os.RemoveAll(dir)
	trail, _ := audit.Open(filepath.Join(dir, "audit.jsonl"), []byte("example key, 16+ bytes"),
		audit.WithClock(clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))))
	defer trail.Close()
	guard := &audit.Guard{
		Authorize: audit.BearerTokens(audit.Token{Secret: "let-me-in", Actor: "operator"}),
		Sink:      trail,
	}
	purge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, ok := guard.Allow(w, r, "queue.purge")
		if !ok {
			return
		}
		_ = guard.Log(r, actor, "queue.purge", "dead letters", nil, "3 messages")
		fmt.Fprintln(w, "purged")
	})
	for _, h := range []map[string]string{
		{},
		{"Authorization": "Bearer let-me-in", "Sec-Fetch-Site": "cross-site"},
		{"Authorization": "Bearer let-me-in"},
	} {
		r := httptest.NewRequest("POST", "/queue/dead/purge", nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		purge.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body.String())
	}
	seq, _ := trail.Head()
	fmt.Println("records:", seq)
	// Output:
	// 401 audit: queue.purge: credentials required
	// 403 audit: cross-origin request refused
	// 200 purged
	// records: 1
}

// A Reader verifies the chain and names the first record that does not.
func ExampleReader() {
	dir, _ := os.MkdirTemp("", "audit-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.jsonl")
	key := []byte("example key, 16+ bytes")
	trail, _ := audit.Open(path, key, audit.WithClock(clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))))
	for _, who := range []string{"ann", "bob", "cy"} {
		_ = trail.Append(context.Background(), audit.Record{Actor: who, Action: "feature.switch", Target: "checkout-v2", Result: "ok"})
	}
	_ = trail.Close()

	b, _ := os.ReadFile(path)
	_ = os.WriteFile(path, bytes.Replace(b, []byte(`"bob"`), []byte(`"eve"`), 1), 0o600)

	f, _ := os.Open(path)
	defer f.Close()
	rd := audit.NewReader(f, key)
	for {
		e, err := rd.Next()
		if err != nil {
			fmt.Println(errors.Is(err, audit.ErrTampered), err)
			break
		}
		fmt.Println(e.Seq, e.Time.Format(time.RFC3339), e.Actor, e.Action, e.Target)
	}
	// Output:
	// 1 2026-01-02T03:04:05Z ann feature.switch checkout-v2
	// true audit: record 2 (line 2, offset 191): hash does not match (record changed, inserted, removed or reordered, or wrong key)
}
