package slo_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/slo"
)

// byHeader lets "X-User: ann" act; no header is unauthenticated.
func byHeader(r *http.Request, _ audit.Action) (string, error) {
	if u := r.Header.Get("X-User"); u != "" {
		return u, nil
	}
	return "", audit.ErrUnauthenticated
}

func post(h http.Handler, form url.Values, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/slo/incident", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestIncidentAckAndNotes(t *testing.T) {
	log := filepath.Join(t.TempDir(), "incidents.jsonl")
	m, fc := newMonitor(t, slo.WithIncidentLog(log))
	tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	tr.RecordN(100, 100)
	fc.Advance(10 * time.Second)
	m.Evaluate()
	id := m.Incidents()[0].ID
	sink := &audittest.Recorder{}
	h := m.IncidentHandler(&audit.Guard{Authorize: byHeader, Sink: sink})
	ack := url.Values{"id": {id}, "action": {"ack"}}
	user := map[string]string{"X-User": "ann"}

	if w := post(m.IncidentHandler(&audit.Guard{}), ack, user); w.Code != http.StatusForbidden {
		t.Errorf("no authoriser: %d, want 403", w.Code)
	}
	if w := post(h, ack, map[string]string{"X-User": "eve", "Sec-Fetch-Site": "cross-site"}); w.Code != http.StatusForbidden {
		t.Errorf("cross-site: %d, want 403", w.Code)
	}
	if w := post(h, ack, nil); w.Code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", w.Code)
	}
	get := httptest.NewRecorder()
	h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, "/slo/incident?id="+url.QueryEscape(id)+"&action=ack", nil))
	if get.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", get.Code)
	}
	if inc := m.Incidents()[0]; inc.Ack != nil || len(sink.Records()) != 0 {
		t.Fatalf("refused requests changed something: %+v, audit %+v", inc, sink.Records())
	}
	if w := post(h, url.Values{"id": {id}, "action": {"delete"}}, user); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "delete") {
		t.Errorf("bad action: %d %s", w.Code, w.Body)
	}

	if w := post(h, ack, user); w.Code != http.StatusNoContent {
		t.Fatalf("ack: %d %s", w.Code, w.Body)
	}
	fc.Advance(time.Minute)
	if w := post(h, ack, map[string]string{"X-User": "bob"}); w.Code != http.StatusNoContent {
		t.Fatalf("second ack: %d %s", w.Code, w.Body)
	}
	note := url.Values{"id": {id}, "action": {"note"}, "text": {"  rolled back release 42  "}}
	if w := post(h, note, map[string]string{"X-User": "bob"}); w.Code != http.StatusNoContent {
		t.Fatalf("note: %d %s", w.Code, w.Body)
	}
	if w := post(h, url.Values{"id": {"orders/nope"}, "action": {"note"}, "text": {"x"}}, user); w.Code != http.StatusNotFound {
		t.Errorf("unknown incident: %d", w.Code)
	}
	if w := post(h, url.Values{"id": {id}, "action": {"note"}}, user); w.Code != http.StatusBadRequest {
		t.Errorf("empty note: %d", w.Code)
	}

	inc := m.Incidents()[0]
	if inc.Ack == nil || inc.Ack.By != "ann" || !inc.Ack.At.Equal(start.Add(10*time.Second)) {
		t.Errorf("ack: %+v, want ann's, kept over bob's", inc.Ack)
	}
	if len(inc.Notes) != 1 || inc.Notes[0].By != "bob" || inc.Notes[0].Text != "rolled back release 42" {
		t.Errorf("notes: %+v", inc.Notes)
	}
	var actions []string
	for _, r := range sink.Records() {
		actions = append(actions, string(r.Action)+" "+r.Actor+" "+r.Target+" "+r.Result)
	}
	// Every attempt an authorised actor made is audited, failed ones with
	// their error; refusals are not (the guard's rule).
	want := []string{"incident.ack ann " + id + " ok", "incident.ack bob " + id + " ok", "incident.note bob " + id + " ok",
		`incident.note ann orders/nope slo: no such incident: "orders/nope"`, "incident.note ann " + id + " slo: note: text is empty"}
	if strings.Join(actions, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit records:\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
	// The incident log has the changes.
	recs := readLog(t, log)
	changes := []string{}
	for _, r := range recs {
		changes = append(changes, r.Change)
	}
	if got := strings.Join(changes, " "); got != "opened acked noted" {
		t.Errorf("log changes: %s", got)
	}
	// Evaluation keeps them: the episode resolves with ack and note.
	for range 50 {
		tr.RecordN(1000, 0)
		fc.Advance(time.Hour)
		m.Evaluate()
	}
	inc = m.Incidents()[0]
	if inc.Open() || inc.Ack == nil || len(inc.Notes) != 1 {
		t.Fatalf("resolved incident: %+v", inc)
	}
	if err := m.Ack(id, "ann"); err == nil || !strings.Contains(err.Error(), "resolved") {
		t.Errorf("ack of a resolved incident: %v", err)
	}
	if err := m.Note(id, "ann", "postmortem: PM-7"); err != nil {
		t.Errorf("note on a resolved incident: %v", err)
	}
	if n := m.Incidents()[0].Notes; len(n) != 2 {
		t.Errorf("notes after resolution: %+v", n)
	}
}

// Whatever a client posts, the handler answers with one of its statuses
// and never panics.
func FuzzIncidentHandler(f *testing.F) {
	f.Add("id=orders%2F20260301T000010Z&action=ack", "ann")
	f.Add("id=x&action=note&text=%ff%fe", "bob")
	f.Add("action=note&text="+strings.Repeat("a", 5000), "ann")
	f.Add("%zz=1;&&==", "")
	f.Fuzz(func(t *testing.T, body, user string) {
		m, fc := newMonitor(t)
		tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
		tr.RecordN(100, 100)
		fc.Advance(10 * time.Second)
		m.Evaluate()
		h := m.IncidentHandler(&audit.Guard{Authorize: byHeader, Sink: &audittest.Recorder{}})
		r := httptest.NewRequest(http.MethodPost, "/slo/incident", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" && !strings.ContainsAny(user, "\r\n\x00") {
			r.Header.Set("X-User", user)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusNoContent, http.StatusBadRequest, http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}
