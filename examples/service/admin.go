package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opskit/opskit/audit"
)

// minTokenLen keeps an operator token from being guessable by hand.
const minTokenLen = 16

// operators guards the admin routes: cross-site requests are refused, the
// authoriser names who acts, and every action appends one audit record.
type operators struct {
	authorize audit.Authorizer
	trail     *auditFile
	cross     *http.CrossOriginProtection
	log       *slog.Logger
}

func newOperators(dataDir, token string, log *slog.Logger) (*operators, error) {
	trail, err := openAuditFile(filepath.Join(dataDir, "audit.jsonl"))
	if err != nil {
		return nil, err
	}
	if token == "" {
		log.Warn("no operator token (-operator-token or OPSKIT_OPERATOR_TOKEN): admin routes answer 403 to everyone")
	}
	return &operators{authorize: tokenAuthorizer(token), trail: trail, cross: http.NewCrossOriginProtection(), log: log}, nil
}

// tokenAuthorizer lets a request carrying "Authorization: Bearer <token>"
// act as "operator". With no token configured nobody may act.
func tokenAuthorizer(token string) audit.Authorizer {
	want := sha256.Sum256([]byte(token))
	return func(r *http.Request, action audit.Action) (string, error) {
		if token == "" {
			return "", fmt.Errorf("%w: %s needs an operator token and none is configured", audit.ErrForbidden, action)
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || got == "" {
			return "", fmt.Errorf("%w: %s needs Authorization: Bearer <operator token>", audit.ErrUnauthenticated, action)
		}
		if h := sha256.Sum256([]byte(got)); subtle.ConstantTimeCompare(h[:], want[:]) != 1 {
			return "", fmt.Errorf("%w: the token does not allow %s", audit.ErrForbidden, action)
		}
		return "operator", nil
	}
}

// actorKey carries the authorised actor to the handler.
type actorKey struct{}

func actorOf(ctx context.Context) string { s, _ := ctx.Value(actorKey{}).(string); return s }

// admin wraps h: it runs only for a same-origin request the authoriser
// allows for action.
func (o *operators) admin(action audit.Action, h http.HandlerFunc) http.Handler {
	return o.cross.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := o.authorize(r, action)
		if err != nil {
			code := http.StatusForbidden
			if errors.Is(err, audit.ErrUnauthenticated) {
				code = http.StatusUnauthorized
				w.Header().Set("WWW-Authenticate", `Bearer realm="opskit example"`)
			}
			writeError(w, code, err.Error())
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	}))
}

// record appends one audit record for an action taken; a record that
// cannot be written is logged, since the action already happened.
func (o *operators) record(r *http.Request, actor string, action audit.Action, target string, err error, detail string) {
	rec := audit.Record{Time: time.Now().UTC(), Actor: actor, From: r.RemoteAddr, Action: action,
		Target: target, Result: "ok", Detail: detail}
	if err != nil {
		rec.Result = err.Error()
	}
	if aerr := o.trail.Append(r.Context(), rec); aerr != nil {
		o.log.Error("audit record not written", "action", action, "target", target, "err", aerr)
	}
}

// serveAudit answers GET /audit: the trail, oldest first.
func (o *operators) serveAudit(w http.ResponseWriter, r *http.Request) {
	recs, err := o.trail.Read()
	if err != nil {
		o.log.Error("read audit trail", "err", err)
		writeError(w, http.StatusInternalServerError, "audit trail unreadable; see the service log")
		return
	}
	writeJSON(w, http.StatusOK, recs)
}

func (o *operators) Close() error { return o.trail.Close() }

// auditFile is a JSON-lines audit trail, one fsynced line per record.
type auditFile struct {
	mu sync.Mutex // guards f
	f  *os.File
}

func openAuditFile(path string) (*auditFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	return &auditFile{f: f}, nil
}

func (a *auditFile) Append(_ context.Context, rec audit.Record) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return a.f.Sync()
}

func (a *auditFile) Read() ([]audit.Record, error) {
	f, err := os.Open(a.f.Name())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs := []audit.Record{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec audit.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, sc.Err()
}

func (a *auditFile) Close() error { return a.f.Close() }
