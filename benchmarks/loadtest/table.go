package loadtest

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

// Row is one measured configuration in a comparison table.
type Row struct {
	Name   string
	Result Result
}

// WriteTable writes the rows as Markdown, with each row's ratio to the
// reference row (the first one): throughput as a fraction of the
// reference, latencies as multiples of it.
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| server | req/s | min | p50 | p90 | p99 | max | errors | req/s vs "+rows[0].Name+" | p99 vs "+rows[0].Name+" |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	ref := rows[0].Result
	for _, r := range rows {
		res := r.Result
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %d | %s | %s |\n", r.Name, res.RPS(),
			ms(res.Min), ms(res.P50), ms(res.P90), ms(res.P99), ms(res.Max), res.Errors,
			ratio(res.RPS(), ref.RPS()), ratio(float64(res.P99), float64(ref.P99)))
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.3f", a/b)
}

// Markdown returns WriteTable's output as a string.
func Markdown(rows []Row) string {
	var b bytes.Buffer
	WriteTable(&b, rows)
	return strings.TrimRight(b.String(), "\n")
}
