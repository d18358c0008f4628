// Command overload runs the overload benchmark of package shedding: a
// simulated service of capacity C loaded at 1×, 2× and 3× C (open loop,
// then closed loop), with C halved in the middle of every run, behind no
// limiter, opskit's overload.Limiter and failsafe-go's adaptivelimiter, in
// alternating rounds. It prints a Markdown section; with -write FILE it
// also puts the section into FILE between the markers
// <!-- overload:begin --> and <!-- overload:end --> (appended at the end
// the first time), leaving the rest of the file alone.
//
//	go run ./cmd/overload -rounds 3 -duration 8s -write RESULTS.md
//
// It exits with status 1 if opskit misses the goal at the highest load
// (goodput ≥ 90 % of C, p99 ≤ 2× the unloaded p99) or any probe was refused.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/opskit/opskit/benchmarks/shedding"
)

const (
	beginMarker = "<!-- overload:begin -->"
	endMarker   = "<!-- overload:end -->"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "overload:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("overload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	p := shedding.Plan{Log: stderr}
	var loads, write string
	fs.IntVar(&p.Rounds, "rounds", 3, "rounds")
	fs.StringVar(&loads, "loads", "1,2,3", "offered loads, as multiples of the capacity C")
	fs.BoolVar(&p.Closed, "closed", true, "add the closed-loop view")
	fs.DurationVar(&p.Warmup, "warmup", time.Second, "warm-up of each run, not counted")
	fs.DurationVar(&p.Duration, "duration", 8*time.Second, "measured time of each run; C halves in its middle")
	fs.IntVar(&p.Slots, "slots", 32, "the simulated service's slots")
	fs.DurationVar(&p.Service, "service", 25*time.Millisecond, "the simulated service time")
	fs.StringVar(&write, "write", "", "put the section into this file between the overload markers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case p.Rounds < 1:
		return fmt.Errorf("-rounds must be at least 1, got %d", p.Rounds)
	case p.Duration <= 0 || p.Warmup < 0 || p.Service <= 0:
		return fmt.Errorf("-duration and -service must be positive and -warmup not negative")
	case p.Slots < 2:
		return fmt.Errorf("-slots must be at least 2, got %d", p.Slots)
	}
	for _, f := range strings.Split(loads, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 {
			return fmt.Errorf("-loads: bad load %q", f)
		}
		p.Loads = append(p.Loads, v)
	}
	rep, err := shedding.Execute(ctx, p)
	if err != nil {
		return err
	}
	var sec bytes.Buffer
	env := fmt.Sprintf("%s on %s/%s, %d CPUs (GOMAXPROCS %d).", runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		// Other work on the machine makes sleeps overshoot, which lowers
		// the simulated capacity and raises the unloaded p99: say how much.
		if f := strings.Fields(string(la)); len(f) >= 3 {
			env += fmt.Sprintf(" Load average at the end (1, 5, 15 min): %s, %s, %s.", f[0], f[1], f[2])
		}
	}
	rep.WriteMarkdown(&sec, env, "go run ./cmd/overload "+strings.Join(args, " "))
	if _, err := stdout.Write(sec.Bytes()); err != nil {
		return err
	}
	if write != "" {
		if err := replaceSection(write, sec.Bytes()); err != nil {
			return err
		}
	}
	if _, _, _, met := rep.Goal(); !met {
		return errors.New("the goal was not met")
	}
	return nil
}

// replaceSection puts sec between the markers in file, appending the
// markers at the end when the file has none.
func replaceSection(file string, sec []byte) error {
	old, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	block := append(append([]byte(beginMarker+"\n\n"), sec...), []byte("\n"+endMarker+"\n")...)
	var out []byte
	b, e := bytes.Index(old, []byte(beginMarker)), bytes.Index(old, []byte(endMarker))
	switch {
	case b >= 0 && e > b:
		rest := old[e+len(endMarker):]
		rest = bytes.TrimPrefix(rest, []byte("\n"))
		out = append(append(append([]byte{}, old[:b]...), block...), rest...)
	case b < 0 && e < 0:
		out = append(append(bytes.TrimRight(old, "\n"), []byte("\n\n")...), block...)
	default:
		return fmt.Errorf("%s: the overload markers are out of order", file)
	}
	return os.WriteFile(file, out, 0o600)
}
