package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// writeModule lays out the temporary module: doc/<pkg>/main.go for each
// program, examples/<pkg>/example_test.go for each example file, and a
// go.mod requiring every repository module through a replace directive.
func writeModule(dir string, mods []module, pkgs []pkg) error {
	var gomod, gosum bytes.Buffer
	goV := "1.21"
	for _, m := range mods {
		if versionLess(goV, m.goV) {
			goV = m.goV
		}
	}
	fmt.Fprintf(&gomod, "module outside.example/check\n\ngo %s\n\n", goV)
	seen := map[string]bool{}
	for _, m := range mods {
		fmt.Fprintf(&gomod, "require %s v0.0.0-00010101000000-000000000000\n", m.path)
		fmt.Fprintf(&gomod, "replace %s => %s\n", m.path, m.dir)
		// The repository's sums spare go mod tidy the downloads it can.
		if b, err := os.ReadFile(filepath.Join(m.dir, "go.sum")); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if l := sc.Text(); l != "" && !seen[l] {
					seen[l] = true
					gosum.WriteString(l + "\n")
				}
			}
		}
	}
	files := map[string][]byte{"go.mod": gomod.Bytes(), "go.sum": gosum.Bytes()}
	for _, p := range pkgs {
		if p.program != nil {
			files[filepath.Join("doc", p.name(), "main.go")] = p.program
		}
		if p.example != nil {
			files[filepath.Join("examples", p.name(), "example_test.go")] = p.example
		}
	}
	for name, b := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// versionLess compares go directives such as 1.25.0 and 1.26.
func versionLess(a, b string) bool {
	num := func(s string) []int {
		var out []int
		for _, f := range strings.Split(s, ".") {
			n := 0
			fmt.Sscan(f, &n)
			out = append(out, n)
		}
		return out
	}
	return slices.Compare(num(a), num(b)) < 0
}

// How long a program may take to listen, and to exit after SIGINT
// (variables so the tests can shorten them).
var (
	startTimeout = 20 * time.Second
	stopTimeout  = 10 * time.Second
)

// checkHTTP runs a program that serves HTTP, by the convention doc
// programs follow: the binary takes -addr, runs in an empty working
// directory, answers GET path with a status below 500, and exits within
// stopTimeout of SIGINT. It returns the status.
func checkHTTP(ctx context.Context, bin, workdir, path string) (int, error) {
	if err := os.MkdirAll(workdir, 0o700); err != nil {
		return 0, err
	}
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-addr", addr)
	cmd.Dir = workdir
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
			return nil
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("did not exit within %v of SIGINT\n%s", stopTimeout, out.String())
		}
	}

	// Wait until it listens: a real process, so the check polls.
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = stop()
			return 0, fmt.Errorf("not listening on %s after %v: a doc program that serves HTTP must listen on the address its -addr flag gives\n%s", addr, startTimeout, out.String())
		}
		select {
		case err := <-exited:
			return 0, fmt.Errorf("exited before listening on %s (-addr): %v\n%s", addr, err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get("http://" + addr + path)
	if err != nil {
		_ = stop()
		return 0, fmt.Errorf("GET %s: %v\n%s", path, err, out.String())
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(http.MaxBytesReader(nil, res.Body, 4096))
	res.Body.Close()
	if err := stop(); err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode >= 500 {
		return res.StatusCode, fmt.Errorf("GET %s answered %s: %s\n%s", path, res.Status, strings.TrimSpace(body.String()), out.String())
	}
	return res.StatusCode, nil
}

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
