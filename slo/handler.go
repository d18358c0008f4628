package slo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/opskit/opskit/release"
)

// pageView is what the page and the JSON show.
type pageView struct {
	GeneratedAt time.Time `json:"generated_at"`
	// Release is what this process runs (WithRelease); its ID is the
	// baseline every other release is compared with.
	Release    release.Info `json:"release"`
	Range      string       `json:"range"`
	Objectives []jsonStatus `json:"objectives"`
}

// JSON view of a Status: durations in Prometheus syntax ("30d", "5m"),
// ratios as fractions, times in RFC 3339.
type jsonStatus struct {
	Objective string  `json:"objective"`
	Target    float64 `json:"target"`
	Period    string  `json:"period"`
	// Observed is how much of the period the history covers; shorter than
	// Period on a young service, whose figures are the period so far.
	Observed         string       `json:"observed"`
	Threshold        string       `json:"threshold,omitempty"`
	Runbook          string       `json:"runbook,omitempty"`
	Outcome          string       `json:"outcome,omitempty"`
	At               time.Time    `json:"at"`
	Budget           Budget       `json:"budget"`
	BudgetExhausted  bool         `json:"budget_exhausted"`
	TimeToExhaustion *float64     `json:"time_to_exhaustion_seconds"` // null: not burning
	Windows          []jsonWindow `json:"windows"`
	Alerts           []jsonAlert  `json:"alerts"`
	Tiers            []jsonTier   `json:"tiers"`
	BurnDown         burnDown     `json:"burn_down"`
	// Incidents are the open and recently resolved ones, newest first.
	Incidents []Incident `json:"incidents"`
	// Replicas are each replica's share of a fleet's events (WithStore);
	// Windows and Budget are their sum.
	Replicas []Share `json:"replicas,omitempty"`
	// Releases are the releases counted apart, oldest first, each but the
	// process's own with its verdict against the process's own;
	// ReleasesDropped counts those dropped past MaxReleases.
	Releases        []jsonRelease `json:"releases"`
	ReleasesDropped int           `json:"releases_dropped"`
	status          Status
}

// jsonRelease is one release's events on one objective, with its verdict
// against the process's release (absent for that one, and when it has no
// events counted apart).
type jsonRelease struct {
	ReleaseCounts
	Verdict *release.Verdict `json:"verdict,omitempty"`
}

type jsonWindow struct {
	Window     string  `json:"window"`
	Total      int64   `json:"total"`
	Bad        int64   `json:"bad"`
	ErrorRatio float64 `json:"error_ratio"`
	BurnRate   float64 `json:"burn_rate"`
}

type jsonAlert struct {
	Severity Severity   `json:"severity"`
	State    AlertState `json:"state"`
	Since    *time.Time `json:"since,omitempty"`
	Tier     string     `json:"tier,omitempty"` // the fastest holding tier while firing
	Incident string     `json:"incident,omitempty"`
}

type jsonTier struct {
	Name      string   `json:"name"`
	Severity  Severity `json:"severity"`
	Long      string   `json:"long_window"`
	Short     string   `json:"short_window"`
	BurnRate  float64  `json:"burn_rate"`
	Threshold float64  `json:"error_ratio_threshold"`
	Holds     bool     `json:"holds"`
	Disabled  bool     `json:"disabled,omitempty"`
}

// view turns the current statuses into what the page and JSON show, with
// the burn-down over rng (0: the period).
func (m *Monitor) view(rng time.Duration, label string) pageView {
	incidents := m.Incidents()
	now := m.clock.Now()
	inds := m.indicators()
	pv := pageView{GeneratedAt: now, Release: m.cfg.release, Range: label, Objectives: make([]jsonStatus, 0, len(inds))}
	for _, in := range inds {
		st := in.computeStatus(now)
		in.fill(&st)
		v := jsonStatus{Objective: st.Objective, Target: st.Target, Period: fmtDuration(st.Period),
			Observed: fmtDuration(st.Observed), Runbook: st.Runbook, Outcome: st.Outcome, At: st.At,
			Budget: st.Budget, BudgetExhausted: st.BudgetExhausted, status: st, Replicas: st.Replicas,
			Windows: []jsonWindow{}, Alerts: []jsonAlert{}, Tiers: []jsonTier{}, Incidents: []Incident{}}
		v.Releases, v.ReleasesDropped = m.releaseView(in)
		if st.Threshold > 0 {
			v.Threshold = fmtDuration(st.Threshold)
		}
		if st.TimeToExhaustion >= 0 {
			s := st.TimeToExhaustion.Seconds()
			v.TimeToExhaustion = &s
		}
		for _, w := range st.Windows {
			v.Windows = append(v.Windows, jsonWindow{fmtDuration(w.Window), w.Total, w.Bad, w.ErrorRatio, w.BurnRate})
		}
		for _, a := range st.Alerts {
			ja := jsonAlert{Severity: a.Severity, State: a.State, Tier: a.Tier, Incident: a.Incident}
			if !a.Since.IsZero() {
				since := a.Since
				ja.Since = &since
			}
			v.Alerts = append(v.Alerts, ja)
		}
		for _, t := range st.Tiers {
			v.Tiers = append(v.Tiers, jsonTier{Name: t.Name, Severity: t.Severity, Long: fmtDuration(t.Long),
				Short: fmtDuration(t.Short), BurnRate: t.BurnRate, Threshold: t.Threshold, Holds: t.Holds, Disabled: t.Disabled})
		}
		for _, inc := range incidents {
			if inc.Objective == in.name {
				v.Incidents = append(v.Incidents, inc)
			}
		}
		r, l := rng, label
		if r == 0 || r >= in.obj.Period {
			r, l = in.obj.Period, fmtDuration(in.obj.Period)
		}
		v.BurnDown = in.chartData(now, r, l, st.Observed, v.Incidents)
		pv.Objectives = append(pv.Objectives, v)
	}
	return pv
}

// pageQuery is a validated /slo query.
type pageQuery struct {
	json  bool
	rng   time.Duration // 0: the period
	label string
	// The verdict view: candidate against baseline (empty: the
	// process's release) on objective.
	objective, candidate, baseline string
}

// ranges are the burn-down ranges the page offers.
var ranges = []struct {
	name string
	d    time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"period", 0}}

func parsePageQuery(r *http.Request) (pageQuery, error) {
	q := r.URL.Query()
	var errs []error
	pq := pageQuery{label: "period"}
	switch f := q.Get("format"); f {
	case "":
		pq.json = strings.Contains(r.Header.Get("Accept"), "application/json")
	case "html":
	case "json":
		pq.json = true
	default:
		errs = append(errs, fmt.Errorf("slo: bad parameter format=%q: want html or json", f))
	}
	if v := q.Get("range"); v != "" {
		ok := false
		for _, rg := range ranges {
			if v == rg.name {
				pq.rng, pq.label, ok = rg.d, rg.name, true
			}
		}
		if !ok {
			errs = append(errs, fmt.Errorf("slo: bad parameter range=%q: want 24h, 7d or period", v))
		}
	}
	pq.objective, pq.candidate, pq.baseline = q.Get("objective"), q.Get("candidate"), q.Get("baseline")
	if (pq.objective == "") != (pq.candidate == "") {
		errs = append(errs, fmt.Errorf("slo: bad parameters objective=%q candidate=%q: a verdict needs both", pq.objective, pq.candidate))
	} else if pq.objective == "" && pq.baseline != "" {
		errs = append(errs, fmt.Errorf("slo: bad parameter baseline=%q: a verdict needs objective and candidate too", pq.baseline))
	}
	return pq, errors.Join(errs...)
}

// Handler serves the /slo page: HTML for people, JSON for machines
// ("?format=json" or "Accept: application/json"). Query parameters:
//
//	format     html (default) or json
//	range      the burn-down's range: 24h, 7d or period (default)
//	objective  with candidate: the verdict view instead of the page
//	candidate  the release to judge (Monitor.Verdict)
//	baseline   the release to judge it against; default the process's
//
// The verdict view (e.g. /slo?objective=checkout&candidate=v2&format=json)
// is what a deploy pipeline polls: {"generated_at", "objective",
// "candidate", "baseline", "verdict": release.Verdict}, whose
// verdict.decision is "go", "no-go" or "not-enough-data"; an unknown
// objective or release is a 404 naming it.
//
// A bad parameter is a 400 naming it; only GET and HEAD are served. Every
// answer carries X-Content-Type-Options: nosniff and Cache-Control:
// no-store; the HTML a Content-Security-Policy that allows no scripts and
// no requests (inline styles only).
func (m *Monitor) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "slo: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
			return
		}
		pq, err := parsePageQuery(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var v any
		tmpl := page
		if pq.objective != "" {
			vv, err := m.verdictView(pq)
			if err != nil {
				code := http.StatusNotFound
				if !errors.Is(err, ErrNoObjective) && !errors.Is(err, ErrNoRelease) {
					code = http.StatusBadRequest
				}
				http.Error(w, err.Error(), code)
				return
			}
			v, tmpl = vv, verdictPage
		} else {
			v = m.view(pq.rng, pq.label)
		}
		var buf bytes.Buffer
		if pq.json {
			enc := json.NewEncoder(&buf)
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				http.Error(w, "slo: encode status: "+err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
		} else {
			if err := tmpl.Execute(&buf, v); err != nil {
				m.log.Error("slo: render page", "err", err)
				http.Error(w, "slo: render page: "+err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'")
		}
		_, _ = w.Write(buf.Bytes()) // a write error means the client left
	})
}

var page = template.Must(template.New("slo").Funcs(template.FuncMap{
	"pct":  func(f float64) string { return fmt.Sprintf("%.2f %%", 100*f) },
	"rate": func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"dur":  fmtDuration,
	"when": func(t time.Time) string { return t.UTC().Format(timeFormat) },
	"chart": func(v jsonStatus) template.HTML {
		return v.BurnDown.svg()
	},
	"young": func(v jsonStatus) bool { return v.status.Observed < v.status.Period },
	"tiers": func(v jsonStatus) []TierStatus { return v.status.Tiers },
	"ttl": func(v jsonStatus) string {
		switch d := v.status.TimeToExhaustion; {
		case d < 0:
			return "not burning"
		case d == 0:
			return "spent"
		default:
			return fmtDuration(d.Round(time.Minute))
		}
	},
	"lasted": func(inc Incident, now time.Time) string {
		end := inc.Resolved
		if inc.Open() {
			end = now
		}
		return fmtDuration(end.Sub(inc.Started).Round(time.Second))
	},
	"ranges": func() []string { return []string{"24h", "7d", "period"} },
	"style":  func() template.HTML { return pageStyle },
	"add":    func(a, b int64) int64 { return a + b },
	"rel": func(id string) string {
		if id == "" {
			return "(unnamed)"
		}
		return id
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Service level objectives</title>
{{style}}</head><body>
<h1>Service level objectives</h1>
<p class="meta">Generated at {{when .GeneratedAt}}. Burn-down range: {{range ranges}}{{if eq . $.Range}}<b>{{.}}</b>{{else}}<a href="?range={{.}}">{{.}}</a>{{end}} {{end}}· <a href="?format=json">JSON</a></p>
<p class="meta">Windows up to a day are exact to 10 seconds; longer windows (3 days, the period) to one hour. The chart has one point per hour.</p>
{{range .Objectives}}<section>
<h2>{{.Objective}}{{if .Threshold}} (under {{.Threshold}}){{end}}: target {{pct .Target}} over {{.Period}}</h2>
{{if young .}}<p class="meta">This service has history for {{.Observed}} only: budgets and burn rates are those of the period so far.</p>{{end}}
<p>Error budget left: <b{{if lt .Budget.Remaining 0.0}} class="bad"{{end}}>{{pct .Budget.Remaining}}</b>
({{printf "%.1f" .Budget.RemainingEvents}} of {{printf "%.1f" .Budget.Allowed}} allowed bad events left; {{.Budget.Bad}} bad of {{.Budget.Total}} events over the last {{.Observed}}).
{{if .BudgetExhausted}}<span class="bad">The error budget is spent.</span>{{end}} At the last hour's burn rate the budget lasts: {{ttl .}}.</p>
{{if .Runbook}}<p>DO: {{.Runbook}}</p>{{end}}{{if .Outcome}}<p>SO THAT: {{.Outcome}}</p>{{end}}
{{chart .}}
<p class="legend"><span><i class="sw" style="background:#2a6"></i>budget left</span><span><i class="sw" style="background:#f08080"></i>page incident</span><span><i class="sw" style="background:#f4b183"></i>ticket incident</span><span><i class="sw" style="border-top:2px dashed #c00;height:0"></i>0 %: budget spent</span></p>
<h3>Alerts</h3>
<div class="scroll"><table><tr><th class="l">alert</th><th>state</th><th class="l">matching tier</th><th>since</th><th class="l">incident</th></tr>
{{range .Alerts}}<tr class="{{.State}}"><td class="l">{{.Severity}}</td><td>{{.State}}</td><td class="l">{{.Tier}}</td><td>{{if .Since}}{{when .Since}}{{end}}</td><td class="l">{{.Incident}}</td></tr>
{{end}}</table></div>
<div class="scroll"><table><tr><th class="l">tier</th><th>windows</th><th>fires above</th><th>long window burn</th><th>short window burn</th><th>holds</th></tr>
{{range tiers .}}<tr{{if .Disabled}} class="disabled"{{end}}><td class="l">{{.Name}}</td><td>{{dur .Long}} / {{dur .Short}}</td><td>{{.BurnRate}}x</td><td>{{rate .Numbers.BurnRateLong}}x</td><td>{{rate .Numbers.BurnRateShort}}x</td><td{{if .Holds}} class="holds"{{end}}>{{if .Disabled}}disabled{{else if .Holds}}yes{{else}}no{{end}}</td></tr>
{{end}}</table></div>
<h3>Windows</h3>
<div class="scroll"><table><tr><th>window</th><th>events</th><th>bad</th><th>error ratio</th><th>burn rate</th></tr>
{{range .Windows}}<tr><td>{{.Window}}</td><td>{{.Total}}</td><td>{{.Bad}}</td><td>{{pct .ErrorRatio}}</td><td>{{rate .BurnRate}}x</td></tr>
{{end}}</table></div>
{{if .Replicas}}<h3>Replicas (the figures above are the fleet's: their sum)</h3>
<div class="scroll"><table><tr><th class="l">replica</th><th>events</th><th>bad</th><th>own budget left</th><th>counts as of</th></tr>
{{range .Replicas}}<tr><td class="l">{{.Instance}}{{if .Self}} (this one){{end}}{{if .Stale}} (silent: history only){{end}}</td><td>{{.Budget.Total}}</td><td>{{.Budget.Bad}}</td><td>{{pct .Budget.Remaining}}</td><td>{{when .At}}</td></tr>
{{end}}</table></div>{{end}}
<h3>Incidents (open and recently resolved)</h3>
{{if .Incidents}}<div class="scroll"><table><tr><th class="l">incident</th><th>severity</th><th class="l">tier</th><th>started</th><th>resolved</th><th>lasted</th><th>peak burn</th><th class="l">acknowledged</th><th class="l">notes</th></tr>
{{range .Incidents}}<tr{{if .Open}} class="firing"{{end}}><td class="l">{{.ID}}</td><td>{{.Severity}}</td><td class="l">{{.Tier}}</td><td>{{when .Started}}</td><td>{{if .Open}}open{{else}}{{when .Resolved}}{{end}}</td><td>{{lasted . $.GeneratedAt}}</td><td>{{rate .Peak.BurnRateLong}}x</td>
<td class="l">{{with .Ack}}{{.By}}, {{when .At}}{{else}}no{{end}}</td><td class="l">{{range .Notes}}{{.By}} ({{when .At}}): {{.Text}}<br>{{end}}</td></tr>
{{end}}</table></div>{{else}}<p>None.</p>{{end}}
{{if .Releases}}<h3>Releases</h3>
<div class="scroll"><table><tr><th class="l">release</th><th class="l">verdict against {{rel $.Release.ID}}</th><th>events</th><th>bad</th><th>error ratio</th><th>counted since</th><th>last event</th></tr>
{{$o := .Objective}}{{range .Releases}}{{$r := .Release}}<tr><td class="l">{{rel .Release}}{{if .Own}} (this process){{end}}</td>
<td class="l reason{{with .Verdict}} {{.Decision}}{{end}}">{{with .Verdict}}<a href="?objective={{$o}}&amp;candidate={{$r}}">{{.Decision}}</a>: {{.Reason}}{{else}}baseline{{end}}</td>
<td>{{add .Good .Bad}}</td><td>{{.Bad}}</td><td>{{pct .ErrorRatio}}</td><td>{{when .First}}</td><td>{{if not .Last.IsZero}}{{when .Last}}{{end}}</td></tr>
{{end}}</table></div>{{if .ReleasesDropped}}<p class="meta">{{.ReleasesDropped}} older releases are no longer counted apart (at most 8 per objective).</p>{{end}}{{end}}
</section>{{else}}<p>No objectives.</p>{{end}}
</body></html>
`))

// verdictView is the verdict view's content.
type verdictView struct {
	GeneratedAt time.Time       `json:"generated_at"`
	Objective   string          `json:"objective"`
	Candidate   string          `json:"candidate"`
	Baseline    string          `json:"baseline"`
	Verdict     release.Verdict `json:"verdict"`
}

func (m *Monitor) verdictView(pq pageQuery) (verdictView, error) {
	vv := verdictView{GeneratedAt: m.clock.Now(), Objective: pq.objective, Candidate: pq.candidate, Baseline: pq.baseline}
	in := m.indicator(pq.objective)
	if in == nil {
		return vv, fmt.Errorf("%w: %q", ErrNoObjective, pq.objective)
	}
	if vv.Baseline == "" {
		vv.Baseline = in.rel.own
	}
	var err error
	vv.Verdict, err = m.verdictOf(in, m.releaseStates(in), vv.Candidate, vv.Baseline)
	return vv, err
}

// pageStyle is the style sheet of the page and the verdict view.
const pageStyle = `<style>
body{font-family:system-ui,sans-serif;margin:1rem auto;max-width:72rem;padding:0 1rem;color:#222;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin:1.6rem 0 .3rem}h3{font-size:1rem;margin:1rem 0 .3rem}
.meta{color:#555;font-size:.9rem;margin:.2rem 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.9rem;margin:.3rem 0;display:block;max-width:100%;overflow-x:auto}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left;white-space:normal}
.firing{background:#fcc}.ok{background:#efe}.disabled{color:#888}.holds{font-weight:bold}
.chart{width:100%;max-width:40rem;height:auto;display:block;margin:.4rem 0}
.chart .tick{font-size:12px;fill:#333}.chart .axis{font-size:13px;fill:#000}
@media (max-width:40rem){.chart .tick{font-size:15px}.chart .axis{font-size:17px}}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.sw{display:inline-block;width:1.2em;height:.7em;vertical-align:middle;margin-right:.3em}
.bad{color:#b00;font-weight:bold}
.go{background:#dfd}.no-go{background:#fcc}.not-enough-data{background:#f4f4f4}
td.reason{min-width:16rem}
.decision{display:inline-block;padding:.2rem .6rem;border-radius:.3rem;font-weight:bold}
nav a{margin-right:.6rem}
</style>`

var verdictPage = template.Must(template.New("verdict").Funcs(template.FuncMap{
	"when":  func(t time.Time) string { return t.UTC().Format(timeFormat) },
	"pct":   func(f float64) string { return fmt.Sprintf("%.2f %%", 100*f) },
	"style": func() template.HTML { return pageStyle },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Release verdict: {{.Candidate}} on {{.Objective}}</title>
{{style}}</head><body>
<h1>Release verdict</h1>
<p class="meta">Generated at {{when .GeneratedAt}}. <a href="?">All objectives</a> · <a href="?objective={{.Objective}}&amp;candidate={{.Candidate}}&amp;baseline={{.Baseline}}&amp;format=json">JSON</a></p>
<p>Candidate <b>{{.Candidate}}</b> against baseline <b>{{.Baseline}}</b> on objective <b>{{.Objective}}</b>:
<span class="decision {{.Verdict.Decision}}">{{.Verdict.Decision}}</span></p>
<p>{{.Verdict.Reason}}.</p>
<div class="scroll"><table><tr><th class="l">release</th><th>events</th><th>bad</th><th>error ratio</th></tr>
<tr><td class="l">{{.Candidate}} (candidate)</td><td>{{.Verdict.Candidate.Total}}</td><td>{{.Verdict.Candidate.Bad}}</td><td>{{pct .Verdict.CandidateErrorRatio}}</td></tr>
<tr><td class="l">{{.Baseline}} (baseline)</td><td>{{.Verdict.Baseline.Total}}</td><td>{{.Verdict.Baseline.Bad}}</td><td>{{pct .Verdict.BaselineErrorRatio}}</td></tr>
</table></div>
<p class="meta">Both releases' events are counted over the same time, since the later of the two began. The test is sequential (release.Compare): a pipeline may look as often as it likes without raising the chance of a wrong go or no-go.</p>
</body></html>
`))
