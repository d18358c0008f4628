package feature

import (
	"fmt"
	"html/template"
)

// htmlReport is the self-contained HTML report: inline CSS and SVG, no
// scripts or external assets. html/template escapes every value for the
// context it lands in, so hostile names, owners and descriptions stay text.
var htmlReport = template.Must(template.New("report").Funcs(template.FuncMap{
	"day":       day,
	"seen":      seen,
	"change":    changeText,
	"points":    sparkPoints,
	"pctf":      formatPct,
	"last":      lastDay,
	"trend":     trendText,
	"est":       tenantsText,
	"reason":    reasonText,
	"failTitle": failingTitle,
	"failDay":   failingDay,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Feature usage {{day .From}} to {{last .To}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
td.n{text-align:right}.never{color:#b00}.rare{color:#a60}.grace{color:#777}.used{color:#070}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{font-size:1.6em;display:block}small{color:#666}svg polyline{fill:none;stroke:#36c;stroke-width:1.5}
.headline{font-size:1.5em;font-weight:bold}.failing{border:2px solid #b00;border-radius:6px;padding:4px 14px;margin:1em 0}
</style></head><body>
<h1>Feature usage</h1>
<p class="headline">{{.Headline}}</p>
<div class="failing"><h2 class="never">{{failTitle .}} ({{len .Failing}})</h2>{{if .Failing}}<ul>{{range .Failing}}<li><b>{{.Summary}}</b>{{if .Reasons}}<ul>{{range .Reasons}}<li>{{reason .}}</li>{{end}}</ul>{{end}}</li>{{end}}</ul>{{else}}<p>None: no feature's failures rose {{failDay .}}.</p>{{end}}</div>
{{if .Switched}}<div class="failing"><h2 class="never">Switched off ({{len .Switched}})</h2><ul>{{range .Switched}}<li>{{.}}</li>{{end}}</ul></div>{{end}}
<p>{{day .From}} to {{last .To}} ({{.Days}} days, compared with the {{.Days}} days before) · generated {{seen .Generated}} UTC · instances: {{range $i, $n := .Instances}}{{if $i}}, {{end}}{{$n}}{{end}}</p>
{{with .Summary}}<div class="cards">
<div class="card"><b>{{.Declared}}</b>declared</div>
<div class="card used"><b>{{.Used}}</b>used ({{pctf .UsedPct}})</div>
<div class="card rare"><b>{{.RareOrNever}}</b>rarely or never used ({{pctf .RareOrNeverPct}})</div>
<div class="card rare"><b>{{.Rarely}}</b>rarely used</div>
<div class="card rare"><b>{{.Unused}}</b>not used in the period</div>
<div class="card never"><b>{{.Never}}</b>never used ({{pctf .NeverPct}})</div>
<div class="card grace"><b>{{.InGrace}}</b>unused, in grace period</div>
<div class="card"><b>{{.TotalUses}}</b>uses ({{.TotalFailures}} failed) by {{est .Tenants .TenantsErr}}{{if .Saturated}} (saturated){{end}} tenants</div>
</div>{{end}}
{{range .Warnings}}<p class="never">Warning: {{.}}</p>{{end}}
<h2>Every feature</h2>
<table><thead><tr><th>Feature</th><th>Owner</th><th>Status</th><th>Uses</th><th>Failures</th><th>Change</th><th>Tenants</th><th>Failing tenants</th><th>Adoption</th><th>First seen</th><th>Last seen</th><th>Trend ({{.Days}}+{{.Days}} days shown)</th></tr></thead><tbody>
{{range .Features}}<tr><td><b>{{.Name}}</b><br><small>{{.Description}} · since {{day .Since}}</small></td><td>{{.Owner}}</td>
<td class="{{if eq .Status "never used"}}never{{else if eq .Status "used"}}used{{else if eq .Status "unused, in grace period"}}grace{{else}}rare{{end}}">{{.Status}}</td>
<td class="n">{{.Uses}}</td><td class="n">{{.Failures}}{{with .Reasons}}<br><small>{{(index . 0).Text}}</small>{{end}}</td><td class="n">{{change .Change "n/a"}}</td><td class="n">{{est .Tenants .TenantsErr}}{{if .Saturated}} (saturated){{end}}</td><td class="n">{{est .FailingTenants .FailingTenantsErr}}</td><td class="n">{{pctf .AdoptionPct}}</td>
<td>{{day .FirstSeen}}</td><td>{{seen .LastSeen}}{{with .Switch}}{{if not .On}}<br><b class="never">switched off</b>{{end}}{{end}}</td>
<td><svg width="120" height="24" viewBox="0 0 120 24" role="img" aria-label="daily uses, trend {{.Trend}}"><polyline points="{{points .Daily}}"/></svg> {{trend .}}</td></tr>
{{end}}</tbody></table>
<h2>Never used ({{len .NeverUsed}})</h2>{{if .NeverUsed}}<ul>{{range .NeverUsed}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h2>Rarely used or not used in the period ({{len .RarelyUsed}})</h2>{{if .RarelyUsed}}<ul>{{range .RarelyUsed}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h2>Declining ({{len .Declining}})</h2>{{if .Declining}}<ul>{{range .Declining}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h2>New ({{len .New}})</h2>{{if .New}}<ul>{{range .New}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h2>Catalog drift ({{len .Drift}})</h2>{{if .Drift}}<table><thead><tr><th>Undeclared name</th><th>Uses</th><th>First seen</th><th>Last seen</th></tr></thead><tbody>
{{range .Drift}}<tr><td>{{.Name}}</td><td class="n">{{.Uses}}</td><td>{{seen .FirstSeen}}</td><td>{{seen .LastSeen}}</td></tr>{{end}}</tbody></table>{{else}}<p>None: every name used is declared.</p>{{end}}
<h2>Method</h2><p><small>{{.Method}}</small></p>
</body></html>
`))

func formatPct(f float64) string { return fmt.Sprintf("%.1f%%", f) }
