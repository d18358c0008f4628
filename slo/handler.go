package slo

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// JSON view of a Status: durations in Prometheus syntax, ratios as floats.
type jsonStatus struct {
	Objective        string        `json:"objective"`
	Target           float64       `json:"target"`
	Period           string        `json:"period"`
	Threshold        string        `json:"threshold,omitempty"`
	Runbook          string        `json:"runbook,omitempty"`
	Outcome          string        `json:"outcome,omitempty"`
	At               time.Time     `json:"at"`
	Budget           Budget        `json:"budget"`
	TimeToExhaustion *float64      `json:"time_to_exhaustion_seconds"` // null: not burning
	Windows          []jsonWindow  `json:"windows"`
	Alerts           []jsonAlert   `json:"alerts"`
	BurnDown         []float64     `json:"burn_down,omitempty"`
	Incidents        []Incident    `json:"open_incidents"`
	status           Status        `json:"-"`
	chart            template.HTML `json:"-"`
}

type jsonWindow struct {
	Window     string  `json:"window"`
	Total      int64   `json:"total"`
	Bad        int64   `json:"bad"`
	ErrorRatio float64 `json:"error_ratio"`
	BurnRate   float64 `json:"burn_rate"`
}

type jsonAlert struct {
	Tier     string     `json:"tier"`
	Severity Severity   `json:"severity"`
	State    AlertState `json:"state"`
	Since    *time.Time `json:"since,omitempty"`
	Long     string     `json:"long_window"`
	Short    string     `json:"short_window"`
	BurnRate float64    `json:"burn_rate_threshold"`
	Incident string     `json:"incident,omitempty"`
}

// view turns the current statuses into what the page and JSON show.
func (m *Monitor) view() []jsonStatus {
	incidents := m.Incidents()
	now := m.clock.Now()
	inds := m.indicators()
	out := make([]jsonStatus, 0, len(inds))
	for _, in := range inds {
		st := in.computeStatus(now)
		in.fill(&st)
		v := jsonStatus{Objective: st.Objective, Target: st.Target, Period: fmtDuration(st.Period),
			Runbook: st.Runbook, Outcome: st.Outcome, At: st.At, Budget: st.Budget, status: st,
			Windows: []jsonWindow{}, Alerts: []jsonAlert{}, Incidents: []Incident{}}
		if st.Threshold > 0 {
			v.Threshold = st.Threshold.String()
		}
		if st.TimeToExhaustion >= 0 {
			s := st.TimeToExhaustion.Seconds()
			v.TimeToExhaustion = &s
		}
		for _, w := range st.Windows {
			v.Windows = append(v.Windows, jsonWindow{fmtDuration(w.Window), w.Total, w.Bad, w.ErrorRatio, w.BurnRate})
		}
		for _, a := range st.Alerts {
			ja := jsonAlert{Tier: a.Tier, Severity: a.Severity, State: a.State, Long: fmtDuration(a.Numbers.LongWindow),
				Short: fmtDuration(a.Numbers.ShortWindow), BurnRate: a.Numbers.Threshold, Incident: a.Incident}
			if !a.Since.IsZero() {
				since := a.Since
				ja.Since = &since
			}
			v.Alerts = append(v.Alerts, ja)
		}
		for _, inc := range incidents {
			if inc.Objective == in.name && inc.Open() {
				v.Incidents = append(v.Incidents, inc)
			}
		}
		v.BurnDown = in.burnDown(now)
		v.chart = burnDownSVG(v.BurnDown)
		out = append(out, v)
	}
	return out
}

// Handler serves the /slo page: HTML for people, JSON when the request
// asks with "Accept: application/json" or "?format=json".
func (m *Monitor) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := m.view()
		if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(map[string]any{"objectives": v}) // a write error means the client left
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, v); err != nil {
			m.log.Error("slo: render page", "err", err)
		}
	})
}

// burnDownSVG draws the remaining budget over the period as a polyline.
// It is built from numbers only, so it is safe to mark as HTML.
func burnDownSVG(points []float64) template.HTML {
	const width, height = 480.0, 120.0
	lo, hi := 0.0, 1.0
	for _, p := range points {
		lo, hi = min(lo, p), max(hi, p)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="error budget remaining over the period">`, width, height, width, height)
	zero := height * hi / (hi - lo)
	fmt.Fprintf(&b, `<line x1="0" y1="%.1f" x2="%g" y2="%.1f" stroke="#999" stroke-dasharray="4"/>`, zero, width, zero)
	b.WriteString(`<polyline fill="none" stroke="#2a6" stroke-width="2" points="`)
	for i, p := range points {
		x := 0.0
		if len(points) > 1 {
			x = width * float64(i) / float64(len(points)-1)
		}
		fmt.Fprintf(&b, "%.1f,%.1f ", x, height*(hi-p)/(hi-lo))
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers only
}

var page = template.Must(template.New("slo").Funcs(template.FuncMap{
	"pct":   func(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) },
	"rate":  func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"chart": func(v jsonStatus) template.HTML { return v.chart },
	"ttl": func(v jsonStatus) string {
		switch d := v.status.TimeToExhaustion; {
		case d < 0:
			return "not burning"
		case d == 0:
			return "exhausted"
		default:
			return d.String()
		}
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Service level objectives</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
.firing{background:#fcc}.suppressed{background:#ffe}.ok{background:#efe}</style></head><body>
<h1>Service level objectives</h1>
{{range .}}<section>
<h2>{{.Objective}}{{if .Threshold}} (under {{.Threshold}}){{end}}: target {{pct .Target}} over {{.Period}}</h2>
<p>Error budget remaining: <b>{{pct .Budget.Remaining}}</b> ({{printf "%.1f" .Budget.RemainingEvents}} of {{printf "%.1f" .Budget.Allowed}} bad events left; {{.Budget.Bad}} bad of {{.Budget.Total}}). Budget lasts: {{ttl .}}.</p>
{{if .Runbook}}<p>DO: {{.Runbook}}</p>{{end}}{{if .Outcome}}<p>SO THAT: {{.Outcome}}</p>{{end}}
{{chart .}}
<table><tr><th>window</th><th>events</th><th>bad</th><th>error ratio</th><th>burn rate</th></tr>
{{range .Windows}}<tr><td>{{.Window}}</td><td>{{.Total}}</td><td>{{.Bad}}</td><td>{{pct .ErrorRatio}}</td><td>{{rate .BurnRate}}</td></tr>
{{end}}</table>
<table><tr><th>alert</th><th>severity</th><th>windows</th><th>fires at</th><th>state</th></tr>
{{range .Alerts}}<tr class="{{.State}}"><td>{{.Tier}}</td><td>{{.Severity}}</td><td>{{.Long}}/{{.Short}}</td><td>{{.BurnRate}}x</td><td>{{.State}}{{if .Since}} since {{.Since.UTC.Format "2006-01-02 15:04:05Z"}}{{end}}</td></tr>
{{end}}</table>
{{if .Incidents}}<h3>Open incidents</h3><ul>{{range .Incidents}}<li>{{.ID}}: started {{.Started.UTC.Format "2006-01-02 15:04:05Z"}}, peak burn {{rate .Peak.BurnRateLong}}x</li>{{end}}</ul>{{end}}
</section>{{else}}<p>No objectives.</p>{{end}}
</body></html>
`))
