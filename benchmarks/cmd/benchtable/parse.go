package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Results are the medians of a benchmark run, in the order first seen.
type Results struct {
	GOOS, GOARCH, CPU string
	Rows              []Row
}

// Row is one benchmark: Benchmark<Thing>/<Impl>[/<Variant>]. Each figure
// is the median of its runs, with the runs' spread beside it.
type Row struct {
	Thing, Impl, Variant string
	NsPerOp              Figure
	BytesPerOp           Figure // Median -1 when not reported
	AllocsPerOp          Figure // Median -1 when not reported
	Runs                 int
}

// Figure is one measure over the runs of a benchmark.
type Figure struct{ Median, Min, Max float64 }

func figure(v []float64) Figure {
	if len(v) == 0 {
		return Figure{-1, -1, -1}
	}
	return Figure{Median: median(v), Min: slices.Min(v), Max: slices.Max(v)}
}

// procSuffix is the -GOMAXPROCS suffix that go test appends to names.
var procSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads `go test -bench` output. Lines that are not results are
// skipped; a result line with a malformed value is an error naming it.
func Parse(r io.Reader) (*Results, error) {
	res := &Results{}
	type samples struct{ ns, bytes, allocs []float64 }
	byName := map[string]*samples{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if k, v, ok := strings.Cut(text, ": "); ok && !strings.HasPrefix(k, "Benchmark") {
			switch k {
			case "goos":
				res.GOOS = v
			case "goarch":
				res.GOARCH = v
			case "cpu":
				res.CPU = strings.TrimSpace(v)
			}
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(fields[1]); err != nil {
			continue // "BenchmarkX  --- SKIP" and similar
		}
		name := procSuffix.ReplaceAllString(fields[0], "")
		if thing, _, _ := split(name); thing == "" {
			continue // "Benchmark/x" cannot come from a Go benchmark function
		}
		s := byName[name]
		if s == nil {
			s = &samples{}
			byName[name] = s
			order = append(order, name)
		}
		seenNs := false
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("line %d: value %q of %s is not a number", line, fields[i], fields[i+1])
			}
			switch fields[i+1] {
			case "ns/op":
				s.ns, seenNs = append(s.ns, v), true
			case "B/op":
				s.bytes = append(s.bytes, v)
			case "allocs/op":
				s.allocs = append(s.allocs, v)
			}
		}
		if !seenNs {
			return nil, fmt.Errorf("line %d: result for %s has no ns/op", line, name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, name := range order {
		s := byName[name]
		thing, impl, variant := split(name)
		res.Rows = append(res.Rows, Row{
			Thing: thing, Impl: impl, Variant: variant,
			NsPerOp: figure(s.ns), BytesPerOp: figure(s.bytes), AllocsPerOp: figure(s.allocs),
			Runs: len(s.ns),
		})
	}
	return res, nil
}

// split breaks Benchmark<Thing>/<impl>/<variant...> into its parts.
func split(name string) (thing, impl, variant string) {
	parts := strings.SplitN(strings.TrimPrefix(name, "Benchmark"), "/", 3)
	thing = parts[0]
	if len(parts) > 1 {
		impl = parts[1]
	}
	if len(parts) > 2 {
		variant = parts[2]
	}
	return thing, impl, variant
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
