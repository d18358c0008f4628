package report

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// ReleaseSection is the releases that ran in the week: the one running
// (Sources.Release) and every release the week's records name — the
// incidents (the release each opened under) and the audit trail (the
// release that wrote each record) — with when each was first and last
// seen in them.
type ReleaseSection struct {
	Section
	Running  release.Info  `json:"running,omitzero"`
	Releases []ReleaseLine `json:"releases"` // first seen first
}

// ReleaseLine is one release seen in the week's records.
type ReleaseLine struct {
	ID        string    `json:"id"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Incidents int       `json:"incidents"`     // incidents opened under it in the week
	Actions   int       `json:"audit_records"` // audit records it wrote in the week
}

// releases gathers the release ids of the week's incidents and audit
// records.
func releases(src Sources, incs []slo.Incident, recs []audit.Record, from, to time.Time) ReleaseSection {
	s := ReleaseSection{Section: Section{Status: OK}, Running: src.Release, Releases: []ReleaseLine{}}
	if src.Incidents == nil && src.Audit == nil {
		s.Section = notConfigured()
		return s
	}
	by := map[string]*ReleaseLine{}
	seen := func(id string, at time.Time) *ReleaseLine {
		l := by[id]
		if l == nil {
			l = &ReleaseLine{ID: id, FirstSeen: at, LastSeen: at}
			by[id] = l
		}
		if at.Before(l.FirstSeen) {
			l.FirstSeen = at
		}
		if at.After(l.LastSeen) {
			l.LastSeen = at
		}
		return l
	}
	for _, inc := range incs {
		if inc.Release.ID != "" && !inc.Started.Before(from) && inc.Started.Before(to) {
			seen(inc.Release.ID, inc.Started).Incidents++
		}
	}
	for _, rec := range recs {
		if rec.Release != "" {
			seen(rec.Release, rec.Time).Actions++
		}
	}
	for _, l := range by {
		s.Releases = append(s.Releases, *l)
	}
	slices.SortFunc(s.Releases, func(a, b ReleaseLine) int {
		return cmp.Or(a.FirstSeen.Compare(b.FirstSeen), strings.Compare(a.ID, b.ID))
	})
	return s
}

const releasesHTML = `{{define "releases"}}
{{- if ne .Releases.Status "not configured"}}
{{- with .Releases.Running}}{{if or .Version .ID}}<p style="{{css "p"}}">Running now: {{release .Version .ID}}.</p>{{end}}{{end}}
{{- if .Releases.Releases}}
<div style="{{css "scroll"}}"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">Release</th><th style="{{css "th"}}">First seen</th><th style="{{css "th"}}">Last seen</th><th style="{{css "th"}}">Incidents opened</th><th style="{{css "th"}}">Audit records</th></tr>
{{- range .Releases.Releases}}
<tr><td style="{{css "td"}}">{{.ID}}</td><td style="{{css "td"}}">{{$.Stamp .FirstSeen}}</td><td style="{{css "td"}}">{{$.Stamp .LastSeen}}</td><td style="{{css "num"}}">{{.Incidents}}</td><td style="{{css "num"}}">{{.Actions}}</td></tr>
{{- end}}
</table></div>
{{- else}}
<p style="{{css "p"}}">No release is named in this week's incidents or audit records.</p>
{{- end}}
{{- end}}
{{- end}}`

func (r *Report) releasesMarkdown(m *mdWriter, loc *time.Location) {
	s := r.Releases
	m.empty(s.Section, "incident source or audit trail")
	if s.Status == NotConfigured {
		return
	}
	if s.Running.Version != "" || s.Running.ID != "" {
		m.line("Running now: %s.", mdText(releaseText(s.Running.Version, s.Running.ID)))
		m.line("")
	}
	if len(s.Releases) == 0 {
		m.line("No release is named in this week's incidents or audit records.")
		m.line("")
		return
	}
	var rows [][]string
	for _, l := range s.Releases {
		rows = append(rows, []string{mdText(l.ID), stamp(l.FirstSeen, loc), stamp(l.LastSeen, loc), itoa(l.Incidents), itoa(l.Actions)})
	}
	m.table([]string{"Release", "First seen", "Last seen", "Incidents opened", "Audit records"}, rows)
}
