package slo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"
)

// Incident documents one firing of one alert: when it started, the numbers
// at the start and at the worst moment, and when it resolved.
type Incident struct {
	ID        string    `json:"id"`
	Objective string    `json:"objective"`
	Tier      string    `json:"tier"`
	Severity  Severity  `json:"severity"`
	Started   time.Time `json:"started"`
	Updated   time.Time `json:"updated"`
	Resolved  time.Time `json:"resolved,omitzero"` // zero while open
	Start     Numbers   `json:"start"`
	Peak      Numbers   `json:"peak"`
	End       Numbers   `json:"end,omitzero"`
	Runbook   string    `json:"runbook,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
}

// Open reports whether the incident has not resolved.
func (i Incident) Open() bool { return i.Resolved.IsZero() }

// IncidentRecord is one line of the incident log: the incident as it stood
// after a change ("opened", "updated" when a new peak is reached,
// "resolved").
type IncidentRecord struct {
	Change   string    `json:"change"`
	At       time.Time `json:"at"`
	Incident Incident  `json:"incident"`
}

func newIncident(in *indicator, a *alertState, now time.Time) *Incident {
	return &Incident{
		ID:        fmt.Sprintf("%s/%s/%s", in.name, a.tier.Name, now.UTC().Format("20060102T150405Z")),
		Objective: in.name, Tier: a.tier.Name, Severity: a.tier.Severity,
		Started: now, Updated: now, Start: a.numbers, Peak: a.numbers,
		Runbook: in.obj.Runbook, Outcome: in.obj.Outcome,
	}
}

// update records n; it reports whether the peak rose by 10% or more, which
// is worth a log record (smaller rises would write one every evaluation).
func (i *Incident) update(now time.Time, n Numbers) bool {
	if n.BurnRateLong < i.Peak.BurnRateLong*1.1 {
		return false
	}
	i.Peak, i.Updated = n, now
	return true
}

func (i *Incident) resolve(now time.Time, n Numbers) {
	i.Resolved, i.Updated, i.End = now, now, n
}

// incidentLog is the append-only JSON-lines file; nil-safe when no path is
// configured. Writes are serialized by Monitor.evalMu.
type incidentLog struct {
	f    *os.File
	mu   sync.Mutex            // guards open
	open map[string][]Incident // open incidents by objective, as read at start
}

func openIncidentLog(path string) (*incidentLog, error) {
	l := &incidentLog{open: map[string][]Incident{}}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("slo: incident log: %w", err)
	}
	recs, err := ReadIncidentLog(f)
	if err != nil {
		// A torn last line from a crash is expected; the rest is kept.
		var le *LogError
		if !errors.As(err, &le) {
			f.Close()
			return nil, fmt.Errorf("slo: incident log %s: %w", path, err)
		}
	}
	for _, inc := range Incidents(recs) {
		if inc.Open() {
			l.open[inc.Objective] = append(l.open[inc.Objective], inc)
		}
	}
	l.f = f
	return l, nil
}

// openFor hands out the incidents still open for objective, once.
func (l *incidentLog) openFor(objective string) []*Incident {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*Incident
	for _, inc := range l.open[objective] {
		out = append(out, &inc)
	}
	delete(l.open, objective)
	return out
}

// append writes r as one line and fsyncs it.
func (l *incidentLog) append(r IncidentRecord) error {
	if l.f == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("slo: incident log: %w", err)
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("slo: incident log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("slo: incident log: sync: %w", err)
	}
	return nil
}

func (l *incidentLog) close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// LogError reports a line of the incident log that is not a valid record.
type LogError struct {
	Line int
	Err  error
}

func (e *LogError) Error() string { return fmt.Sprintf("slo: incident log line %d: %v", e.Line, e.Err) }
func (e *LogError) Unwrap() error { return e.Err }

// maxLogLine bounds one record; a longer line is reported, not buffered.
const maxLogLine = 1 << 20

// ReadIncidentLog reads an incident log. It returns every valid record; on
// a malformed line it keeps the records before it and returns a *LogError
// for the first bad line (usually a torn last write).
func ReadIncidentLog(r io.Reader) ([]IncidentRecord, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLogLine)
	var out []IncidentRecord
	var first error
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec IncidentRecord
		err := json.Unmarshal(b, &rec)
		if err == nil {
			err = rec.validate()
		}
		if err != nil {
			if first == nil {
				first = &LogError{Line: line, Err: err}
			}
			continue
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil && first == nil {
		first = &LogError{Line: line + 1, Err: err}
	}
	return out, first
}

func (r IncidentRecord) validate() error {
	switch {
	case r.Change != "opened" && r.Change != "updated" && r.Change != "resolved":
		return fmt.Errorf("unknown change %q", r.Change)
	case r.Incident.ID == "":
		return errors.New("incident without id")
	case r.Incident.Started.IsZero():
		return errors.New("incident without start time")
	case r.Change == "resolved" && r.Incident.Open():
		return errors.New("resolved record without resolution time")
	}
	return nil
}

// Incidents folds records into the latest state of each incident, oldest
// start first.
func Incidents(recs []IncidentRecord) []Incident {
	byID := map[string]Incident{}
	for _, r := range recs {
		byID[r.Incident.ID] = r.Incident
	}
	out := make([]Incident, 0, len(byID))
	for _, inc := range byID {
		out = append(out, inc)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.Before(out[j].Started)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// OpenIncidents lists the incidents open as of the last evaluation.
func (m *Monitor) OpenIncidents() []Incident {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	var out []Incident
	for _, in := range m.indicators() {
		for _, a := range in.alerts {
			if a.inc != nil {
				out = append(out, *a.inc)
			}
		}
	}
	return out
}
