// Command outside checks that opskit's documentation works for someone
// outside the module, as a user copying it would find it: every package's
// doc.go program and example_test.go are copied into a temporary module
// that requires opskit through a replace directive; there they must
// compile and pass go vet, the Examples must pass (output checked), and
// every program that serves HTTP must start, answer one request on a free
// port and stop. Code under internal/ cannot be imported from there, so an
// example that does fails here.
//
//	go run ./internal/cmd/outside            # from the repository root (make test)
//	go run ./internal/cmd/outside -pkg slo   # one package
//
// The conventions doc programs follow (the -addr flag, the path requested)
// are in the package documentation of each check below: see checkHTTP.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	root := flag.String("root", ".", "repository root")
	only := flag.String("pkg", "", "check only the package with this path relative to the root (e.g. slo, postgres)")
	keep := flag.Bool("keep", false, "keep the temporary module and print its path")
	flag.Parse()
	start := time.Now()
	if err := run(context.Background(), os.Stdout, *root, *only, *keep, []string{"postgres"}); err != nil {
		fmt.Fprintln(os.Stderr, "outside:", err)
		os.Exit(1)
	}
	fmt.Printf("outside: ok in %.1fs\n", time.Since(start).Seconds())
}

// pkg is one public package of the repository and what the check copies.
type pkg struct {
	rel     string // path from the repository root, "." for the root package
	program []byte // the doc.go program, nil if doc.go has none
	example []byte // example_test.go, nil if there is none
}

// name is the package's directory in the temporary module.
func (p pkg) name() string {
	if p.rel == "." {
		return "opskit"
	}
	return strings.ReplaceAll(p.rel, "/", "_")
}

func run(ctx context.Context, w io.Writer, root, only string, keep bool, extra []string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	mods, err := modules(root, extra)
	if err != nil {
		return err
	}
	pkgs, err := collect(ctx, root, mods)
	if err != nil {
		return err
	}
	if only != "" {
		pkgs = slices.DeleteFunc(pkgs, func(p pkg) bool { return p.rel != only })
		if len(pkgs) == 0 {
			return fmt.Errorf("no public package %q", only)
		}
	}
	var problems []string
	for _, p := range pkgs {
		for _, f := range []struct {
			what string
			src  []byte
		}{{p.rel + "/doc.go program", p.program}, {p.rel + "/example_test.go", p.example}} {
			if f.src == nil {
				continue
			}
			if err := checkImports(f.src, mods); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", f.what, err))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}

	dir, err := os.MkdirTemp("", "opskit-outside-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(w, "outside: temporary module in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if err := writeModule(dir, mods, pkgs); err != nil {
		return err
	}
	steps := [][]string{
		{"mod", "tidy"},
		{"vet", "./..."}, // type-checks every program and example
		{"test", "-count=1", "./examples/..."},
	}
	for _, args := range steps {
		t := time.Now()
		if out, err := goCmd(ctx, dir, args...); err != nil {
			return fmt.Errorf("go %s in the outside module: %v\n%s", strings.Join(args, " "), err, out)
		}
		fmt.Fprintf(w, "outside: go %s: ok (%.1fs)\n", strings.Join(args, " "), time.Since(t).Seconds())
	}
	// The programs that serve HTTP are linked (in one build) and run; vet
	// has compiled the others.
	type server struct {
		p    pkg
		path string
	}
	var servers []server
	var programs int
	buildArgs := []string{"build", "-o", filepath.Join(dir, "bin") + string(filepath.Separator)}
	for _, p := range pkgs {
		if p.program == nil {
			continue
		}
		programs++
		path, ok, err := requestPath(p.program)
		if err != nil {
			return fmt.Errorf("%s/doc.go program: %v", p.rel, err)
		}
		if ok {
			servers = append(servers, server{p, path})
			buildArgs = append(buildArgs, "./doc/"+p.name())
		}
	}
	if len(servers) > 0 {
		t := time.Now()
		if out, err := goCmd(ctx, dir, buildArgs...); err != nil {
			return fmt.Errorf("go build of the HTTP programs in the outside module: %v\n%s", err, out)
		}
		fmt.Fprintf(w, "outside: go build of %d HTTP programs: ok (%.1fs)\n", len(servers), time.Since(t).Seconds())
	}
	served := 0
	for _, s := range servers {
		p, path := s.p, s.path
		t := time.Now()
		status, err := checkHTTP(ctx, filepath.Join(dir, "bin", p.name()), filepath.Join(dir, "run", p.name()), path)
		if err != nil {
			return fmt.Errorf("%s/doc.go program: %v", p.rel, err)
		}
		served++
		fmt.Fprintf(w, "outside: %s/doc.go program served GET %s: %d (%.1fs)\n", p.rel, path, status, time.Since(t).Seconds())
	}
	var missing []string
	for _, p := range pkgs {
		if p.program == nil {
			missing = append(missing, p.rel)
		}
	}
	fmt.Fprintf(w, "outside: %d packages, %d doc programs (%d served HTTP), %d example files", len(pkgs), programs, served, countExamples(pkgs))
	if len(missing) > 0 {
		fmt.Fprintf(w, "; no doc.go program in: %s", strings.Join(missing, ", "))
	}
	fmt.Fprintln(w)
	return nil
}

func countExamples(pkgs []pkg) int {
	n := 0
	for _, p := range pkgs {
		if p.example != nil {
			n++
		}
	}
	return n
}

// goCmd runs the go command in dir with a clean module environment.
func goCmd(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}
