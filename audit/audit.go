package audit

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Action names what is asked for, as "<package>.<verb>": queue.requeue,
// queue.purge, incident.ack, incident.note, feature.switch, support.read,
// report.read, audit.read.
type Action string

// Authorizer decides whether the request r may perform action. It returns
// who is acting (a user or service name, never a secret), or an error:
// ErrUnauthenticated (answered 401) when r carries no usable credentials,
// anything else (answered 403) when they do not allow the action.
type Authorizer func(r *http.Request, action Action) (actor string, err error)

// ErrUnauthenticated is returned by an Authorizer for a request that
// carries no usable credentials.
var ErrUnauthenticated = errors.New("audit: no credentials")

// ErrForbidden is returned for a request whose credentials do not allow
// the action, and by handlers given no Authorizer.
var ErrForbidden = errors.New("audit: not allowed")

// Record is one action: when, who, from where, what, on what, result.
type Record struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`            // who: a person, or "automation"
	From   string    `json:"from,omitempty"`   // the remote address, or the component that acted
	Action Action    `json:"action"`           // what
	Target string    `json:"target,omitempty"` // on what: a message id, an incident id, a feature
	Result string    `json:"result"`           // "ok", "denied", or the error
	Detail string    `json:"detail,omitempty"` // free text: a note, a count, a reason
	// Release is the id of the release that acted (release.Info.ID), so
	// the trail shows which build did what. Empty in records written
	// before it existed and where no release is configured.
	Release string `json:"release,omitempty"`
}

// Sink receives records. Append returns once the record is durable (or
// returns the error that kept it from being so).
type Sink interface {
	Append(ctx context.Context, rec Record) error
}
