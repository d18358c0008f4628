package slo

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opskit/opskit/audit"
)

// Actions an operator takes on an incident, asked of the audit.Authorizer.
const (
	ActionAck  audit.Action = "incident.ack"
	ActionNote audit.Action = "incident.note"
)

// ErrNoIncident is returned by Ack and Note for an id that names no open or
// recent incident.
var ErrNoIncident = errors.New("slo: no such incident")

// maxNote bounds a note's text, in bytes.
const maxNote = 4096

// Ack records that by has taken incident id on: one record of the
// incident log. Acknowledging an incident already acknowledged keeps the
// first acknowledgement and returns nil; only an open incident can be
// acknowledged. Actions taken from code are not audited: IncidentHandler
// audits through its guard, and automation logs through its own.
func (m *Monitor) Ack(id, by string) error {
	if by == "" {
		return errors.New("slo: ack: by is empty: say who acknowledges")
	}
	return m.change(id, by, ActionAck, "")
}

// Note adds by's remark text (at most 4096 bytes of UTF-8) to incident id,
// open or recently resolved: one record of the incident log.
func (m *Monitor) Note(id, by, text string) error {
	text = strings.TrimSpace(text)
	switch {
	case by == "":
		return errors.New("slo: note: by is empty: say who writes it")
	case text == "":
		return errors.New("slo: note: text is empty")
	case len(text) > maxNote || !utf8.ValidString(text):
		return fmt.Errorf("slo: note: text must be at most %d bytes of UTF-8, got %d bytes", maxNote, len(text))
	}
	return m.change(id, by, ActionNote, text)
}

// change applies an ack or a note to the incident and logs it.
func (m *Monitor) change(id, by string, action audit.Action, text string) error {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	m.refreshIncidents() // with a store: incidents the leader opened since the last evaluation
	now := m.clock.Now()
	inc := m.findIncident(id)
	if inc == nil {
		return fmt.Errorf("%w: %q", ErrNoIncident, id)
	}
	rec := IncidentRecord{Version: incidentVersion, At: now}
	switch action {
	case ActionAck:
		if !inc.Open() {
			return fmt.Errorf("slo: incident %q resolved at %s: nothing to acknowledge", id, inc.Resolved.UTC().Format(time.RFC3339))
		}
		if inc.Ack != nil {
			return nil
		}
		inc.Ack = &Ack{By: by, At: now}
		rec.Change, rec.Why = "acked", "acknowledged by "+by
	default:
		inc.Notes = append(inc.Notes, Note{By: by, At: now, Text: text})
		rec.Change, rec.Why = "noted", "note by "+by
	}
	inc.Updated = now
	rec.Incident = inc.clone()
	return m.writeRecord(rec)
}

// findIncident returns the live incident named id: an indicator's open
// episode, or a copy kept among the recent ones. Requires evalMu held.
func (m *Monitor) findIncident(id string) *Incident {
	for _, in := range m.indicators() {
		if in.inc != nil && in.inc.ID == id {
			return in.inc
		}
	}
	m.incMu.Lock()
	defer m.incMu.Unlock()
	for i := range m.recent {
		if m.recent[i].ID == id {
			c := m.recent[i].clone()
			return &c
		}
	}
	return nil
}

// IncidentHandler serves operator actions on incidents: POST a form with
// "id" (the incident id), "action" ("ack" or "note") and, for a note,
// "text". The guard refuses cross-site requests and asks its Authorizer
// for ActionAck or ActionNote (no Authorizer: 403 for everyone); each
// action it allows is one incident-log record and one record of the
// guard's Sink. It answers 204 on success, 404 for an unknown incident,
// 400 for a bad form and 405 for anything but POST.
func (m *Monitor) IncidentHandler(g *audit.Guard) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "slo: POST only", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 2*maxNote)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "slo: bad form: "+err.Error(), http.StatusBadRequest)
			return
		}
		id, verb := r.PostForm.Get("id"), r.PostForm.Get("action")
		var action audit.Action
		switch verb {
		case "ack":
			action = ActionAck
		case "note":
			action = ActionNote
		default:
			http.Error(w, fmt.Sprintf("slo: action %q: want ack or note", verb), http.StatusBadRequest)
			return
		}
		actor, ok := g.Allow(w, r, action)
		if !ok {
			return
		}
		var err error
		text := strings.TrimSpace(r.PostForm.Get("text"))
		if action == ActionAck {
			err = m.Ack(id, actor)
		} else {
			err = m.Note(id, actor, text)
		}
		if lerr := g.Log(r, actor, action, id, err, text); lerr != nil && err == nil {
			m.log.Error("slo: audit", "err", lerr, "incident", id)
			http.Error(w, "slo: action done but not audited: "+lerr.Error(), http.StatusInternalServerError)
			return
		}
		switch {
		case errors.Is(err, ErrNoIncident):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}
