package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/opskit/opskit/internal/markdown"
)

// mdWriter writes Markdown, keeping the first write error.
type mdWriter struct {
	w   io.Writer
	err error
}

func (m *mdWriter) line(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format+"\n", args...)
	}
}

// table writes a table whose cells are already escaped.
func (m *mdWriter) table(head []string, rows [][]string) {
	m.line("| %s |", strings.Join(head, " | "))
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
	}
	m.line("| %s |", strings.Join(seps, " | "))
	for _, r := range rows {
		m.line("| %s |", strings.Join(r, " | "))
	}
	m.line("")
}

func (m *mdWriter) empty(s Section, what string) {
	if t := sectionText(s, what); t != "" {
		m.line("_%s_", markdown.Escape(t))
		m.line("")
	}
}

func itoa[T ~int | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }

func (r *Report) writeMarkdown(w io.Writer) error {
	loc := r.location()
	m := &mdWriter{w: w}
	m.line("# %s", markdown.Escape(r.title()))
	m.line("")
	m.line("%s  ", markdown.Escape(r.span()))
	if r.Release.Version != "" || r.Release.ID != "" {
		m.line("Running %s. Generated %s.", markdown.Escape(releaseText(r.Release.Version, r.Release.ID)), markdown.Escape(stamp(r.Generated, loc)))
	} else {
		m.line("Generated %s.", markdown.Escape(stamp(r.Generated, loc)))
	}
	m.line("")
	if h := r.headline(); len(h) > 0 {
		m.line("**%s**", markdown.Escape(strings.Join(h, " · ")))
		m.line("")
	}

	m.line("## Service levels")
	m.line("")
	m.empty(r.Compliance.Section, "objective source (slo.Monitor)")
	if len(r.Compliance.Objectives) > 0 {
		var rows [][]string
		for _, o := range r.Compliance.Objectives {
			name := markdown.Escape(o.Name)
			if o.Error != "" {
				name += " (" + markdown.Escape(o.Error) + ")"
			}
			rows = append(rows, []string{name, percent(o.Target), met(o.Week), itoa(o.Week.Events) + " (" + itoa(o.Week.Bad) + ")",
				percent(o.Week.BudgetSpent), human(o.Period), met(o.PeriodToDate) + ", " + itoa(o.PeriodToDate.Events) + " (" + itoa(o.PeriodToDate.Bad) + ")",
				percent(o.PeriodToDate.BudgetSpent)})
		}
		m.table([]string{"Objective", "Target", "Week", "Events (bad)", "Budget spent", "Period", "Period compliance", "Budget spent"}, rows)
		m.line("Compliance is the share of good events; budget spent is bad events over the bad events the target allows for those events (100 %% spends it exactly). The period is the objective's rolling period ending where the week ends.")
		m.line("")
	}

	m.line("## Incidents")
	m.line("")
	m.empty(r.Incidents.Section, "incident source")
	if r.Incidents.Status != NotConfigured {
		s := fmt.Sprintf("%d opened, %d resolved, %d open at the end of the week.", r.Incidents.Opened, r.Incidents.Resolved, r.Incidents.OpenAtEnd)
		if r.Incidents.Resolved > 0 {
			s += fmt.Sprintf(" Time to resolve: mean %s, longest %s.", human(r.Incidents.MeanTimeToResolve), human(r.Incidents.MaxTimeToResolve))
		}
		m.line("%s", s)
		m.line("")
		if len(r.Incidents.List) > 0 {
			var rows [][]string
			for _, i := range r.Incidents.List {
				id := markdown.Escape(i.ID)
				if i.BudgetExhausted {
					id += " (error budget exhausted)"
				}
				res, dur := "open", human(i.Duration)+" so far"
				if !i.Resolved.IsZero() {
					res, dur = stamp(i.Resolved, loc), human(i.Duration)
				}
				ack := "–"
				if i.AckedBy != "" {
					ack = markdown.Escape(i.AckedBy) + " after " + human(i.TimeToAck)
				}
				rows = append(rows, []string{id, markdown.Escape(i.Severity), stamp(i.Started, loc), res, dur, ack, dash(markdown.Escape(i.Release))})
			}
			m.table([]string{"Incident", "Severity", "Started", "Resolved", "Duration", "Acknowledged", "Release"}, rows)
		}
	}

	m.line("## Notifications (the noise)")
	m.line("")
	m.empty(r.Noise.Section, "incident source")
	if r.Noise.Status != NotConfigured {
		m.line("%s and %s sent for the incidents opened this week.", plural(r.Noise.Pages, "page"), plural(r.Noise.Tickets, "ticket"))
		m.line("")
		if len(r.Noise.ByObjective) > 0 {
			var rows [][]string
			for _, n := range r.Noise.ByObjective {
				rows = append(rows, []string{markdown.Escape(n.Objective), itoa(n.Incidents), itoa(n.Pages), itoa(n.Tickets)})
			}
			m.table([]string{"Objective", "Incidents", "Pages", "Tickets"}, rows)
		}
	}

	m.line("## Maintenance performed")
	m.line("")
	mt := r.Maintenance
	m.empty(mt.Section, "audit trail")
	if mt.Status != NotConfigured {
		m.line("%s: %d done, %d denied, %d failed; %s of reports and logs.", plural(mt.Actions, "operator action"), mt.OK, mt.Denied, mt.Failed, plural(mt.Reads, "read"))
		m.line("")
		if len(mt.ByAction) > 0 {
			var rows [][]string
			for _, a := range mt.ByAction {
				rows = append(rows, []string{markdown.Escape(a.Action), itoa(a.Count), itoa(a.OK), itoa(a.Denied), itoa(a.Failed)})
			}
			m.table([]string{"Action", "Count", "Done", "Denied", "Failed"}, rows)
			rows = nil
			for _, a := range mt.List {
				on := markdown.Escape(a.Target)
				if a.Detail != "" {
					on += " — " + markdown.Escape(a.Detail)
				}
				rows = append(rows, []string{stamp(a.Time, loc), markdown.Escape(a.Actor), markdown.Escape(a.Action), on, markdown.Escape(resultText(a.Result))})
			}
			m.table([]string{"When", "Who", "Action", "On", "Result"}, rows)
			if mt.Omitted > 0 {
				m.line("_and %d more actions (the audit log has them all)._", mt.Omitted)
				m.line("")
			}
		}
	}

	m.line("## Releases")
	m.line("")
	r.releasesMarkdown(m, loc)

	m.line("## Queue")
	m.line("")
	q := r.Queue
	m.empty(q.Section, "queue")
	if q.Status != NotConfigured {
		if q.Counted {
			m.line("From %s to %s: %d accepted, %d delivered, %d retried, %d dead-lettered.", stamp(q.CountedFrom, loc), stamp(q.CountedTo, loc),
				q.Accepted, q.Delivered, q.Retried, q.DeadLettered)
		} else {
			m.line("_Accepted, delivered and dead-lettered this week: not recorded (%s)._", markdown.Escape(q.Note))
		}
		m.line("")
		m.line("At %s: %d waiting, oldest %s; %d dead letters held.", stamp(q.SampledAt, loc), q.Depth, human(q.OldestAge), q.DeadHeld)
		m.line("")
	}

	m.line("## Features")
	m.line("")
	f := r.Features
	m.empty(f.Section, "feature registry")
	if f.Status == OK {
		m.line("**%s**", markdown.Escape(f.Headline))
		m.line("")
		m.line("%s", markdown.Escape(featureSpan(f)))
		m.line("")
		if len(f.Failing) > 0 {
			var rows [][]string
			for _, x := range f.Failing {
				rows = append(rows, []string{markdown.Escape(x.Name), itoa(x.Failures), percent(x.Ratio), markdown.Escape(x.Summary)})
			}
			m.line("Failing:")
			m.line("")
			m.table([]string{"Feature", "Failures", "Ratio", "What"}, rows)
		}
		m.line("Never used: %s.  ", list(f.NeverUsed))
		m.line("Rarely used: %s.", list(f.Rarely))
		m.line("")
		if len(f.Changes) > 0 {
			var rows [][]string
			for _, c := range f.Changes {
				rows = append(rows, []string{markdown.Escape(c.Name), itoa(c.Uses), itoa(c.PrevUses), changeText(c)})
			}
			m.table([]string{"Biggest changes", "Uses", "Before", "Change"}, rows)
		}
	}
	m.line("_Made by opskit from the service's own records: objectives, incident log, audit trail, queue and feature counts._")
	if m.err != nil {
		return fmt.Errorf("report: writing Markdown: %w", m.err)
	}
	return nil
}

// met shows a window's compliance, marked when the target was missed.
func met(w Window) string {
	s := compliancePct(w.Compliance)
	if !w.Met {
		s += " (missed)"
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = markdown.Escape(n)
	}
	return strings.Join(out, ", ")
}
