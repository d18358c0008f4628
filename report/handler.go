package report

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/opskit/opskit/audit"
)

// ReadAction is what the report handler asks the authoriser for.
const ReadAction audit.Action = "report.read"

// maxQuery bounds the query string the handler reads.
const maxQuery = 256

// Handler serves the reports behind g: every request must pass g.Allow
// for ReadAction, and every report served appends an audit record
// (target: the week; detail: the format). If the record cannot be written
// the report is withheld (500). GET or HEAD, with the query parameters:
//
//	week    an ISO week ("2026-W49") written by the Writer, or "current" for
//	        the week so far, built on the spot; default: the last week
//	        written, or the week so far before any was written
//	format  html (default), md or json
//
// A bad parameter is a 400 naming it; a week with no report a 404.
func (w *Writer) Handler(g *audit.Guard) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			rw.Header().Set("Allow", "GET, HEAD")
			http.Error(rw, "report: method "+quote(r.Method)+" not allowed", http.StatusMethodNotAllowed)
			return
		}
		actor, ok := g.Allow(rw, r, ReadAction)
		if !ok {
			return
		}
		week, f, err := parseQuery(r.URL.RawQuery)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		body, name, code, err := w.serve(r, week, f)
		if err != nil {
			http.Error(rw, err.Error(), code)
			return
		}
		if err := g.Log(r, actor, ReadAction, name, nil, "format="+string(f)); err != nil {
			http.Error(rw, "report: audit log: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := rw.Header()
		h.Set("Content-Type", f.ContentType())
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if f == HTML {
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		}
		if r.Method != http.MethodHead {
			_, _ = rw.Write(body)
		}
	})
}

// parseQuery reads week and format; "" week means the default.
func parseQuery(raw string) (week string, f Format, err error) {
	if len(raw) > maxQuery {
		return "", "", fmt.Errorf("report: query of %d bytes, at most %d", len(raw), maxQuery)
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", "", fmt.Errorf("report: query: %v", err)
	}
	for _, name := range []string{"week", "format"} {
		if len(q[name]) > 1 {
			return "", "", fmt.Errorf("report: parameter %s given %d times", name, len(q[name]))
		}
	}
	f = HTML
	if v := q.Get("format"); v != "" {
		if f, err = ParseFormat(v); err != nil {
			return "", "", fmt.Errorf("report: parameter format=%s: want html, md or json", quote(v))
		}
	}
	week = q.Get("week")
	if week != "" && week != "current" {
		wk, err := ParseWeek(week)
		if err != nil {
			return "", "", fmt.Errorf("report: parameter week=%s: want an ISO week like 2026-W49, or current", quote(week))
		}
		week = wk.String()
	}
	return week, f, nil
}

// serve returns the report asked for and the week it is of, or an error
// with its status code.
func (w *Writer) serve(r *http.Request, week string, f Format) ([]byte, string, int, error) {
	now := w.cfg.clock.Now()
	current := WeekOf(now.In(w.cfg.loc))
	w.mu.Lock()
	last, since := w.st.Last, w.st.Since
	w.mu.Unlock()
	if week == "" {
		week = last
	}
	if week == "" || week == "current" || week == current.String() {
		w.mu.Lock()
		var qc *queueCount
		if m := w.mark; m != nil && m.week == current {
			qc = &queueCount{week: current, from: m.at, start: m.stats} // end: sampled by build
		}
		w.mu.Unlock()
		rep, err := build(r.Context(), w.src, current, w.cfg.loc, now, qc)
		if err != nil {
			return nil, "", http.StatusInternalServerError, err
		}
		var buf bytes.Buffer
		if err := rep.Write(&buf, f); err != nil {
			return nil, "", http.StatusInternalServerError, err
		}
		return buf.Bytes(), current.String(), http.StatusOK, nil
	}
	b, err := os.ReadFile(filepath.Join(w.dir, week+f.ext()))
	switch {
	case errors.Is(err, os.ErrNotExist):
		wk, _ := ParseWeek(week)
		why := "was not written"
		switch {
		case current.Before(wk):
			why = "has not started"
		case wk.Before(WeekOf(since.In(w.cfg.loc))):
			why = "is before the first report (week " + WeekOf(since.In(w.cfg.loc)).String() + ")"
		}
		return nil, "", http.StatusNotFound, fmt.Errorf("report: week %s %s", week, why)
	case err != nil:
		return nil, "", http.StatusInternalServerError, fmt.Errorf("report: %w", err)
	}
	return b, week, http.StatusOK, nil
}
