package report

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// The page is made for mail clients: layout tables, every style inline (a
// mail client drops <style> blocks and external sheets), no script, no
// image, no link to anything outside the message.
var styles = map[string]template.CSS{
	"body":   "margin:0;padding:0;background:#f3f4f6;",
	"outer":  "background:#f3f4f6;table-layout:fixed;",
	"card":   "table-layout:fixed;max-width:760px;background:#ffffff;border:1px solid #d8dbe0;font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.45;color:#1f2328;",
	"pad":    "padding:18px 22px;",
	"h1":     "margin:0 0 4px 0;font-size:21px;color:#1f2328;",
	"h2":     "margin:22px 0 8px 0;font-size:17px;color:#1f2328;border-bottom:1px solid #d8dbe0;padding-bottom:4px;",
	"muted":  "margin:0 0 8px 0;color:#57606a;font-size:13px;",
	"sum":    "margin:10px 0 0 0;padding:10px 12px;background:#f6f8fa;border:1px solid #d8dbe0;",
	"scroll": "overflow-x:auto;max-width:100%;",
	"table":  "border-collapse:collapse;width:100%;font-size:13px;",
	"th":     "text-align:left;padding:4px 6px;border-bottom:2px solid #d8dbe0;background:#f6f8fa;white-space:nowrap;",
	"td":     "text-align:left;padding:4px 6px;border-bottom:1px solid #eaeef2;vertical-align:top;overflow-wrap:break-word;",
	"num":    "text-align:right;padding:4px 6px;border-bottom:1px solid #eaeef2;vertical-align:top;white-space:nowrap;",
	"good":   "color:#1a7f37;font-weight:bold;",
	"bad":    "color:#cf222e;font-weight:bold;",
	"note":   "margin:6px 0;color:#57606a;font-style:italic;",
	"p":      "margin:6px 0;",
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"css": func(name string) template.CSS {
		s, ok := styles[name]
		if !ok {
			panic("report: no style " + name) // a template bug, caught by every test
		}
		return s
	},
	"pct":          percent,
	"compliance":   compliancePct,
	"human":        human,
	"release":      releaseText,
	"result":       resultText,
	"change":       changeText,
	"empty":        sectionText,
	"ratio":        func(f float64) string { return percent(f) },
	"plural":       plural,
	"events":       events,
	"verdictStyle": verdictStyle,
	"featureSpan":  featureSpan,
}).Parse(pageHTML + releasesHTML))

// htmlView is what the template reads: the report and its location.
type htmlView struct {
	*Report
	loc *time.Location
}

func (v htmlView) Stamp(t time.Time) string { return stamp(t, v.loc) }
func (v htmlView) Title() string            { return v.title() }
func (v htmlView) Span() string             { return v.span() }
func (v htmlView) Headline() []string       { return v.headline() }

func (r *Report) writeHTML(w io.Writer) error {
	if err := page.Execute(w, htmlView{Report: r, loc: r.location()}); err != nil {
		return fmt.Errorf("report: rendering HTML: %w", err)
	}
	return nil
}

const pageHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title></head>
<body style="{{css "body"}}">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="{{css "outer"}}"><tr><td align="center" style="padding:12px;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="{{css "card"}}"><tr><td style="{{css "pad"}}">
<h1 style="{{css "h1"}}">{{.Title}}</h1>
<p style="{{css "muted"}}">{{.Span}}</p>
{{- if or .Release.Version .Release.ID}}
<p style="{{css "muted"}}">Running {{release .Release.Version .Release.ID}}. Generated {{.Stamp .Generated}}.</p>
{{- else}}
<p style="{{css "muted"}}">Generated {{.Stamp .Generated}}.</p>
{{- end}}
{{- with .Headline}}
<div style="{{css "sum"}}">{{range $i, $h := .}}{{if $i}} · {{end}}{{$h}}{{end}}</div>
{{- end}}

<h2 style="{{css "h2"}}">Service levels</h2>
{{- with empty .Compliance.Section "objective source (slo.Monitor)"}}<p style="{{css "note"}}">{{.}}</p>{{end}}
{{- if .Compliance.Objectives}}
<div style="{{css "scroll"}}"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">Objective</th><th style="{{css "th"}}">Target</th><th style="{{css "th"}}">This week<br>events (bad)</th><th style="{{css "th"}}">Budget<br>spent</th><th style="{{css "th"}}">Period</th><th style="{{css "th"}}">Over the period<br>events (bad)</th><th style="{{css "th"}}">Budget<br>spent</th></tr>
{{- range .Compliance.Objectives}}
<tr><td style="{{css "td"}}">{{.Name}}{{with .Error}}<br><span style="{{css "bad"}}">{{.}}</span>{{end}}</td>
<td style="{{css "num"}}">{{pct .Target}}</td>
<td style="{{css "num"}}"><span style="{{if .Week.Met}}{{css "good"}}{{else}}{{css "bad"}}{{end}}">{{compliance .Week.Compliance}}</span><br>{{.Week.Events}} ({{.Week.Bad}})</td>
<td style="{{css "num"}}">{{pct .Week.BudgetSpent}}</td>
<td style="{{css "num"}}">{{human .Period}}</td>
<td style="{{css "num"}}"><span style="{{if .PeriodToDate.Met}}{{css "good"}}{{else}}{{css "bad"}}{{end}}">{{compliance .PeriodToDate.Compliance}}</span><br>{{.PeriodToDate.Events}} ({{.PeriodToDate.Bad}})</td>
<td style="{{css "num"}}">{{pct .PeriodToDate.BudgetSpent}}</td></tr>
{{- end}}
</table></div>
<p style="{{css "note"}}">Compliance is the share of good events; budget spent is bad events over the bad events the target allows for those events (100 % spends it exactly). The period is the objective's rolling period ending where the week ends.</p>
{{- end}}

<h2 style="{{css "h2"}}">Incidents</h2>
{{- with empty .Incidents.Section "incident source"}}<p style="{{css "note"}}">{{.}}</p>{{end}}
{{- if ne .Incidents.Status "not configured"}}
<p style="{{css "p"}}">{{.Incidents.Opened}} opened, {{.Incidents.Resolved}} resolved, {{.Incidents.OpenAtEnd}} open at the end of the week.{{if .Incidents.Resolved}} Time to resolve: mean {{human .Incidents.MeanTimeToResolve}}, longest {{human .Incidents.MaxTimeToResolve}}.{{end}}</p>
{{- if .Incidents.List}}
<div style="{{css "scroll"}}"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">Incident</th><th style="{{css "th"}}">Severity</th><th style="{{css "th"}}">Started</th><th style="{{css "th"}}">Resolved</th><th style="{{css "th"}}">Duration</th><th style="{{css "th"}}">Ack</th><th style="{{css "th"}}">Release</th></tr>
{{- range .Incidents.List}}
<tr><td style="{{css "td"}}">{{.ID}}{{if .BudgetExhausted}}<br><span style="{{css "bad"}}">error budget exhausted</span>{{end}}</td>
<td style="{{css "td"}}">{{.Severity}}</td>
<td style="{{css "td"}}">{{$.Stamp .Started}}</td>
<td style="{{css "td"}}">{{if .Resolved.IsZero}}<span style="{{css "bad"}}">open</span>{{else}}{{$.Stamp .Resolved}}{{end}}</td>
<td style="{{css "num"}}">{{human .Duration}}{{if .Resolved.IsZero}} so far{{end}}</td>
<td style="{{css "td"}}">{{if .AckedBy}}{{.AckedBy}} after {{human .TimeToAck}}{{else}}–{{end}}</td>
<td style="{{css "td"}}">{{with .Release}}{{.}}{{else}}–{{end}}</td></tr>
{{- end}}
</table></div>
{{- end}}
{{- end}}

<h2 style="{{css "h2"}}">Notifications (the noise)</h2>
{{- with empty .Noise.Section "incident source"}}<p style="{{css "note"}}">{{.}}</p>{{end}}
{{- if ne .Noise.Status "not configured"}}
<p style="{{css "p"}}">{{plural .Noise.Pages "page"}} and {{plural .Noise.Tickets "ticket"}} sent for the incidents opened this week.</p>
{{- if .Noise.ByObjective}}
<div style="{{css "scroll"}}"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">Objective</th><th style="{{css "th"}}">Incidents</th><th style="{{css "th"}}">Pages</th><th style="{{css "th"}}">Tickets</th></tr>
{{- range .Noise.ByObjective}}
<tr><td style="{{css "td"}}">{{.Objective}}</td><td style="{{css "num"}}">{{.Incidents}}</td><td style="{{css "num"}}">{{.Pages}}</td><td style="{{css "num"}}">{{.Tickets}}</td></tr>
{{- end}}
</table></div>
{{- end}}
{{- end}}

<h2 style="{{css "h2"}}">Maintenance performed</h2>
{{- with empty .Maintenance.Section "audit trail"}}<p style="{{css "note"}}">{{.}}</p>{{end}}
{{- if ne .Maintenance.Status "not configured"}}
<p style="{{css "p"}}">{{plural .Maintenance.Actions "operator action"}}: {{.Maintenance.OK}} done, {{.Maintenance.Denied}} denied, {{.Maintenance.Failed}} failed; {{plural .Maintenance.Reads "read"}} of reports and logs.</p>
{{- if .Maintenance.ByAction}}
<div style="{{css "scroll"}}"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">Action</th><th style="{{css "th"}}">Count</th><th style="{{css "th"}}">Done</th><th style="{{css "th"}}">Denied</th><th style="{{css "th"}}">Failed</th></tr>
{{- range .Maintenance.ByAction}}
<tr><td style="{{css "td"}}">{{.Action}}</td><td style="{{css "num"}}">{{.Count}}</td><td style="{{css "num"}}">{{.OK}}</td><td style="{{css "num"}}">{{.Denied}}</td><td style="{{css "num"}}">{{.Failed}}</td></tr>
{{- end}}
</table></div>
<div style="{{css "scroll"}};margin-top:10px;"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">When</th><th style="{{css "th"}}">Who</th><th style="{{css "th"}}">Action</th><th style="{{css "th"}}">On</th><th style="{{css "th"}}">Result</th></tr>
{{- range .Maintenance.List}}
<tr><td style="{{css "td"}}">{{$.Stamp .Time}}</td><td style="{{css "td"}}">{{.Actor}}</td><td style="{{css "td"}}">{{.Action}}</td><td style="{{css "td"}}">{{.Target}}{{with .Detail}}<br>{{.}}{{end}}</td><td style="{{css "td"}}">{{result .Result}}</td></tr>
{{- end}}
</table></div>
{{- if .Maintenance.Omitted}}<p style="{{css "note"}}">and {{.Maintenance.Omitted}} more actions (the audit log has them all).</p>{{end}}
{{- end}}
{{- end}}

<h2 style="{{css "h2"}}">Releases</h2>
{{- with empty .Releases.Section "incident source, audit trail or objective source"}}<p style="{{css "note"}}">{{.}}</p>{{end}}
{{- template "releases" .}}

<h2 style="{{css "h2"}}">Queue</h2>
{{- with empty .Queue.Section "queue"}}<p style="{{css "note"}}">{{.}}</p>{{end}}
{{- if ne .Queue.Status "not configured"}}
{{- if .Queue.Counted}}
<p style="{{css "p"}}">From {{.Stamp .Queue.CountedFrom}} to {{.Stamp .Queue.CountedTo}}: {{.Queue.Accepted}} accepted, {{.Queue.Delivered}} delivered, {{.Queue.Retried}} retried, {{.Queue.DeadLettered}} dead-lettered.</p>
{{- else}}
<p style="{{css "note"}}">Accepted, delivered and dead-lettered this week: not recorded ({{.Queue.Note}}).</p>
{{- end}}
<p style="{{css "p"}}">At {{.Stamp .Queue.SampledAt}}: {{.Queue.Depth}} waiting, oldest {{human .Queue.OldestAge}}; {{.Queue.DeadHeld}} dead letters held.</p>
{{- end}}

<h2 style="{{css "h2"}}">Features</h2>
{{- with empty .Features.Section "feature registry"}}<p style="{{css "note"}}">{{.}}</p>{{end}}
{{- if eq .Features.Status "ok"}}
<p style="{{css "p"}}"><strong>{{.Features.Headline}}</strong></p>
<p style="{{css "muted"}}">{{featureSpan .Features}}</p>
{{- if .Features.Failing}}
<p style="{{css "p"}}"><span style="{{css "bad"}}">Failing:</span></p>
<div style="{{css "scroll"}}"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">Feature</th><th style="{{css "th"}}">Failures</th><th style="{{css "th"}}">Ratio</th><th style="{{css "th"}}">What</th></tr>
{{- range .Features.Failing}}
<tr><td style="{{css "td"}}">{{.Name}}</td><td style="{{css "num"}}">{{.Failures}}</td><td style="{{css "num"}}">{{ratio .Ratio}}</td><td style="{{css "td"}}">{{.Summary}}</td></tr>
{{- end}}
</table></div>
{{- end}}
<p style="{{css "p"}}">Never used: {{range $i, $n := .Features.NeverUsed}}{{if $i}}, {{end}}{{$n}}{{else}}none{{end}}.</p>
<p style="{{css "p"}}">Rarely used: {{range $i, $n := .Features.Rarely}}{{if $i}}, {{end}}{{$n}}{{else}}none{{end}}.</p>
{{- if .Features.Changes}}
<div style="{{css "scroll"}}"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">Biggest changes</th><th style="{{css "th"}}">Uses</th><th style="{{css "th"}}">Before</th><th style="{{css "th"}}">Change</th></tr>
{{- range .Features.Changes}}
<tr><td style="{{css "td"}}">{{.Name}}</td><td style="{{css "num"}}">{{.Uses}}</td><td style="{{css "num"}}">{{.PrevUses}}</td><td style="{{css "num"}}">{{change .}}</td></tr>
{{- end}}
</table></div>
{{- end}}
{{- end}}
<p style="{{css "muted"}};margin-top:22px;">Made by opskit from the service's own records: objectives, incident log, audit trail, queue and feature counts.</p>
</td></tr></table>
</td></tr></table>
</body></html>
`
