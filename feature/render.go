package feature

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Format is a report's output format.
type Format string

// The formats a report can be written in.
const (
	HTML     Format = "html"
	Markdown Format = "md"
	CSV      Format = "csv"
	JSON     Format = "json"
)

// ParseFormat accepts html, md (or markdown), csv and json.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "html":
		return HTML, nil
	case "md", "markdown":
		return Markdown, nil
	case "csv":
		return CSV, nil
	case "json":
		return JSON, nil
	}
	return "", fmt.Errorf("%w: format %q, want html, md, csv or json", ErrInvalid, s)
}

// ContentType is the media type of the format.
func (f Format) ContentType() string {
	switch f {
	case HTML:
		return "text/html; charset=utf-8"
	case Markdown:
		return "text/markdown; charset=utf-8"
	case CSV:
		return "text/csv; charset=utf-8"
	}
	return "application/json"
}

// Write renders the report in the format.
func (rep *Report) Write(w io.Writer, f Format) error {
	if err := rep.write(w, f); err != nil {
		if errors.Is(err, ErrInvalid) {
			return err
		}
		return fmt.Errorf("feature: write %s report: %w", f, err)
	}
	return nil
}

func (rep *Report) write(w io.Writer, f Format) error {
	switch f {
	case HTML:
		return htmlReport.Execute(w, rep)
	case Markdown:
		return rep.writeMarkdown(w)
	case CSV:
		return rep.writeCSV(w)
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return fmt.Errorf("%w: format %q, want html, md, csv or json", ErrInvalid, string(f))
}

func day(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02")
}

func seen(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func changeText(c *float64, trend string) string {
	if c == nil {
		return trend
	}
	return fmt.Sprintf("%+.0f%%", *c*100)
}

func (rep *Report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	s := rep.Summary
	fmt.Fprintf(&b, "# Feature usage, %s to %s (%d days)\n\n", day(rep.From), day(rep.To.Add(-time.Second)), rep.Days)
	fmt.Fprintf(&b, "%d features declared: %d used (%.1f%%), %d rarely used (%.1f%%), %d never used (%.1f%%), %d in their grace period. ",
		s.Declared, s.Used, s.UsedPct, s.Rarely, s.RarelyPct, s.Never, s.NeverPct, s.InGrace)
	fmt.Fprintf(&b, "%d uses by about %d tenants, from %d instance(s).\n\n", s.TotalUses, s.Tenants, len(rep.Instances))
	b.WriteString("| Feature | Owner | Status | Uses | Change | Tenants | Adoption | First seen | Last seen | Trend |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---|---|---|\n")
	for _, f := range rep.Features {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %d | %.1f%% | %s | %s | %s |\n",
			mdEscape(f.Name), mdEscape(f.Owner), f.Status, f.Uses, changeText(f.Change, f.Trend), f.Tenants,
			f.AdoptionPct, day(f.FirstSeen), seen(f.LastSeen), sparkText(f.Daily))
	}
	for _, sec := range []struct {
		title string
		names []string
	}{{"Never used", rep.NeverUsed}, {"Rarely used", rep.RarelyUsed}, {"Declining", rep.Declining}, {"New", rep.New}} {
		fmt.Fprintf(&b, "\n## %s (%d)\n\n", sec.title, len(sec.names))
		for _, n := range sec.names {
			fmt.Fprintf(&b, "- %s\n", mdEscape(n))
		}
	}
	fmt.Fprintf(&b, "\n## Catalog drift (%d)\n\n", len(rep.Drift))
	for _, d := range rep.Drift {
		fmt.Fprintf(&b, "- %s: %d uses, last %s\n", mdEscape(d.Name), d.Uses, seen(d.LastSeen))
	}
	for _, wn := range rep.Warnings {
		fmt.Fprintf(&b, "\n> Warning: %s\n", mdEscape(wn))
	}
	fmt.Fprintf(&b, "\n## Method\n\n%s\n", mdEscape(rep.Method))
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape makes s inert inside Markdown table cells and lists: Markdown
// punctuation is backslash-escaped, HTML is entity-encoded, and line breaks
// become spaces.
func mdEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '-', '!', '|', '~':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkText draws daily counts as block characters.
func sparkText(v []int64) string {
	var hi int64
	for _, n := range v {
		hi = max(hi, n)
	}
	out := make([]rune, len(v))
	for i, n := range v {
		idx := 0
		if hi > 0 {
			idx = int(n * int64(len(sparkRunes)-1) / hi)
		}
		out[i] = sparkRunes[idx]
	}
	return string(out)
}

func (rep *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"feature", "owner", "description", "since", "status", "uses", "previous_uses", "change_pct",
		"tenants", "previous_tenants", "adoption_pct", "first_seen", "last_seen", "trend", "declining", "new"})
	declining, isNew := set(rep.Declining), set(rep.New)
	for _, f := range rep.Features {
		change := ""
		if f.Change != nil {
			change = strconv.FormatFloat(*f.Change*100, 'f', 1, 64)
		}
		_ = cw.Write([]string{cell(f.Name), cell(f.Owner), cell(f.Description), day(f.Since), string(f.Status),
			strconv.FormatInt(f.Uses, 10), strconv.FormatInt(f.PrevUses, 10), change,
			strconv.FormatInt(f.Tenants, 10), strconv.FormatInt(f.PrevTenants, 10),
			strconv.FormatFloat(f.AdoptionPct, 'f', 1, 64), day(f.FirstSeen), seen(f.LastSeen), f.Trend,
			strconv.FormatBool(declining[f.Name]), strconv.FormatBool(isNew[f.Name])})
	}
	for _, d := range rep.Drift {
		_ = cw.Write([]string{cell(d.Name), "", "undeclared (catalog drift)", "", "drift", strconv.FormatInt(d.Uses, 10),
			"", "", "", "", "", day(d.FirstSeen), seen(d.LastSeen), "", "false", "false"})
	}
	cw.Flush()
	return cw.Error()
}

// cell guards a spreadsheet cell against formula injection: text that a
// spreadsheet would evaluate gets a leading apostrophe.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// sparkPoints returns an SVG polyline's points for the daily counts in a
// width×height box. Only numbers go into the markup.
func sparkPoints(v []int64) string {
	const width, height = 120.0, 24.0
	var hi int64
	for _, n := range v {
		hi = max(hi, n)
	}
	var b strings.Builder
	for i, n := range v {
		x := 0.0
		if len(v) > 1 {
			x = width * float64(i) / float64(len(v)-1)
		}
		y := height - 1
		if hi > 0 {
			y = height - 1 - (height-2)*float64(n)/float64(hi)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
	}
	return b.String()
}
