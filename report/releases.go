package report

import (
	"cmp"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/internal/markdown"
	"github.com/opskit/opskit/release"
	"github.com/opskit/opskit/slo"
)

// ReleaseSource is what a report reads of an slo.Monitor's per-release
// counts (slo's Tracker.ForRelease). When Sources.Objectives implements it,
// as a *slo.Monitor does, the releases section lists each objective's
// releases that counted events in the week, with the verdict of each
// against the process's own release.
type ReleaseSource interface {
	Releases(objective string) ([]slo.ReleaseCounts, int, error)
	Verdict(objective, candidate, baseline string) (release.Verdict, error)
}

// ReleaseSection is the releases that ran in the week: the one running
// (Sources.Release); every release the week's records name — the
// incidents (the release each opened under) and the audit trail (the
// release that wrote each record) — with when each was first and last
// seen in them; and, from a ReleaseSource, each objective's releases with
// events in the week and their verdicts.
type ReleaseSection struct {
	Section
	Running  release.Info  `json:"running,omitzero"`
	Releases []ReleaseLine `json:"releases"` // first seen first
	Verdicts []VerdictLine `json:"verdicts"` // by objective, then as the objective counts them
}

// ReleaseLine is one release seen in the week's records.
type ReleaseLine struct {
	ID        string    `json:"id"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Incidents int       `json:"incidents"`     // incidents opened under it in the week
	Actions   int       `json:"audit_records"` // audit records it wrote in the week
}

// VerdictLine is one release's events on one objective, counted since
// Since (slo.ReleaseCounts, not only the week's), and its verdict against
// the process's own release.
type VerdictLine struct {
	Objective  string    `json:"objective"`
	Release    string    `json:"release"`
	Own        bool      `json:"own"`       // the process's release: the baseline
	WentLive   bool      `json:"went_live"` // first counted in the week
	Since      time.Time `json:"since"`
	LastEvent  time.Time `json:"last_event,omitzero"`
	Good       int64     `json:"good"`
	Bad        int64     `json:"bad"`
	ErrorRatio float64   `json:"error_ratio"`
	// Decision is release.Compare's (go, no-go, not-enough-data) for a
	// release other than the process's own; empty for the own one, or
	// when no verdict could be made (Error).
	Decision string `json:"decision,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Error    string `json:"error,omitempty"`
}

// releases gathers the release ids of the week's incidents and audit
// records, and the objectives' per-release counts and verdicts.
func releases(src Sources, incs []slo.Incident, recs []audit.Record, from, to time.Time) ReleaseSection {
	s := ReleaseSection{Section: Section{Status: OK}, Running: src.Release, Releases: []ReleaseLine{}, Verdicts: []VerdictLine{}}
	rs, _ := src.Objectives.(ReleaseSource)
	if src.Incidents == nil && src.Audit == nil && rs == nil {
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
	if rs != nil {
		var failed []string
		for _, st := range src.Objectives.Status() {
			lines, err := verdicts(rs, st.Objective, from, to)
			if err != nil {
				failed = append(failed, err.Error())
			}
			s.Verdicts = append(s.Verdicts, lines...)
		}
		if len(failed) > 0 {
			s.Status, s.Note = Failed, strings.Join(failed, "; ")
		}
	}
	return s
}

// verdicts lists objective's releases with events in [from, to).
func verdicts(rs ReleaseSource, objective string, from, to time.Time) ([]VerdictLine, error) {
	counts, _, err := rs.Releases(objective)
	if err != nil {
		return nil, err
	}
	var out []VerdictLine
	for _, c := range counts {
		if c.Last.IsZero() || c.Last.Before(from) || !c.First.Before(to) {
			continue // no event in the week
		}
		l := VerdictLine{Objective: objective, Release: c.Release, Own: c.Own, Since: c.First, LastEvent: c.Last,
			WentLive: !c.First.Before(from), Good: c.Good, Bad: c.Bad, ErrorRatio: c.ErrorRatio}
		if !c.Own {
			v, err := rs.Verdict(objective, c.Release, "")
			if err != nil {
				l.Error = err.Error()
			} else {
				l.Decision, l.Reason = string(v.Decision), v.Reason
			}
		}
		out = append(out, l)
	}
	return out, nil
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
{{- if .Releases.Verdicts}}
<p style="{{css "p"}}">Releases with events this week, and the verdict of each against the release running here (counts since each was first counted):</p>
<div style="{{css "scroll"}}"><table role="presentation" style="{{css "table"}}" cellpadding="0" cellspacing="0">
<tr><th style="{{css "th"}}">Objective</th><th style="{{css "th"}}">Release</th><th style="{{css "th"}}">Counted since</th><th style="{{css "th"}}">Events (bad)</th><th style="{{css "th"}}">Error ratio</th><th style="{{css "th"}}">Verdict</th></tr>
{{- range .Releases.Verdicts}}
<tr><td style="{{css "td"}}">{{.Objective}}</td><td style="{{css "td"}}">{{.Release}}{{if .WentLive}}<br>went live this week{{end}}</td><td style="{{css "td"}}">{{$.Stamp .Since}}</td>
<td style="{{css "num"}}">{{events .Good .Bad}}</td><td style="{{css "num"}}">{{pct .ErrorRatio}}</td>
<td style="{{css "td"}}">{{if .Own}}baseline (running here){{else if .Error}}<span style="{{css "bad"}}">no verdict: {{.Error}}</span>{{else}}<span style="{{verdictStyle .Decision}}">{{.Decision}}</span><br>{{.Reason}}{{end}}</td></tr>
{{- end}}
</table></div>
{{- end}}
{{- end}}
{{- end}}`

func (r *Report) releasesMarkdown(m *mdWriter, loc *time.Location) {
	s := r.Releases
	m.empty(s.Section, "incident source, audit trail or objective source")
	if s.Status == NotConfigured {
		return
	}
	if s.Running.Version != "" || s.Running.ID != "" {
		m.line("Running now: %s.", markdown.Escape(releaseText(s.Running.Version, s.Running.ID)))
		m.line("")
	}
	if len(s.Releases) == 0 {
		m.line("No release is named in this week's incidents or audit records.")
		m.line("")
	} else {
		var rows [][]string
		for _, l := range s.Releases {
			rows = append(rows, []string{markdown.Escape(l.ID), stamp(l.FirstSeen, loc), stamp(l.LastSeen, loc), itoa(l.Incidents), itoa(l.Actions)})
		}
		m.table([]string{"Release", "First seen", "Last seen", "Incidents opened", "Audit records"}, rows)
	}
	if len(s.Verdicts) == 0 {
		return
	}
	m.line("Releases with events this week, and the verdict of each against the release running here (counts since each was first counted):")
	m.line("")
	var rows [][]string
	for _, v := range s.Verdicts {
		rel := markdown.Escape(v.Release)
		if v.WentLive {
			rel += " (went live this week)"
		}
		verdict := "**" + markdown.Escape(v.Decision) + "**: " + markdown.Escape(v.Reason)
		switch {
		case v.Own:
			verdict = "baseline (running here)"
		case v.Error != "":
			verdict = "no verdict: " + markdown.Escape(v.Error)
		}
		rows = append(rows, []string{markdown.Escape(v.Objective), rel, stamp(v.Since, loc), events(v.Good, v.Bad), percent(v.ErrorRatio), verdict})
	}
	m.table([]string{"Objective", "Release", "Counted since", "Events (bad)", "Error ratio", "Verdict"}, rows)
}

// events shows a count of events with its bad ones: "1200 (36)".
func events(good, bad int64) string { return itoa(good+bad) + " (" + itoa(bad) + ")" }

// verdictStyle colours a decision.
func verdictStyle(d string) template.CSS {
	switch release.Decision(d) {
	case release.Go:
		return styles["good"]
	case release.NoGo:
		return styles["bad"]
	}
	return ""
}
