// Command benchtable turns `go test -bench` output into the Markdown table of
// benchmarks/RESULTS.md: the median of each benchmark's runs with their
// spread (min–max), the ratio of every peer to opskit in the same run, and
// the number of runs the figures really come from.
//
// Benchmarks follow the convention Benchmark<Thing>/<impl>[/<variant>], so
// rows that share Thing and variant are compared, and the row whose impl is
// "opskit" is the reference. The table is written between the markers
// <!-- bench:begin --> and <!-- bench:end --> of the output file; anything
// else in the file (the load-test tables, say) is kept.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"time"
)

const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

func main() {
	in := flag.String("in", "", "benchmark output to read (default stdin)")
	out := flag.String("out", "RESULTS.md", "Markdown file to update")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	var r io.Reader = os.Stdin
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	res, err := Parse(r)
	if err != nil {
		return err
	}
	if len(res.Rows) == 0 {
		return fmt.Errorf("no benchmark results in %s", nameOr(in, "stdin"))
	}
	var table bytes.Buffer
	res.WriteMarkdown(&table, time.Now(), runtime.Version())
	old, err := os.ReadFile(out)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(out, splice(old, table.Bytes()), 0o644)
}

// splice replaces the marked section of doc with table, or puts it first.
func splice(doc, table []byte) []byte {
	section := append(append([]byte(beginMarker+"\n"), table...), endMarker+"\n"...)
	b, e := bytes.Index(doc, []byte(beginMarker)), bytes.Index(doc, []byte(endMarker))
	if b < 0 || e < b {
		header := "# Benchmark results\n\nWritten by `make bench`; `make loadtest` appends below the table.\n\n"
		return append(append([]byte(header), section...), doc...)
	}
	rest := doc[e+len(endMarker):]
	rest = bytes.TrimPrefix(rest, []byte("\n"))
	return append(append(append([]byte{}, doc[:b]...), section...), rest...)
}

func nameOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// WriteMarkdown writes the machine header and one table per Thing. Every
// figure is a median with its spread (min–max across runs) beside it; a
// peer's ratio to opskit is the ratio of medians, with the widest range
// the runs allow beside it (the peer's fastest run over opskit's slowest,
// to the peer's slowest over opskit's fastest): go test -count runs a
// benchmark's repetitions back to back, so runs do not pair up.
func (r *Results) WriteMarkdown(w io.Writer, when time.Time, goVersion string) {
	fmt.Fprintf(w, "Measured %s with %s on %s/%s", when.UTC().Format("2006-01-02 15:04 MST"), goVersion, nameOr(r.GOOS, runtime.GOOS), nameOr(r.GOARCH, runtime.GOARCH))
	if r.CPU != "" {
		fmt.Fprintf(w, ", %s", r.CPU)
	}
	fmt.Fprintf(w, ", %d CPUs; %s. Each figure is the median of a benchmark's runs, with the spread (min–max across runs) beside it; \"vs opskit\" is the peer's median time over opskit's (above 1 means opskit is faster), with the range the runs allow.\n", runtime.NumCPU(), r.runCount())
	var thing string
	for _, row := range r.Rows {
		if row.Thing != thing {
			thing = row.Thing
			fmt.Fprintf(w, "\n### %s\n\n| variant | impl | ns/op | B/op | allocs/op | vs opskit | runs |\n|---|---|---:|---:|---:|---:|---:|\n", thing)
		}
		ratio := "—"
		if ref, ok := r.reference(row); ok && ref.NsPerOp.Median > 0 && row.Impl != "opskit" {
			ratio = fmt.Sprintf("%.2f×", row.NsPerOp.Median/ref.NsPerOp.Median)
			if f, g := row.NsPerOp, ref.NsPerOp; (f.Min != f.Max || g.Min != g.Max) && g.Min > 0 {
				ratio += fmt.Sprintf(" (%.2f–%.2f)", f.Min/g.Max, f.Max/g.Min)
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d |\n", nameOr(row.Variant, "·"), row.Impl,
			formatFigure(row.NsPerOp, formatFloat), formatFigure(row.BytesPerOp, formatMetric),
			formatFigure(row.AllocsPerOp, formatMetric), ratio, row.Runs)
	}
}

// runCount says how many runs the figures are made of: "5 runs of each
// benchmark", or the range when benchmarks differ.
func (r *Results) runCount() string {
	lo, hi := 0, 0
	for i, row := range r.Rows {
		if i == 0 || row.Runs < lo {
			lo = row.Runs
		}
		hi = max(hi, row.Runs)
	}
	switch {
	case lo == hi && lo == 1:
		return "1 run of each benchmark"
	case lo == hi:
		return fmt.Sprintf("%d runs of each benchmark", lo)
	default:
		return fmt.Sprintf("%d to %d runs per benchmark", lo, hi)
	}
}

func (r *Results) reference(row Row) (Row, bool) {
	for _, o := range r.Rows {
		if o.Thing == row.Thing && o.Variant == row.Variant && o.Impl == "opskit" {
			return o, true
		}
	}
	return Row{}, false
}

// formatFigure is "median (min–max)", or the median alone when every run
// agreed, or "—" when the figure was not reported.
func formatFigure(f Figure, format func(float64) string) string {
	if f.Median < 0 {
		return "—"
	}
	if f.Min == f.Max {
		return format(f.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", format(f.Median), format(f.Min), format(f.Max))
}

func formatFloat(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func formatMetric(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return formatFloat(v)
}
