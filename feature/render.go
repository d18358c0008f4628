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

	"github.com/opskit/opskit/internal/markdown"
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

// trendText is the trend label with its monthly rate: "down −44 %/month".
func trendText(f FeatureReport) string {
	if f.Monthly == nil || f.Trend == "gone" {
		return f.Trend
	}
	return fmt.Sprintf("%s %+.0f%%/month", f.Trend, *f.Monthly*100)
}

// ended reports whether the period was over when the report was made (a
// report with Policy.End): its failing features are those of its last day.
func (rep *Report) ended() bool { return !rep.To.After(rep.Generated) }

// failingTitle heads the failing features: "Failing now", or for a period
// that was over when the report was made (Policy.End), "Failing on
// 2025-03-16", its last day.
func failingTitle(rep *Report) string {
	if rep.ended() {
		return "Failing on " + lastDay(rep.To)
	}
	return "Failing now"
}

// failingDay is the day Failing is about: "today", or "on 2025-03-16".
func failingDay(rep *Report) string {
	if rep.ended() {
		return "on " + lastDay(rep.To)
	}
	return "today"
}

// lastDay is the last day of a period whose end is exclusive.
func lastDay(to time.Time) string { return day(to.Add(-time.Second)) }

func (rep *Report) writeMarkdown(w io.Writer) error {
	var b strings.Builder
	s := rep.Summary
	fmt.Fprintf(&b, "# Feature usage, %s to %s (%d days)\n\n", day(rep.From), lastDay(rep.To), rep.Days)
	fmt.Fprintf(&b, "**%s**\n\n", mdEscape(rep.Headline))
	fmt.Fprintf(&b, "## %s (%d)\n\n", failingTitle(rep), len(rep.Failing))
	if len(rep.Failing) == 0 {
		fmt.Fprintf(&b, "None: no feature's failures rose %s.\n", failingDay(rep))
	}
	for _, fl := range rep.Failing {
		fmt.Fprintf(&b, "- %s\n", mdEscape(fl.Summary))
		for _, r := range fl.Reasons {
			fmt.Fprintf(&b, "  - %s\n", mdEscape(reasonText(r)))
		}
	}
	if len(rep.Switched) > 0 {
		fmt.Fprintf(&b, "\n## Switched off (%d)\n\n", len(rep.Switched))
		for _, sw := range rep.Switched {
			fmt.Fprintf(&b, "- %s\n", mdEscape(sw))
		}
	}
	fmt.Fprintf(&b, "\n%d features declared: %d used (%.1f%%), %d rarely or not used in the period (%.1f%%), %d never used (%.1f%%), %d in their grace period. ",
		s.Declared, s.Used, s.UsedPct, s.Rarely+s.Unused, s.RarelyPct, s.Never, s.NeverPct, s.InGrace)
	fmt.Fprintf(&b, "%d uses (%d failed) by %s tenants, from %d instance(s).\n\n", s.TotalUses, s.TotalFailures, tenantsText(s.Tenants, s.TenantsErr), len(rep.Instances))
	b.WriteString("| Feature | Owner | Status | Uses | Failures | Change | Tenants | Failing tenants | Adoption | First seen | Last seen | Trend | Daily |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---|\n")
	for _, f := range rep.Features {
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %d | %s | %s | %s | %.1f%% | %s | %s | %s | %s |\n",
			mdEscape(f.Name), mdEscape(f.Owner), f.Status, f.Uses, f.Failures, changeText(f.Change, "n/a"),
			tenantsText(f.Tenants, f.TenantsErr)+satMark(f.Saturated), tenantsText(f.FailingTenants, f.FailingTenantsErr),
			f.AdoptionPct, day(f.FirstSeen), seen(f.LastSeen), mdEscape(trendText(f)), sparkText(f.Daily))
	}
	for _, sec := range []struct {
		title string
		names []string
	}{{"Never used", rep.NeverUsed}, {"Rarely used or not used in the period", rep.RarelyUsed}, {"Declining", rep.Declining}, {"New", rep.New}} {
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

func satMark(saturated bool) string {
	if saturated {
		return " (saturated)"
	}
	return ""
}

// reasonText is one reason on one line.
func reasonText(r Reason) string {
	s := fmt.Sprintf("%q: %d times, first %s, last %s", r.Text, r.Count, seen(r.First), seen(r.Last))
	if len(r.TraceIDs) > 0 {
		s += ", traces " + strings.Join(r.TraceIDs, " ")
	}
	return s
}

// mdEscape makes s inert inside Markdown table cells and lists.
func mdEscape(s string) string { return markdown.Escape(s) }

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

// csvHeader is the feature table's header; the rows before it (headline,
// failing features) have as many cells, so strict CSV readers accept the file.
var csvHeader = []string{"feature", "owner", "description", "since", "status", "uses", "previous_uses", "failures", "change_pct",
	"monthly_change_pct", "tenants", "tenants_err", "previous_tenants", "previous_tenants_err", "failing_tenants", "failing_tenants_err",
	"adoption_pct", "first_seen", "last_seen", "trend", "declining", "new", "top_reason"}

func (rep *Report) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	row := func(cells ...string) {
		out := make([]string, len(csvHeader))
		copy(out, cells)
		_ = cw.Write(out)
	}
	row("headline", cell(rep.Headline))
	for _, fl := range rep.Failing {
		row("failing", cell(fl.Summary))
	}
	for _, sw := range rep.Switched {
		row("switched", cell(sw))
	}
	_ = cw.Write(csvHeader)
	declining, isNew := set(rep.Declining), set(rep.New)
	for _, f := range rep.Features {
		change, monthly, reason := "", "", ""
		if f.Change != nil {
			change = strconv.FormatFloat(*f.Change*100, 'f', 1, 64)
		}
		if f.Monthly != nil {
			monthly = strconv.FormatFloat(*f.Monthly*100, 'f', 1, 64)
		}
		if len(f.Reasons) > 0 {
			reason = cell(f.Reasons[0].Text)
		}
		row(cell(f.Name), cell(f.Owner), cell(f.Description), day(f.Since), string(f.Status),
			strconv.FormatInt(f.Uses, 10), strconv.FormatInt(f.PrevUses, 10), strconv.FormatInt(f.Failures, 10), change, monthly,
			strconv.FormatInt(f.Tenants, 10), errCell(f.TenantsErr), strconv.FormatInt(f.PrevTenants, 10), errCell(f.PrevTenantsErr),
			strconv.FormatInt(f.FailingTenants, 10), errCell(f.FailingTenantsErr),
			strconv.FormatFloat(f.AdoptionPct, 'f', 1, 64), day(f.FirstSeen), seen(f.LastSeen), f.Trend,
			strconv.FormatBool(declining[f.Name]), strconv.FormatBool(isNew[f.Name]), reason)
	}
	for _, d := range rep.Drift {
		row(cell(d.Name), "", "undeclared (catalog drift)", "", "drift", strconv.FormatInt(d.Uses, 10),
			"", "", "", "", "", "", "", "", "", "", "", day(d.FirstSeen), seen(d.LastSeen), "", "false", "false", "")
	}
	cw.Flush()
	return cw.Error()
}

func errCell(e float64) string { return strconv.FormatFloat(e, 'f', 1, 64) }

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
