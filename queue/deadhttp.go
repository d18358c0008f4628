package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opskit/opskit/audit"
)

// The audit actions DeadLetterHandler asks its guard for.
const (
	actionRead    audit.Action = "queue.read"
	actionRequeue audit.Action = "queue.requeue"
	actionPurge   audit.Action = "queue.purge"
)

// Bounds of DeadLetterHandler's work per request.
const (
	defaultDeadPage = 50
	maxDeadPage     = 500
	maxDeadBulk     = 1000 // dead letters one bulk request changes at most
	maxDeadQuery    = 2048 // bytes of query string read at most
)

// deadPage is the JSON answer of a listing.
type deadPage struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
	// Next is the After of the next page; absent on the last page.
	Next *ID `json:"next,omitempty"`
}

// deadResult is the JSON answer of a change.
type deadResult struct {
	Action string `json:"action"`
	Count  int    `json:"count"`
	// More is set when a bulk change stopped at its bound: send it again.
	More bool `json:"more,omitempty"`
}

// DeadLetterHandler serves b's dead letters to operators, every request
// behind g (nil, or a Guard without Authorize, refuses everyone with 403;
// cross-origin and foreign-Host requests are refused; see audit.Guard.Allow).
// Mount it under a prefix with http.StripPrefix:
//
//	mux.Handle("/queue/dead/", http.StripPrefix("/queue/dead", queue.DeadLetterHandler(q, guard)))
//
// Routes, relative to the prefix (ids are 16 hex digits, as listed):
//
//	GET  /               list (action queue.read): ?limit=N (default 50, at most 500),
//	                     ?after=ID (the "next" of the previous page), ?since= ?until=
//	                     (RFC 3339, on the time each died), ?reason= (a prefix);
//	                     answers {"dead_letters": [...], "next": ID}
//	POST /ID/requeue     requeue one (queue.requeue); 404 when ID is not a dead letter
//	POST /ID/purge       purge one (queue.purge)
//	POST /requeue        requeue those the same query selects (queue.requeue), at most
//	POST /purge          1000 per request ("more": true when some remain); with no
//	                     since, until or reason the query must say all=true
//
// Every request the guard allows, reads included, appends one audit record
// (actor, remote address, action, target, result, what was selected and
// how many) to g.Sink. A listing costs at most a page of payload reads;
// the queue's lock is held only to walk its dead-letter index.
func DeadLetterHandler(b Backend, g *audit.Guard) http.Handler {
	if g == nil {
		g = &audit.Guard{}
	}
	return &deadHandler{b: b, g: g}
}

type deadHandler struct {
	b Backend
	g *audit.Guard
}

func (h *deadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	var action audit.Action
	var id ID
	switch {
	case path == "":
		action = actionRead
	case len(parts) == 1 && (parts[0] == "requeue" || parts[0] == "purge"):
		action = audit.Action("queue." + parts[0])
	case len(parts) == 2 && (parts[1] == "requeue" || parts[1] == "purge"):
		action = audit.Action("queue." + parts[1])
		var err error
		if id, err = ParseID(parts[0]); err != nil {
			deadError(w, http.StatusBadRequest, err)
			return
		}
	default:
		deadError(w, http.StatusNotFound, fmt.Errorf("queue: no dead-letter route %q", shorten(r.URL.Path)))
		return
	}
	want := http.MethodPost
	if action == actionRead {
		want = http.MethodGet
	}
	if r.Method != want && !(want == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", want)
		deadError(w, http.StatusMethodNotAllowed, fmt.Errorf("queue: %s answers %s, not %q", action, want, shorten(r.Method)))
		return
	}
	actor, ok := h.g.Allow(w, r, action)
	if !ok {
		return
	}
	f, all, err := parseDeadQuery(r.URL.RawQuery)
	if err != nil {
		deadError(w, http.StatusBadRequest, err)
		return
	}
	switch {
	case action == actionRead:
		h.list(w, r, actor, f)
	case id != 0:
		h.one(w, r, actor, action, id)
	default:
		if !all && f.Since.IsZero() && f.Until.IsZero() && f.Reason == "" {
			deadError(w, http.StatusBadRequest, errors.New("queue: a bulk change needs since, until or reason, or all=true"))
			return
		}
		h.bulk(w, r, actor, action, f)
	}
}

func (h *deadHandler) list(w http.ResponseWriter, r *http.Request, actor string, f DeadFilter) {
	if f.Limit == 0 {
		f.Limit = defaultDeadPage
	}
	dead, err := h.b.DeadLetters(r.Context(), f)
	p := deadPage{DeadLetters: dead}
	if p.DeadLetters == nil {
		p.DeadLetters = []DeadLetter{}
	}
	if n := len(dead); n == f.Limit {
		p.Next = &dead[n-1].ID
	}
	h.finish(w, r, actor, actionRead, "", f, err, fmt.Sprintf("listed %d", len(dead)), p)
}

func (h *deadHandler) one(w http.ResponseWriter, r *http.Request, actor string, action audit.Action, id ID) {
	var err error
	if action == actionRequeue {
		err = h.b.Requeue(r.Context(), id)
	} else {
		err = h.b.Purge(r.Context(), id)
	}
	res := deadResult{Action: string(action)}
	if err == nil {
		res.Count = 1
	}
	h.finish(w, r, actor, action, id.String(), DeadFilter{}, err, "", res)
}

func (h *deadHandler) bulk(w http.ResponseWriter, r *http.Request, actor string, action audit.Action, f DeadFilter) {
	if f.Limit == 0 || f.Limit > maxDeadBulk {
		f.Limit = maxDeadBulk
	}
	var n int
	var err error
	if action == actionRequeue {
		n, err = h.b.RequeueDead(r.Context(), f)
	} else {
		n, err = h.b.PurgeDead(r.Context(), f)
	}
	res := deadResult{Action: string(action), Count: n, More: n == f.Limit}
	h.finish(w, r, actor, action, "", f, err, fmt.Sprintf("changed %d", n), res)
}

// finish records the action and writes the answer: body on success, the
// error's status otherwise.
func (h *deadHandler) finish(w http.ResponseWriter, r *http.Request, actor string, action audit.Action,
	target string, f DeadFilter, err error, detail string, body any) {
	if target == "" {
		target = describeFilter(f)
	}
	if aerr := h.g.Log(r, actor, action, target, err, detail); aerr != nil {
		deadError(w, http.StatusInternalServerError,
			fmt.Errorf("queue: %s done (%v) but its audit record failed: %w", action, errOr(err, "ok"), aerr))
		return
	}
	switch {
	case errors.Is(err, ErrNotFound):
		deadError(w, http.StatusNotFound, err)
	case err != nil:
		deadError(w, http.StatusServiceUnavailable, err)
	default:
		deadHeaders(w, "application/json")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_ = json.NewEncoder(w).Encode(body)
		}
	}
}

func errOr(err error, s string) any {
	if err != nil {
		return err
	}
	return s
}

// parseDeadQuery reads a DeadFilter (and all=true) from a query string.
// Unknown parameters and repeated ones are errors.
func parseDeadQuery(raw string) (f DeadFilter, all bool, err error) {
	if len(raw) > maxDeadQuery {
		return f, false, fmt.Errorf("queue: query is %d bytes, want <= %d", len(raw), maxDeadQuery)
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return f, false, fmt.Errorf("queue: bad query: %w", err)
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return f, false, fmt.Errorf("queue: query parameter %q given %d times, want once", shorten(k), len(vs))
		}
		s := vs[0]
		switch k {
		case "limit":
			n, perr := strconv.Atoi(s)
			if perr != nil || n < 1 || n > maxDeadPage {
				return f, false, fmt.Errorf("queue: limit is %q, want 1..%d", shorten(s), maxDeadPage)
			}
			f.Limit = n
		case "after":
			if f.After, err = ParseID(s); err != nil {
				return f, false, err
			}
		case "since", "until":
			t, perr := time.Parse(time.RFC3339Nano, s)
			if perr != nil {
				return f, false, fmt.Errorf("queue: %s is %q, want an RFC 3339 time", k, shorten(s))
			}
			if k == "since" {
				f.Since = t
			} else {
				f.Until = t
			}
		case "reason":
			f.Reason = s
		case "all":
			if s != "true" {
				return f, false, fmt.Errorf("queue: all is %q, want true", shorten(s))
			}
			all = true
		default:
			return f, false, fmt.Errorf("queue: unknown query parameter %q", shorten(k))
		}
	}
	return f, all, f.Validate()
}

// describeFilter is the audit target of a listing or bulk change.
func describeFilter(f DeadFilter) string {
	var b strings.Builder
	b.WriteString("dead letters")
	if f.After != 0 {
		fmt.Fprintf(&b, " after %s", f.After)
	}
	if !f.Since.IsZero() {
		fmt.Fprintf(&b, " since %s", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		fmt.Fprintf(&b, " until %s", f.Until.Format(time.RFC3339Nano))
	}
	if f.Reason != "" {
		fmt.Fprintf(&b, " reason %q", shorten(f.Reason))
	}
	if f.Limit > 0 {
		fmt.Fprintf(&b, " limit %d", f.Limit)
	}
	return b.String()
}

func deadHeaders(w http.ResponseWriter, ctype string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

func deadError(w http.ResponseWriter, code int, err error) {
	deadHeaders(w, "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(err.Error() + "\n"))
}

// shorten cuts s to 64 bytes of valid UTF-8 for an error that echoes a
// client's input.
func shorten(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
