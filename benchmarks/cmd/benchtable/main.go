// Command benchtable turns `go test -bench` output into the Markdown table of
// benchmarks/RESULTS.md: the median of each benchmark's runs, and the ratio of
// every peer to opskit in the same run.
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

// WriteMarkdown writes the machine header and one table per Thing.
func (r *Results) WriteMarkdown(w io.Writer, when time.Time, goVersion string) {
	fmt.Fprintf(w, "Measured %s with %s on %s/%s", when.UTC().Format("2006-01-02 15:04 MST"), goVersion, nameOr(r.GOOS, runtime.GOOS), nameOr(r.GOARCH, runtime.GOARCH))
	if r.CPU != "" {
		fmt.Fprintf(w, ", %s", r.CPU)
	}
	fmt.Fprintf(w, ", %d CPUs. Medians of each benchmark's runs; \"vs opskit\" is the peer's time over opskit's (above 1 means opskit is faster).\n", runtime.NumCPU())
	var thing string
	for _, row := range r.Rows {
		if row.Thing != thing {
			thing = row.Thing
			fmt.Fprintf(w, "\n### %s\n\n| variant | impl | ns/op | B/op | allocs/op | vs opskit | runs |\n|---|---|---:|---:|---:|---:|---:|\n", thing)
		}
		ratio := "—"
		if ref, ok := r.reference(row); ok && ref.NsPerOp > 0 && row.Impl != "opskit" {
			ratio = fmt.Sprintf("%.2f×", row.NsPerOp/ref.NsPerOp)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %d |\n", nameOr(row.Variant, "·"), row.Impl,
			formatFloat(row.NsPerOp), formatMetric(row.BytesPerOp), formatMetric(row.AllocsPerOp), ratio, row.Runs)
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
	if v < 0 {
		return "—"
	}
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return formatFloat(v)
}
