package slo

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opskit/opskit/release"
)

// Incident documents one outage episode of one objective: from the first
// moment its page or ticket alert fires until neither does. Tier and
// severity changes inside the episode update it; it carries the numbers at
// the start, at the worst moment and at the end, whether the error budget
// ran out, and what operators did (acknowledgement and notes).
type Incident struct {
	ID        string    `json:"id"`
	Objective string    `json:"objective"`
	Severity  Severity  `json:"severity"` // the highest severity reached
	Tier      string    `json:"tier"`     // the tier leading the episode, or the last one
	Started   time.Time `json:"started"`
	Updated   time.Time `json:"updated"`
	Resolved  time.Time `json:"resolved,omitzero"` // zero while open
	Start     Numbers   `json:"start"`
	Peak      Numbers   `json:"peak"`
	End       Numbers   `json:"end,omitzero"`
	Runbook   string    `json:"runbook,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	// BudgetExhausted is true when the error budget ran out during the
	// episode (a state, not a notification).
	BudgetExhausted bool `json:"budget_exhausted,omitempty"`
	// Pages and Tickets count the firing notifications the episode sent:
	// at most one each.
	Pages   int    `json:"pages"`
	Tickets int    `json:"tickets"`
	Ack     *Ack   `json:"ack,omitempty"`
	Notes   []Note `json:"notes,omitempty"`
	// Release is what the Monitor ran (WithRelease) when the episode
	// opened; later updates keep it. Zero without WithRelease, and in
	// records written before it existed.
	Release release.Info `json:"release,omitzero"`
	// Impact is Objective.Impact's latest text while the episode was open:
	// who the failures hurt. Empty without the hook.
	Impact string `json:"impact,omitempty"`
	// Replicas are the replicas of a fleet (WithStore) whose own events
	// burned above the leading tier's error ratio over its long window at
	// some evaluation of the episode, sorted. Empty without a store.
	Replicas []string `json:"replicas,omitempty"`
}

// Ack says who took an incident on, and when.
type Ack struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Note is an operator's remark on an incident.
type Note struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Open reports whether the incident has not resolved.
func (i Incident) Open() bool { return i.Resolved.IsZero() }

// clone copies i, its notes included, for a record or a reader.
func (i *Incident) clone() Incident {
	c := *i
	c.Notes = append([]Note(nil), i.Notes...)
	c.Replicas = append([]string(nil), i.Replicas...)
	if i.Ack != nil {
		a := *i.Ack
		c.Ack = &a
	}
	return c
}

// incidentVersion is the record format written today. Version 1 (no "v"
// field) had one incident per firing tier; it is still read.
const incidentVersion = 2

// IncidentRecord is one line of the incident log: the incident as it stood
// after a change: "opened", "updated" (tier, severity, a new peak, budget
// exhausted), "acked", "noted" or "resolved".
type IncidentRecord struct {
	Version int       `json:"v,omitempty"` // 2; absent in version 1 logs
	Change  string    `json:"change"`
	At      time.Time `json:"at"`
	Why     string    `json:"why,omitempty"` // what changed, in words
	// Replica is the instance (WithInstance) of the Monitor that wrote the
	// record; empty in records written before it existed.
	Replica  string   `json:"replica,omitempty"`
	Incident Incident `json:"incident"`
}

// incidentID names an episode "<objective>/<start, UTC>", with a suffix
// when a second episode of the same objective starts in the same second.
// With a store the leader's instance follows ("@<instance>"), so two
// replicas that both believed they led never write the same id.
func (m *Monitor) incidentID(objective string, now time.Time) string {
	id := objective + "/" + now.UTC().Format("20060102T150405Z")
	if m.fleet != nil {
		id += "@" + m.instance
	}
	m.incMu.Lock()
	defer m.incMu.Unlock()
	base := id
	for n := 2; m.idTaken(id); n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	return id
}

// idTaken reports whether id names a recent incident. Requires incMu.
func (m *Monitor) idTaken(id string) bool {
	for _, inc := range m.recent {
		if inc.ID == id {
			return true
		}
	}
	return false
}

func (in *indicator) newIncident(id string, now time.Time) *Incident {
	n := in.incidentNumbers()
	return &Incident{
		ID: id, Objective: in.name, Severity: in.currentSeverity(), Tier: in.currentTier(),
		Started: now, Updated: now, Start: n, Peak: n,
		Runbook: in.obj.Runbook, Outcome: in.obj.Outcome, BudgetExhausted: in.exhausted,
		Release: in.release, Impact: in.impact,
	}
}

// track follows the episode's leading tier and severity; it reports
// whether the peak rose by 10% or more, which is worth a log record
// (smaller rises would write one every evaluation).
func (i *Incident) track(now time.Time, n Numbers, sev Severity, tier string) bool {
	if sev == Page {
		i.Severity = Page
	}
	if tier != i.Tier {
		i.Tier, i.Updated = tier, now
	}
	if n.BurnRateLong < i.Peak.BurnRateLong*1.1 {
		return false
	}
	i.Peak, i.Updated = n, now
	return true
}

func (i *Incident) resolve(now time.Time, n Numbers) {
	i.Resolved, i.Updated, i.End = now, now, n
}

// keepRecent is how many incidents Monitor.Incidents keeps in memory.
const keepRecent = 50

// remember keeps the latest state of inc among the recent incidents, with
// every acknowledgement and note either copy has.
func (m *Monitor) remember(inc Incident) {
	inc = inc.clone()
	m.incMu.Lock()
	defer m.incMu.Unlock()
	for i := range m.recent {
		if m.recent[i].ID == inc.ID {
			inc.mergeOperator(&m.recent[i])
			m.recent[i] = inc
			return
		}
	}
	m.recent = append(m.recent, inc)
	if len(m.recent) > keepRecent {
		// Drop the oldest resolved one; open incidents stay.
		for i := range m.recent {
			if !m.recent[i].Open() {
				m.recent = append(m.recent[:i], m.recent[i+1:]...)
				break
			}
		}
	}
}

// Incidents returns the open incidents and the recently resolved ones (up
// to 50 in all, from this run and the incident log), newest first. With a
// store they are the fleet's, read from its log first.
func (m *Monitor) Incidents() []Incident {
	m.refreshIncidents()
	m.incMu.Lock()
	out := make([]Incident, len(m.recent))
	for i := range m.recent {
		out[i] = m.recent[i].clone()
	}
	m.incMu.Unlock()
	sort.SliceStable(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out
}

// incidentLog is the append-only JSON-lines file; nil-safe when no path is
// configured. Writes are serialized by Monitor.evalMu.
type incidentLog struct {
	f    *os.File
	mu   sync.Mutex            // guards open
	open map[string][]Incident // open incidents by objective, as read at start
	all  []Incident            // every incident in the log, oldest first, as read at start
}

func openIncidentLog(path string) (*incidentLog, error) {
	l := &incidentLog{open: map[string][]Incident{}}
	if path == "" {
		return l, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("slo: incident log directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("slo: incident log: %w", err)
	}
	recs, err := repairTail(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("slo: incident log %s: %w", path, err)
	}
	l.all = Incidents(recs)
	for _, inc := range l.all {
		if inc.Open() {
			l.open[inc.Objective] = append(l.open[inc.Objective], inc)
		}
	}
	l.f = f
	return l, nil
}

// repairTail reads every record of f and cuts a torn last line (a write
// cut short by a crash) so the next record starts on a line of its own,
// then leaves f positioned at its end. A bad line that is not the last one
// is kept and reported by ReadIncidentLog, never silently dropped.
func repairTail(f *os.File) ([]IncidentRecord, error) {
	b, err := io.ReadAll(io.LimitReader(f, 1<<30))
	if err != nil {
		return nil, err
	}
	if n := len(b); n > 0 && b[n-1] != '\n' {
		// An unterminated last line is a write cut short: the logger ends
		// every record with a newline. A complete record only lacks it;
		// anything else is cut so the next record starts a line.
		cut := bytes.LastIndexByte(b, '\n') + 1
		if recs, err := ReadIncidentLog(bytes.NewReader(b[cut:])); err == nil && len(recs) == 1 {
			if _, err := f.WriteAt([]byte{'\n'}, int64(n)); err != nil {
				return nil, fmt.Errorf("ending last record: %w", err)
			}
			b = append(b, '\n')
		} else {
			if err := f.Truncate(int64(cut)); err != nil {
				return nil, fmt.Errorf("cutting torn tail: %w", err)
			}
			b = b[:cut]
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("repairing tail: %w", err)
		}
	}
	recs, _ := ReadIncidentLog(bytes.NewReader(b)) // bad lines inside are skipped, kept on disk
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return nil, err
	}
	return recs, nil
}

// takeOpen hands out the incidents still open for objective, once, oldest
// first.
func (l *incidentLog) takeOpen(objective string) []Incident {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.open[objective]
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
	if err != nil {
		return fmt.Errorf("slo: incident log: %w", err)
	}
	return nil
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

// ReadIncidentLog reads an incident log of any version. It returns every
// valid record; on a malformed line it keeps the records around it and
// returns a *LogError for the first bad line.
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
		rec, err := parseRecord(b)
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

// parseRecord decodes and checks one record of any version.
func parseRecord(b []byte) (IncidentRecord, error) {
	var rec IncidentRecord
	err := json.Unmarshal(b, &rec)
	if err == nil {
		err = rec.validate()
	}
	if err != nil {
		return IncidentRecord{}, err
	}
	if rec.Version == 0 {
		rec.Version = 1
	}
	return rec, nil
}

var changes = []string{"opened", "updated", "acked", "noted", "resolved"}

func (r IncidentRecord) validate() error {
	switch {
	case r.Version < 0 || r.Version > incidentVersion:
		return fmt.Errorf("record version %d: this build reads versions 1 to %d", r.Version, incidentVersion)
	case !contains(changes, r.Change):
		return fmt.Errorf("unknown change %q, want one of %s", r.Change, strings.Join(changes, ", "))
	case r.Incident.ID == "":
		return errors.New("incident without id")
	case r.Incident.Started.IsZero():
		return errors.New("incident without start time")
	case r.Change == "resolved" && r.Incident.Open():
		return errors.New("resolved record without resolution time")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Incidents folds records into the latest state of each incident, oldest
// start first, keeping every acknowledgement and note any record of it
// carries (in a fleet, operators act on any replica). Version 1 records
// (one incident per tier) fold as they were written.
func Incidents(recs []IncidentRecord) []Incident {
	byID := map[string]Incident{}
	for _, r := range recs {
		inc := r.Incident
		if r.Version < 2 {
			// Version 1 sent a notification for every incident it opened.
			if inc.Severity == Page {
				inc.Pages = 1
			} else {
				inc.Tickets = 1
			}
		}
		if prev, ok := byID[inc.ID]; ok {
			inc.mergeOperator(&prev)
		}
		byID[inc.ID] = inc
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
