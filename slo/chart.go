package slo

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// budgetPoint is the error budget left at one moment of the burn-down.
type budgetPoint struct {
	At        time.Time `json:"at"`
	Remaining float64   `json:"remaining"`
}

// burnDown is the chart's data: the remaining budget of the period so far
// at the end of each hour in the range, starting where the history starts
// (a young service has no points before its first event, not 100%).
type burnDown struct {
	Range  string        `json:"range"` // "24h", "7d" or the period, e.g. "30d"
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Points []budgetPoint `json:"points"`
	// spans are the incidents overlapping the range, for the chart.
	spans []Incident
}

// chartData builds the burn-down over the last rng (at most the period),
// or over the history observed if that is shorter: a young service's
// chart spans its life, not 30 days of imagined good traffic.
func (in *indicator) chartData(now time.Time, rng time.Duration, label string, observed time.Duration, incs []Incident) burnDown {
	rng = min(rng, in.obj.Period)
	if observed >= time.Minute {
		rng = min(rng, observed)
	}
	bd := burnDown{Range: label, From: now.Add(-rng), To: now, Points: []budgetPoint{}}
	first := now.Add(-observed)
	hours := in.burnDown(now) // one point per hour bucket of the period, the last one current
	lastHour := now.Truncate(hourWidth)
	if observed > 0 && !first.Before(bd.From) {
		bd.Points = append(bd.Points, budgetPoint{At: first, Remaining: 1}) // nothing spent yet
	}
	for i, v := range hours {
		end := lastHour.Add(-time.Duration(len(hours)-1-i) * hourWidth).Add(hourWidth)
		if end.After(now) {
			end = now
		}
		if observed <= 0 || !end.After(first) || end.Before(bd.From) {
			continue
		}
		bd.Points = append(bd.Points, budgetPoint{At: end, Remaining: v})
	}
	for _, inc := range incs {
		end := inc.Resolved
		if inc.Open() {
			end = now
		}
		if end.After(bd.From) {
			bd.spans = append(bd.spans, inc)
		}
	}
	return bd
}

// Chart geometry, in SVG user units; the SVG scales to the page width.
const (
	chartW, chartH                       = 560.0, 250.0
	padLeft, padRight, padTop, padBottom = 84.0, 16.0, 12.0, 48.0
)

// svg draws bd: labelled axes (budget left in %, time in UTC with dates),
// the 0 % line, incidents as bands and the budget line. It is built from
// numbers and fixed words only (incident ids are escaped), so it is safe
// to mark as HTML.
func (bd burnDown) svg() template.HTML {
	lo, hi := 0.0, 1.0 // the budget left is at most 100 %
	for _, p := range bd.Points {
		lo = min(lo, p.Remaining)
	}
	step := niceStep((hi - lo) / 4)
	lo = math.Floor(lo/step) * step
	plotW, plotH := chartW-padLeft-padRight, chartH-padTop-padBottom
	span := bd.To.Sub(bd.From)
	x := func(t time.Time) float64 {
		f := float64(t.Sub(bd.From)) / float64(span)
		return padLeft + plotW*min(max(f, 0), 1)
	}
	y := func(v float64) float64 { return padTop + plotH*(hi-v)/(hi-lo) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" class="chart" role="img" aria-label="Error budget left over the last %[3]s, hourly"><title>Error budget left over the last %[3]s, hourly, in %% of the period's budget</title>`,
		chartW, chartH, template.HTMLEscapeString(bd.Range))
	// Incidents first, under everything else; a short one still shows.
	for _, inc := range bd.spans {
		end := inc.Resolved
		if inc.Open() {
			end = bd.To
		}
		x0, x1 := x(inc.Started), x(end)
		if x1-x0 < 3 {
			x0, x1 = x0-1.5, x0+1.5
		}
		color := "#f4b183" // ticket
		if inc.Severity == Page {
			color = "#f08080"
		}
		state := "resolved " + inc.Resolved.UTC().Format(timeFormat)
		if inc.Open() {
			state = "open"
		}
		fmt.Fprintf(&b, `<rect class="incident" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" opacity="0.6"><title>incident %s (%s): %s to %s</title></rect>`,
			x0, padTop, x1-x0, plotH, color, template.HTMLEscapeString(inc.ID), inc.Severity,
			inc.Started.UTC().Format(timeFormat), state)
	}
	// Y axis: gridlines and percentages at multiples of step, and 100 %.
	ticks := []float64{hi}
	for v := lo; v < hi-step/2; v += step {
		if math.Abs(v) > step/2 { // the 0 % line is drawn below
			ticks = append(ticks, v)
		}
	}
	for _, v := range ticks {
		yy := y(v)
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`, padLeft, yy, chartW-padRight, yy)
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" class="tick">%s</text>`, padLeft-4, yy+4, pctTick(v))
	}
	y0 := y(0)
	fmt.Fprintf(&b, `<line class="zero" x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#c00" stroke-width="1.5" stroke-dasharray="5 3"/>`, padLeft, y0, chartW-padRight, y0)
	fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end" class="tick">0 %%</text>`, padLeft-4, y0+4)
	fmt.Fprintf(&b, `<text x="%g" y="%.1f" class="tick" fill="#c00">budget spent</text>`, padLeft+4, y0-4)
	// X axis: ticks at UTC day (or 6-hour) boundaries with dates.
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#333"/>`, padLeft, padTop+plotH, chartW-padRight, padTop+plotH)
	fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#333"/>`, padLeft, padTop, padLeft, padTop+plotH)
	tick, layout := xTicks(span)
	for t := bd.From.UTC().Truncate(tick).Add(tick); !t.After(bd.To); t = t.Add(tick) {
		xx := x(t)
		anchor := "middle" // ends pulled in so no label is cut off
		switch {
		case xx > chartW-padRight-40:
			anchor = "end"
		case xx < padLeft+40:
			anchor = "start"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#333"/>`, xx, padTop+plotH, xx, padTop+plotH+4)
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="%s" class="tick">%s</text>`, xx, padTop+plotH+18, anchor, t.Format(layout))
	}
	// Axis titles.
	fmt.Fprintf(&b, `<text class="axis" x="%g" y="%g" text-anchor="middle">time (UTC), %s to %s</text>`,
		padLeft+plotW/2, chartH-6, bd.From.UTC().Format("2006-01-02 15:04"), bd.To.UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, `<text class="axis" transform="translate(16 %g) rotate(-90)" text-anchor="middle">budget left (%%)</text>`, padTop+plotH/2)
	// The line, or a note when there is nothing to draw yet.
	if len(bd.Points) > 0 {
		b.WriteString(`<polyline class="budget" fill="none" stroke="#2a6" stroke-width="2" points="`)
		for _, p := range bd.Points {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(p.At), y(p.Remaining))
		}
		b.WriteString(`"/>`)
		if x(bd.Points[0].At) > padLeft+1 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%g" class="tick" fill="#777">no events before</text>`, padLeft+4, padTop+12)
		}
	} else {
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle" class="tick">no events in this range</text>`, padLeft+plotW/2, padTop+plotH/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers, fixed words and escaped ids only
}

// timeFormat is how the page prints instants.
const timeFormat = "2006-01-02 15:04:05 UTC"

// niceStep rounds s up to 1, 2 or 5 times a power of ten (at least 0.25).
func niceStep(s float64) float64 {
	if s <= 0.25 {
		return 0.25
	}
	p := math.Pow(10, math.Floor(math.Log10(s)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= s {
			return m * p
		}
	}
	return 10 * p
}

// pctTick prints a budget fraction as a whole percentage.
func pctTick(v float64) string { return fmt.Sprintf("%.0f %%", 100*v) }

// xTicks picks the tick spacing (at most three ticks, at round UTC hours
// or days) and the label layout for a range.
func xTicks(span time.Duration) (time.Duration, string) {
	const day = 24 * time.Hour
	for _, step := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if span <= 3*step {
			return step, "Jan 2 15:04"
		}
	}
	for _, step := range []time.Duration{day, 2 * day, 5 * day, 10 * day, 30 * day, 60 * day} {
		if span <= 3*step {
			return step, "Jan 2"
		}
	}
	return 100 * day, "Jan 2 2006"
}
