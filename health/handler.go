package health

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/opskit/opskit/internal/redact"
)

// Header values shared by every answer; net/http only reads them.
var (
	headerText     = []string{"text/plain; charset=utf-8"}
	headerJSON     = []string{"application/health+json"}
	headerNoStore  = []string{"no-store"}
	headerNoSniff  = []string{"nosniff"}
	headerAllowGet = []string{"GET, HEAD"}
	bodyOK         = []byte("ok")
)

// Mount registers the four probe endpoints and their per-check paths on
// mux: /livez, /readyz, /startupz, /healthz and /<probe>/<check>.
func (c *Checker) Mount(mux *http.ServeMux) {
	for _, p := range [...]Probe{Liveness, Readiness, Startup, AllProbes} {
		h := c.Handler(p)
		mux.Handle("/"+p.endpoint(), h)
		mux.Handle("/"+p.endpoint()+"/", h)
	}
}

// Handler serves one probe: Liveness, Readiness, Startup, or AllProbes for
// /healthz. It answers the whole probe at a path ending in its endpoint
// (/readyz) and one check at /readyz/NAME (404 if the probe has no such
// check); any other path is taken as the whole probe.
//
// It understands ?verbose and repeatable ?exclude=NAME, and answers plain
// text unless Accept asks for JSON (application/health+json or
// application/json). pass and warn answer 200; fail and unknown answer 503.
// Failure reasons appear only when the request is verbose and allowed by
// the details policy (see WithTrustedProxies and WithDetailsAuthorizer),
// and pass through a filter that masks passwords in URLs. A query string
// longer than MaxQueryBytes or with more than MaxQueryParams parameters
// answers 400. ?exclude= cannot leave out the gates: /readyz?exclude=shutdown
// still fails while draining. /readyz/shutdown and /readyz/started answer
// for the gates themselves.
func (c *Checker) Handler(p Probe) http.Handler {
	if p != Liveness && p != Readiness && p != Startup {
		p = AllProbes
	}
	return probeHandler{c: c, probe: p}
}

type probeHandler struct {
	c     *Checker
	probe Probe
}

func (h probeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr["Allow"] = headerAllowGet
		http.Error(w, "health: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
		return
	}
	endpoint := h.probe.endpoint()
	name, ok := checkName(r.URL.Path, endpoint)
	if !ok {
		http.Error(w, "health: no check at "+quoteShort(r.URL.Path), http.StatusNotFound)
		return
	}
	var verbose bool
	var exBuf [MaxQueryParams]string
	excludes := exBuf[:0]
	if r.URL.RawQuery != "" {
		var err error
		if verbose, excludes, err = parseQuery(r.URL.RawQuery, excludes); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	var buf [16]item
	var rep report
	if name == "" {
		rep = h.c.evaluate(r.Context(), h.probe, excludes, buf[:0])
	} else if rep, ok = h.c.evaluateOne(r.Context(), h.probe, name, buf[:0]); !ok {
		http.Error(w, "health: no check "+quoteShort(name)+" in "+endpoint, http.StatusNotFound)
		return
	}
	code := http.StatusOK
	if !rep.status.Healthy() {
		code = http.StatusServiceUnavailable
	}
	details := verbose && h.c.showDetails(r)
	hdr["Cache-Control"] = headerNoStore
	hdr["X-Content-Type-Options"] = headerNoSniff
	if wantsJSON(r.Header["Accept"]) {
		hdr["Content-Type"] = headerJSON
		w.WriteHeader(code)
		if r.Method != http.MethodHead {
			rep.release = h.c.release
			writeJSON(w, &rep, details)
		}
		return
	}
	hdr["Content-Type"] = headerText
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	if code == http.StatusOK && !verbose && !rep.anyUnmatched() {
		_, _ = w.Write(bodyOK)
		return
	}
	writeText(w, &rep, endpoint, verbose, details)
}

// wantsJSON reports whether an Accept header asks for JSON. Quality values
// are not weighed: a client that lists JSON at all gets JSON.
func wantsJSON(accept []string) bool {
	for _, a := range accept {
		if strings.Contains(a, "json") {
			return true
		}
	}
	return false
}

var textBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writeText renders the Kubernetes text format: one line per check, then a
// warning for excludes that matched nothing, then "<endpoint> check
// passed|failed". A failing probe always lists its checks, like Kubernetes.
func writeText(w http.ResponseWriter, rep *report, endpoint string, verbose, details bool) {
	bp := textBufs.Get().(*[]byte)
	b := (*bp)[:0]
	if rep.status.Healthy() && !verbose {
		b = append(b, "ok\n"...)
	} else {
		for i := range rep.items {
			b = appendLine(b, &rep.items[i], details)
		}
	}
	b = appendUnmatched(b, rep, false, "warn: some health checks cannot be excluded: no matches for ")
	b = appendUnmatched(b, rep, true, "warn: gates cannot be excluded: ")
	if !rep.status.Healthy() || verbose {
		b = append(b, endpoint...)
		if rep.single {
			b = append(b, '/')
			b = append(b, rep.items[0].name...)
		}
		switch rep.status {
		case StatusPass:
			b = append(b, " check passed\n"...)
		case StatusWarn:
			b = append(b, " check passed with warnings\n"...)
		default:
			b = append(b, " check failed\n"...)
		}
	}
	_, _ = w.Write(b)
	*bp = b
	textBufs.Put(bp)
}

func appendLine(b []byte, it *item, details bool) []byte {
	switch {
	case it.excluded:
		return append(append(append(b, "[+]"...), it.name...), " excluded: ok\n"...)
	case it.status == StatusPass:
		return append(append(append(b, "[+]"...), it.name...), " ok\n"...)
	case it.status == StatusWarn:
		b = append(append(append(b, "[!]"...), it.name...), " warn: "...)
	default:
		b = append(append(append(b, "[-]"...), it.name...), " failed: "...)
	}
	return append(append(b, reason(it, details)...), '\n')
}

// reason is the failure reason a client may see.
func reason(it *item, details bool) string {
	switch {
	case !details:
		return "reason withheld"
	case it.res == nil:
		return ErrNoResult.Error()
	case it.res.err == nil:
		return "ok"
	default:
		return redact.Text(it.res.err.Error())
	}
}

// appendUnmatched appends one line listing the excludes that matched no
// check (gates false) or named a gate (gates true), if there are any.
func appendUnmatched(b []byte, rep *report, gates bool, prefix string) []byte {
	n := 0
	rep.unmatched(func(name string, gate bool) {
		if gate != gates {
			return
		}
		if n == 0 {
			b = append(b, prefix...)
		} else {
			b = append(b, ", "...)
		}
		b = appendQuoted(b, name)
		n++
	})
	if n > 0 {
		b = append(b, '\n')
	}
	return b
}

// appendQuoted is strconv.AppendQuote with a fast path for names that
// could be checks (they need no escaping), which is most of an answer's
// echo of ?exclude= names.
func appendQuoted(b []byte, name string) []byte {
	if validName(name) {
		return append(append(append(b, '"'), name...), '"')
	}
	return strconv.AppendQuote(b, name)
}

// anyUnmatched reports whether an exclude left nothing out.
func (rep *report) anyUnmatched() bool {
	any := false
	rep.unmatched(func(string, bool) { any = true })
	return any
}

// quoteShort quotes what a client sent, cut to 64 bytes, for an error.
func quoteShort(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}
