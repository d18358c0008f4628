package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Format is a report's rendering.
type Format string

// The formats.
const (
	HTML     Format = "html" // one self-contained page a mail client shows: tables, inline styles, no scripts or external resources
	Markdown Format = "md"
	JSON     Format = "json" // the Report's stable field names
)

// ParseFormat parses "html", "md" (or "markdown") and "json".
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "html":
		return HTML, nil
	case "md", "markdown":
		return Markdown, nil
	case "json":
		return JSON, nil
	}
	return "", fmt.Errorf("report: format %s: want html, md or json", quote(s))
}

// ContentType is the media type of f.
func (f Format) ContentType() string {
	switch f {
	case Markdown:
		return "text/markdown; charset=utf-8"
	case JSON:
		return "application/json"
	}
	return "text/html; charset=utf-8"
}

// ext is the file name extension of f.
func (f Format) ext() string { return "." + string(f) }

// Write renders r in format f.
func (r *Report) Write(w io.Writer, f Format) error {
	switch f {
	case HTML:
		return r.writeHTML(w)
	case Markdown:
		return r.writeMarkdown(w)
	case JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return r.encodeJSON(enc)
	}
	return fmt.Errorf("report: format %s: want html, md or json", quote(string(f)))
}

// encodeJSON writes r; a budget overspent by a target of 1 (+Inf) is
// written as -1, since JSON has no infinity.
func (r *Report) encodeJSON(enc *json.Encoder) error {
	c := *r
	c.Compliance.Objectives = append([]ObjectiveLine(nil), r.Compliance.Objectives...)
	for i := range c.Compliance.Objectives {
		o := &c.Compliance.Objectives[i]
		for _, w := range []*Window{&o.Week, &o.PeriodToDate} {
			if math.IsInf(w.BudgetSpent, 0) {
				w.BudgetSpent = -1
			}
		}
	}
	if err := enc.Encode(&c); err != nil {
		return fmt.Errorf("report: encoding JSON: %w", err)
	}
	return nil
}

// The figures as every format shows them.

// percent shows a fraction as a percentage with up to 3 decimals.
func percent(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "∞ %"
	case math.IsNaN(f):
		return "–"
	}
	s := strconv.FormatFloat(f*100, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s + " %"
}

// compliancePct shows a compliance, "no events" when nil.
func compliancePct(c *float64) string {
	if c == nil {
		return "no events"
	}
	return percent(*c)
}

// human shows a duration as "3d 4h", "2h 15m", "5m 30s" or "12s".
func human(d time.Duration) string {
	if d < 0 {
		return "-" + human(-d)
	}
	d = d.Round(time.Second)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	hours, d := d/time.Hour, d%time.Hour
	mins, secs := d/time.Minute, (d%time.Minute)/time.Second
	var parts []string
	add := func(n time.Duration, unit string) {
		if n > 0 {
			parts = append(parts, strconv.FormatInt(int64(n), 10)+unit)
		}
	}
	switch {
	case days > 0:
		add(days, "d")
		add(hours, "h")
		add(mins, "m")
	case hours > 0:
		add(hours, "h")
		add(mins, "m")
	default:
		add(mins, "m")
		add(secs, "s")
	}
	if len(parts) == 0 {
		return "0s"
	}
	return strings.Join(parts, " ")
}

// stamp shows a time in the report's location: "Mon 30 Nov 15:04".
func stamp(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "–"
	}
	return t.In(loc).Format("Mon 2 Jan 15:04")
}

// day shows a date: "Mon 30 Nov 2026".
func day(t time.Time, loc *time.Location) string { return t.In(loc).Format("Mon 2 Jan 2006") }

// location returns the report's location, UTC when unknown.
func (r *Report) location() *time.Location {
	if loc, err := time.LoadLocation(r.Location); err == nil {
		return loc
	}
	return r.From.Location()
}

// title is the report's heading.
func (r *Report) title() string {
	t := "Weekly ops report " + r.Week
	if r.Release.Service != "" {
		t += ", " + r.Release.Service
	}
	return t
}

// span says which days the report covers.
func (r *Report) span() string {
	loc := r.location()
	s := day(r.From, loc) + " 00:00 to " + day(r.To, loc) + " " + r.To.In(loc).Format("15:04") + " (" + r.Location + ")"
	if !r.Complete {
		s += ": the week is still running"
	}
	return s
}

// releaseText names a release: "v1.4.2 (release 1a2b3c4d5e6f)".
func releaseText(version, id string) string {
	switch {
	case version == "" && id == "":
		return "unnamed"
	case id == "":
		return version
	case version == "":
		return "release " + id
	}
	return version + " (release " + id + ")"
}

// headline is the summary line under the title.
func (r *Report) headline() []string {
	var out []string
	if r.Compliance.Status == OK {
		met := 0
		for _, o := range r.Compliance.Objectives {
			if o.Week.Met {
				met++
			}
		}
		out = append(out, fmt.Sprintf("%d of %d objectives met this week", met, len(r.Compliance.Objectives)))
	}
	if r.Incidents.Status == OK {
		out = append(out, plural(r.Incidents.Opened, "incident")+" opened, "+strconv.Itoa(r.Incidents.Resolved)+" resolved")
	}
	if r.Noise.Status == OK {
		out = append(out, plural(r.Noise.Pages, "page")+", "+plural(r.Noise.Tickets, "ticket"))
	}
	if r.Maintenance.Status == OK {
		out = append(out, plural(r.Maintenance.Actions, "operator action"))
	}
	if r.Queue.Status == OK && r.Queue.Counted {
		out = append(out, fmt.Sprintf("queue: %d accepted, %d delivered, %d dead-lettered", r.Queue.Accepted, r.Queue.Delivered, r.Queue.DeadLettered))
	}
	if r.Features.Status == OK && r.Features.Headline != "" {
		out = append(out, r.Features.Headline)
	}
	return out
}

// plural is "1 page", "2 pages".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// featureSpan says what the features section covers: "Usage on the UTC days
// Mon 30 Nov 2026 to Sun 6 Dec 2026, compared with the 7 days before; 1 of
// 2 declared features used.", then its note.
func featureSpan(f FeatureSection) string {
	if f.From.IsZero() {
		return f.Note
	}
	n := int(f.To.Sub(f.From) / (24 * time.Hour))
	s := fmt.Sprintf("Usage on the UTC days %s to %s, compared with the %s before; %d of %d declared features used.",
		day(f.From, time.UTC), day(lastDay(f.To), time.UTC), plural(n, "day"), f.Used, f.Declared)
	if f.Note != "" {
		s += " " + f.Note
	}
	return s
}

// lastDay is the last day of a period ending (exclusive) at to.
func lastDay(to time.Time) time.Time { return to.AddDate(0, 0, -1) }

// sectionText says why a section has no figures, "" when it has.
func sectionText(s Section, what string) string {
	switch s.Status {
	case NotConfigured:
		return "Not configured: no " + what + " was given to the report."
	case Failed:
		return "Could not be read completely: " + s.Note
	}
	return ""
}

// resultText shows an audit result.
func resultText(r string) string {
	if r == "ok" || r == "denied" {
		return r
	}
	return "failed: " + r
}

// changeText shows a relative change: "+50 %", "new".
func changeText(c Change) string {
	if c.Change == nil {
		return "new"
	}
	s := percent(*c.Change)
	if *c.Change > 0 {
		s = "+" + s
	}
	return s
}
