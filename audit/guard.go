package audit

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
)

// Guard stands in front of every handler that changes state or shows
// something sensitive. A Guard is a plain value; its zero value refuses
// everything (there is no Authorize), which is the only safe default for a
// handler reachable from the network.
type Guard struct {
	// Authorize decides who may do what. Nil answers every request 403.
	Authorize Authorizer
	// Sink receives the records Log writes. Nil drops them: give every
	// Guard that lets anyone act a Sink (a *Log).
	Sink Sink
	// Hosts, when not empty, lists the Host headers the service answers
	// to ("ops.example.com", "127.0.0.1:8080"; an entry without a port
	// matches any port). A request for another host is refused, which
	// stops DNS-rebinding pages from reaching the handler through a
	// victim's browser. Empty allows any Host.
	Hosts []string
	// Release, when not empty, is the release id (release.Info.ID) Log
	// puts into every record it writes. Empty leaves it to the Sink (see
	// WithRelease).
	Release string
}

// crossOrigin refuses cross-origin browser requests with unsafe methods;
// its zero value trusts no other origin.
var crossOrigin http.CrossOriginProtection

// Allow decides whether r may perform action and, if not, answers it.
//
// In order: a request whose Host is not in Hosts is refused (403); a
// browser request with an unsafe method (POST, PUT, DELETE, ...) that is
// cross-origin — Sec-Fetch-Site other than same-origin or none, or else an
// Origin header whose host is not the request's Host — is refused (403;
// same-site counts as cross-origin: a sibling subdomain is not the
// service); then Authorize is asked: ErrUnauthenticated answers 401 with
// a Bearer challenge, any other error (or a nil Authorize) 403. Allow
// returns the actor and true when the handler may go on, having written
// nothing; otherwise it has written the answer and returns false.
// Refusals are not appended to the Sink: an anonymous caller must not be
// able to grow the log.
func (g *Guard) Allow(w http.ResponseWriter, r *http.Request, action Action) (actor string, ok bool) {
	if !g.hostAllowed(r.Host) {
		refuse(w, http.StatusForbidden, "audit: host "+quoteShort(r.Host)+" is not served here")
		return "", false
	}
	if err := crossOrigin.Check(r); err != nil {
		refuse(w, http.StatusForbidden, "audit: cross-origin request refused")
		return "", false
	}
	if g.Authorize == nil {
		refuse(w, http.StatusForbidden, "audit: "+string(action)+": no authorizer configured, nobody may act")
		return "", false
	}
	actor, err := g.Authorize(r, action)
	switch {
	case errors.Is(err, ErrUnauthenticated):
		w.Header().Set("WWW-Authenticate", `Bearer realm="opskit"`)
		refuse(w, http.StatusUnauthorized, "audit: "+string(action)+": credentials required")
		return "", false
	case err != nil:
		refuse(w, http.StatusForbidden, "audit: "+string(action)+": not allowed")
		return "", false
	case actor == "":
		refuse(w, http.StatusForbidden, "audit: "+string(action)+": the authorizer named no actor")
		return "", false
	}
	return actor, true
}

// Log appends the record of an action r asked for to the Sink: the actor
// Allow returned, the remote address, action, target, the result ("ok"
// when err is nil, else err's text), detail and Release. Time is left for the Sink
// to stamp. With no Sink it does nothing.
func (g *Guard) Log(r *http.Request, actor string, action Action, target string, err error, detail string) error {
	if g.Sink == nil {
		return nil
	}
	rec := Record{Actor: actor, From: r.RemoteAddr, Action: action, Target: target, Result: "ok", Detail: detail, Release: g.Release}
	if err != nil {
		rec.Result = err.Error()
	}
	return g.Sink.Append(context.WithoutCancel(r.Context()), rec)
}

func (g *Guard) hostAllowed(host string) bool {
	if len(g.Hosts) == 0 {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	for _, allowed := range g.Hosts {
		if strings.EqualFold(allowed, host) || strings.EqualFold(allowed, name) {
			return true
		}
	}
	return false
}

// refuse writes a short plain-text refusal.
func refuse(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}

// quoteShort quotes s, cut to 64 bytes, for an error message that echoes
// what a client sent.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == 0x7f {
			return '?'
		}
		return r
	}, s), "?") + `"`
}
