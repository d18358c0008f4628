package health

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"

	"github.com/opskit/opskit/internal/redact"
)

// The built-in checks return a func to use as Check.Func. Bad arguments do
// not panic: the returned func fails every run with an error naming the
// argument, so the mistake shows on the probe.

// TCPDial checks that a TCP connection to addr ("host:port") opens. The
// connection is closed at once.
func TCPDial(addr string) func(context.Context) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return failing(redact.Error(fmt.Errorf("health: TCPDial: addr %q: %w", addr, err)))
	}
	var d net.Dialer
	return func(ctx context.Context) error {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return redact.Error(err)
		}
		return conn.Close()
	}
}

// HTTPGet checks that a GET of rawURL answers with a status from 200 to
// 399, as the kubelet's HTTP probe counts success. A nil client means
// http.DefaultClient (which follows redirects; a client whose
// CheckRedirect returns http.ErrUseLastResponse sees the 3xx itself). The
// body is read (up to 4 KiB) and closed so connections are reused. A
// password in rawURL never appears in the errors.
func HTTPGet(client *http.Client, rawURL string) func(context.Context) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return failing(redact.Error(fmt.Errorf("health: HTTPGet: url %q: %w", rawURL, err)))
	}
	shown := u.Redacted()
	if u.Scheme != "http" && u.Scheme != "https" {
		return failing(fmt.Errorf("health: HTTPGet: url %q: scheme must be http or https", shown))
	}
	if client == nil {
		client = http.DefaultClient
	}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return redact.Error(fmt.Errorf("health: GET %s: %w", shown, err))
		}
		resp, err := client.Do(req)
		if err != nil {
			return redact.Error(err)
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 399 {
			return fmt.Errorf("health: GET %s: status %d, want 200-399", shown, resp.StatusCode)
		}
		return nil
	}
}

// Ping checks a database through the pool it is given: it never opens a
// connection of its own beyond what the pool does.
func Ping(db *sql.DB) func(context.Context) error {
	if db == nil {
		return failing(errors.New("health: Ping: db is nil"))
	}
	return db.PingContext
}

// Goroutines fails when more than max goroutines are running, a cheap
// signal of a leak.
func Goroutines(max int) func(context.Context) error {
	if max < 1 {
		return failing(fmt.Errorf("health: Goroutines: max %d must be positive", max))
	}
	return func(context.Context) error {
		if n := runtime.NumGoroutine(); n > max {
			return fmt.Errorf("health: %d goroutines, more than %d", n, max)
		}
		return nil
	}
}

// DiskFree fails when the file system holding path has fewer than minFree
// bytes available to unprivileged users. It is supported on Linux; on
// other systems every run fails with errors.ErrUnsupported.
func DiskFree(path string, minFree uint64) func(context.Context) error {
	if path == "" {
		return failing(errors.New("health: DiskFree: path is empty"))
	}
	return func(context.Context) error {
		free, err := diskFree(path)
		if err != nil {
			return fmt.Errorf("health: DiskFree %s: %w", path, err)
		}
		if free < minFree {
			return fmt.Errorf("health: %s has %d bytes free, less than %d", path, free, minFree)
		}
		return nil
	}
}

func failing(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}
