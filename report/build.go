package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/slo"
)

// Build makes the report of week w, with the week starting Monday 00:00 in
// loc (nil means UTC), as of now: a week not over at now is reported up to
// now and marked incomplete. A week that starts after now is an error; a
// failing source is not (its section says so). The queue section shows
// the queue at now without the week's counts, which only a Writer
// samples.
func Build(ctx context.Context, src Sources, w Week, loc *time.Location, now time.Time) (*Report, error) {
	return build(ctx, src, w, loc, now, nil)
}

// queueCount is the queue's counters sampled at the week's edges.
type queueCount struct {
	week       Week
	from, to   time.Time
	start, end queue.Stats
}

func build(ctx context.Context, src Sources, w Week, loc *time.Location, now time.Time, qc *queueCount) (*Report, error) {
	if loc == nil {
		loc = time.UTC
	}
	if !w.valid() {
		return nil, fmt.Errorf("report: week %d-W%d does not exist", w.Year, w.Number)
	}
	from, end := w.Start(loc), w.End(loc)
	if !from.Before(now) {
		return nil, fmt.Errorf("report: week %s has not started at %s", w, now.In(loc).Format(time.RFC3339))
	}
	r := &Report{Week: w.String(), From: from, To: end, Location: loc.String(), Complete: true,
		Generated: now.In(loc), Release: src.Release}
	if now.Before(end) {
		r.To, r.Complete = now.In(loc), false
	}
	r.Compliance = compliance(src.Objectives, r.From, r.To)
	var incs []slo.Incident
	r.Incidents, incs = incidents(ctx, src.Incidents, r.From, r.To)
	r.Noise = noise(r.Incidents.Section, incs, r.From, r.To)
	var recs []audit.Record
	r.Maintenance, recs = maintenance(ctx, src.Audit, r.From, r.To)
	r.Releases = releases(src, incs, recs, r.From, r.To)
	r.Queue = queueSection(ctx, src.Queue, now, qc)
	r.Features = features(src.Features, src, from, end, now)
	return r, nil
}

func notConfigured() Section { return Section{Status: NotConfigured} }

func failed(err error) Section { return Section{Status: Failed, Note: err.Error()} }

func compliance(o ObjectiveSource, from, to time.Time) ComplianceSection {
	if o == nil {
		return ComplianceSection{Section: notConfigured(), Objectives: []ObjectiveLine{}}
	}
	s := ComplianceSection{Section: Section{Status: OK}, Objectives: []ObjectiveLine{}}
	var errs []string
	for _, st := range o.Status() {
		line := ObjectiveLine{Name: st.Objective, Target: st.Target, Period: st.Period, PeriodSeconds: st.Period.Seconds()}
		var err1, err2 error
		line.Week, err1 = window(o, st, from, to)
		line.PeriodToDate, err2 = window(o, st, to.Add(-st.Period), to)
		if err := errors.Join(err1, err2); err != nil {
			line.Error = err.Error()
			if hard(err1) || hard(err2) { // history no longer kept is a note, not a failure
				errs = append(errs, st.Objective)
			}
		}
		s.Objectives = append(s.Objectives, line)
	}
	if len(errs) > 0 {
		s.Status, s.Note = Failed, "no counts for "+strings.Join(errs, ", ")
	}
	return s
}

func hard(err error) bool { return err != nil && !errors.Is(err, slo.ErrNotRetained) }

// window reads one objective's counts over [from, to), as Range sums them.
func window(o ObjectiveSource, st slo.Status, from, to time.Time) (Window, error) {
	win := Window{From: from, To: to, Met: true}
	rs, err := o.Range(st.Objective, from, to)
	if err != nil {
		return win, err
	}
	win.From, win.To, win.Resolution, win.ResolutionSeconds = rs.From, rs.To, rs.Resolution, rs.Resolution.Seconds()
	win.Events, win.Bad = rs.Good+rs.Bad, rs.Bad
	if win.Events > 0 {
		c := rs.Compliance
		win.Compliance = &c
	}
	win.Met, win.BudgetSpent = rs.Met, rs.BudgetSpent
	win.Allowed = float64(win.Events) * (1 - rs.Target)
	return win, nil
}

func incidents(ctx context.Context, src IncidentSource, from, to time.Time) (IncidentSection, []slo.Incident) {
	s := IncidentSection{List: []IncidentLine{}}
	if src == nil {
		s.Section = notConfigured()
		return s, nil
	}
	all, err := src(ctx, from, to)
	s.Section = Section{Status: OK}
	if err != nil {
		s.Section = failed(err)
	}
	var kept []slo.Incident
	var resolvedSum time.Duration
	for _, inc := range all {
		resolvedIn := !inc.Open() && !inc.Resolved.Before(from) && inc.Resolved.Before(to)
		openedIn := !inc.Started.Before(from) && inc.Started.Before(to)
		openAtEnd := inc.Started.Before(to) && (inc.Open() || !inc.Resolved.Before(to))
		if !openedIn && !resolvedIn && !(openAtEnd && inc.Started.Before(from)) {
			continue
		}
		kept = append(kept, inc)
		line := IncidentLine{ID: inc.ID, Objective: inc.Objective, Severity: string(inc.Severity), Started: inc.Started,
			Pages: inc.Pages, Tickets: inc.Tickets, BudgetExhausted: inc.BudgetExhausted, Release: inc.Release.ID}
		if openAtEnd {
			line.Duration = to.Sub(inc.Started) // so far
		} else {
			line.Resolved, line.Duration = inc.Resolved, inc.Resolved.Sub(inc.Started)
		}
		if inc.Ack != nil && inc.Ack.At.Before(to) {
			line.TimeToAck, line.AckedBy = inc.Ack.At.Sub(inc.Started), inc.Ack.By
		}
		line.DurationSeconds, line.TimeToAckSeconds = line.Duration.Seconds(), line.TimeToAck.Seconds()
		s.List = append(s.List, line)
		if openedIn {
			s.Opened++
		}
		if resolvedIn {
			s.Resolved++
			resolvedSum += line.Duration
			s.MaxTimeToResolve = max(s.MaxTimeToResolve, line.Duration)
		}
		if openAtEnd {
			s.OpenAtEnd++
		}
	}
	if s.Resolved > 0 {
		s.MeanTimeToResolve = resolvedSum / time.Duration(s.Resolved)
	}
	s.MeanTimeToResolveSeconds, s.MaxTimeToResolveSeconds = s.MeanTimeToResolve.Seconds(), s.MaxTimeToResolve.Seconds()
	slices.SortStableFunc(s.List, func(a, b IncidentLine) int {
		return cmp.Or(a.Started.Compare(b.Started), strings.Compare(a.ID, b.ID))
	})
	return s, kept
}

func noise(is Section, incs []slo.Incident, from, to time.Time) NoiseSection {
	s := NoiseSection{Section: is, ByObjective: []NoiseLine{}}
	if is.Status == NotConfigured {
		return s
	}
	by := map[string]*NoiseLine{}
	for _, inc := range incs {
		if inc.Started.Before(from) || !inc.Started.Before(to) {
			continue
		}
		l := by[inc.Objective]
		if l == nil {
			l = &NoiseLine{Objective: inc.Objective}
			by[inc.Objective] = l
		}
		l.Incidents++
		l.Pages += inc.Pages
		l.Tickets += inc.Tickets
		s.Pages += inc.Pages
		s.Tickets += inc.Tickets
	}
	for _, l := range by {
		s.ByObjective = append(s.ByObjective, *l)
	}
	slices.SortFunc(s.ByObjective, func(a, b NoiseLine) int {
		return cmp.Or(b.Pages-a.Pages, b.Tickets-a.Tickets, strings.Compare(a.Objective, b.Objective))
	})
	return s
}

// isRead reports whether an action only reads ("report.read", "audit.read").
func isRead(a audit.Action) bool { return strings.HasSuffix(string(a), ".read") }

// maintenance also returns the records in the week.
func maintenance(ctx context.Context, src AuditSource, from, to time.Time) (MaintenanceSection, []audit.Record) {
	s := MaintenanceSection{ByAction: []ActionCount{}, List: []ActionLine{}}
	if src == nil {
		s.Section = notConfigured()
		return s, nil
	}
	recs, err := src(ctx, from, to)
	s.Section = Section{Status: OK}
	if err != nil {
		s.Section = failed(err)
	}
	by := map[string]*ActionCount{}
	recs = slices.DeleteFunc(recs, func(rec audit.Record) bool { return rec.Time.Before(from) || !rec.Time.Before(to) })
	for _, rec := range recs {
		if isRead(rec.Action) {
			s.Reads++
			continue
		}
		s.Actions++
		c := by[string(rec.Action)]
		if c == nil {
			c = &ActionCount{Action: string(rec.Action)}
			by[c.Action] = c
		}
		c.Count++
		switch rec.Result {
		case "ok":
			s.OK++
			c.OK++
		case "denied":
			s.Denied++
			c.Denied++
		default:
			s.Failed++
			c.Failed++
		}
		if len(s.List) == MaxListed {
			s.Omitted++
			continue
		}
		s.List = append(s.List, ActionLine{Time: rec.Time, Actor: rec.Actor, Action: string(rec.Action), Target: rec.Target,
			Result: rec.Result, Detail: rec.Detail, Release: rec.Release})
	}
	for _, c := range by {
		s.ByAction = append(s.ByAction, *c)
	}
	slices.SortFunc(s.ByAction, func(a, b ActionCount) int {
		return cmp.Or(b.Count-a.Count, strings.Compare(a.Action, b.Action))
	})
	return s, recs
}

func queueSection(ctx context.Context, q QueueSource, now time.Time, qc *queueCount) QueueSection {
	if q == nil {
		return QueueSection{Section: notConfigured()}
	}
	s := QueueSection{Section: Section{Status: OK}}
	if qc != nil && qc.to.IsZero() { // the week so far: its end is now
		st, err := q.Stats(ctx)
		if err != nil {
			qc = nil
		} else {
			c := *qc
			c.to, c.end = now, st
			qc = &c
		}
	}
	var st queue.Stats
	if qc != nil {
		st, s.SampledAt = qc.end, qc.to
		s.Counted, s.CountedFrom, s.CountedTo = true, qc.from, qc.to
		s.Accepted = qc.end.Enqueued - qc.start.Enqueued
		s.Delivered = qc.end.Acked - qc.start.Acked
		s.Retried = qc.end.Nacked - qc.start.Nacked
		s.DeadLettered = qc.end.DeadLettered - qc.start.DeadLettered
	} else {
		var err error
		st, err = q.Stats(ctx)
		s.SampledAt = now
		s.Note = "the week's counts were not sampled: the queue counts from when it was opened, " +
			"and no sample of this process run marks the week's start"
		if err != nil {
			s.Section = Section{Status: Failed, Note: err.Error() + "; " + s.Note}
		}
	}
	s.Depth, s.DeadHeld, s.OldestAge, s.OldestAgeSeconds = st.Depth, st.Dead, st.OldestAge, st.OldestAge.Seconds()
	return s
}

// featureDays is what the features section asks the registry for, which
// counts per UTC day: the 7 whole UTC days ending at the last UTC midnight
// at or before the week's end (in a UTC report exactly the week), cut at
// the end of today while the week runs (then fewer days, the last one not
// over). note says how that differs from the week, "" when it does not.
func featureDays(from, end, now time.Time) (days int, until time.Time, note string) {
	const utcDay = 24 * time.Hour
	until = end.UTC().Truncate(utcDay)
	first := until.Add(-7 * utcDay)
	if !first.Equal(from) || !until.Equal(end) {
		note = fmt.Sprintf("The registry counts per UTC day: these are the 7 UTC days ending at the last UTC midnight of the week, not the week in %s (%s to %s UTC).",
			from.Location(), from.UTC().Format("Mon 2 Jan 15:04"), end.UTC().Format("Mon 2 Jan 15:04"))
	}
	if tomorrow := now.UTC().Truncate(utcDay).Add(utcDay); until.After(tomorrow) {
		until = tomorrow
		note = strings.TrimSpace("The week is still running: its UTC days up to today, which is not over. " + note)
	}
	return int(until.Sub(first) / utcDay), until, note
}

func features(f FeatureSource, src Sources, from, end, now time.Time) FeatureSection {
	s := FeatureSection{NeverUsed: []string{}, Rarely: []string{}, Failing: []Failing{}, Changes: []Change{}}
	if f == nil {
		s.Section = notConfigured()
		return s
	}
	days, until, note := featureDays(from, end, now)
	if days < 1 { // a week in a zone east of UTC, begun minutes ago
		s.Section = Section{Status: OK, Note: "No UTC day of the week has begun yet. " + note}
		return s
	}
	p := src.FeaturePolicy
	p.Days, p.End = days, until
	rep, err := f.Report(p)
	if err != nil {
		s.Section = failed(err)
		return s
	}
	s.Section = Section{Status: OK, Note: note}
	s.From, s.To, s.Headline = rep.From, rep.To, rep.Headline
	s.Declared, s.Used = rep.Summary.Declared, rep.Summary.Used
	s.NeverUsed = append(s.NeverUsed, rep.NeverUsed...)
	s.Rarely = append(s.Rarely, rep.RarelyUsed...)
	for _, fl := range rep.Failing {
		s.Failing = append(s.Failing, Failing{Name: fl.Name, Summary: fl.Summary, Failures: fl.Failures, Ratio: fl.Ratio})
	}
	for _, fr := range rep.Features {
		if fr.Uses == fr.PrevUses {
			continue
		}
		s.Changes = append(s.Changes, Change{Name: fr.Name, Uses: fr.Uses, PrevUses: fr.PrevUses, Change: fr.Change})
	}
	slices.SortFunc(s.Changes, func(a, b Change) int {
		return cmp.Or(cmp.Compare(absDiff(b), absDiff(a)), strings.Compare(a.Name, b.Name))
	})
	if len(s.Changes) > MaxChanges {
		s.Changes = s.Changes[:MaxChanges]
	}
	return s
}

func absDiff(c Change) int64 {
	if d := c.Uses - c.PrevUses; d > 0 {
		return d
	}
	return c.PrevUses - c.Uses
}
