package main

import (
	"html/template"
	"net/http"
)

// endpoints is what the index page lists; each concern adds its own line.
var endpoints = []struct{ Method, Path, What string }{
	{"GET", "/livez?verbose", "liveness: restart me if this fails"},
	{"GET", "/readyz?verbose", "readiness: send me traffic (the downstream check is non-critical: warn, still 200)"},
	{"GET", "/startupz?verbose", "startup: have I finished starting"},
	{"GET", "/healthz?verbose", "every check; add Accept: application/health+json for JSON, ?exclude=NAME to skip one"},
	{"GET", "/readyz/downstream?verbose", "one check on its own"},
	{"GET", "/metrics", "Prometheus text: opskit's metrics, Go runtime and process"},
	{"GET", "/slo", "objectives: error budget, burn rates, alerts, incidents (?format=json)"},
	{"GET", "/queue", "the order queue: depth, oldest age, counters (JSON)"},
	{"GET", "/queue/dead", "dead-lettered orders (JSON, operator token; ?limit= ?after= ?reason=); POST /queue/dead/{id}/requeue or /purge, or /queue/dead/requeue?reason=... in bulk"},
	{"POST", "/slo/incident", "acknowledge or annotate an incident (operator token): form id=ID&action=ack, or action=note&text=..."},
	{"GET", "/audit", "the audit trail of operator actions (JSON; operator token: Authorization: Bearer ...)"},
	{"GET", "/features", "feature usage report (?format=html|md|csv|json, ?period=30d)"},
	{"POST", "/support", "is tenant X affected? (operator token): form tenant=X; ?format=json"},
	{"POST", "/features/switch", "switch a feature off or on (operator token): form name=orders.bulk&on=false&why=...[&trial=0.1]; GET lists the switches"},
	{"GET", "/report", "the weekly ops report (operator token; ?week=2026-W49 or current, ?format=html|md|json); written to reports/ under -data each Monday 00:00"},
	{"POST", "/api/orders", `place an order: {"item": "book", "quantity": 2}, tenant in X-Tenant`},
}

// demoEndpoints exist only with -demo.
var demoEndpoints = []struct{ Method, Path, What string }{
	{"GET", "/demo/downstream", "the simulated downstream: mode and orders received"},
	{"POST", "/demo/downstream?mode=down", "change its mode: up, down, slow, flaky or reject (the demo script then leaves the mode to you; its traffic goes on)"},
}

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>opskit example service</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}
td{padding:.2rem .8rem .2rem 0;vertical-align:top}code{background:#f3f3f3;padding:0 .2rem}</style></head>
<body><h1>opskit example service</h1>
<p>An order service with opskit inside. Demo traffic is {{if .Demo}}on: story <b>{{.Story.Name}}</b>, {{.Story.What}}{{with .Story.Watch}} (watch <a href="{{.}}">{{.}}</a>){{end}}{{else}}off{{end}}.</p>
<table>{{range .Endpoints}}<tr><td><code>{{.Method}}</code></td><td>{{if eq .Method "GET"}}<a href="{{.Path}}">{{.Path}}</a>{{else}}<code>{{.Path}}</code>{{end}}</td><td>{{.What}}</td></tr>
{{end}}</table></body></html>
`))

func (a *app) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	list := endpoints
	if a.cfg.demo {
		list = append(list[:len(list):len(list)], demoEndpoints...)
	}
	s, _ := findStory(a.cfg.demoStory)
	story := struct{ Name, What, Watch string }{s.name, s.what, s.watch}
	indexPage.Execute(w, map[string]any{"Demo": a.cfg.demo && a.cfg.demoTraffic, "Story": story, "Endpoints": list})
}
