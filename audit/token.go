package audit

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
)

// Token is a bearer token and what its holder may do.
type Token struct {
	// Secret is the token itself. An empty Secret never matches.
	Secret string
	// Actor names the holder in audit records ("operator", "support").
	Actor string
	// Actions lists what the token allows; empty allows every action.
	Actions []Action
}

// BearerTokens returns an Authorizer that accepts "Authorization: Bearer
// SECRET" for the given tokens. Secrets are compared in constant time
// against every token, so the answer's timing says nothing about which
// token or how much of it matched.
//
// A request without the header, or with a secret no token has, gets
// ErrUnauthenticated (401); a token whose Actions do not include the
// action gets ErrForbidden (403). With no token that has both a Secret and
// an Actor, every request gets ErrForbidden: a service started without
// credentials configured lets nobody act.
func BearerTokens(tokens ...Token) Authorizer {
	type entry struct {
		sum     [sha256.Size]byte
		actor   string
		actions []Action
	}
	var known []entry
	for _, t := range tokens {
		if t.Secret == "" || t.Actor == "" {
			continue
		}
		known = append(known, entry{sha256.Sum256([]byte(t.Secret)), t.Actor, slices.Clone(t.Actions)})
	}
	return func(r *http.Request, action Action) (string, error) {
		if len(known) == 0 {
			return "", ErrForbidden
		}
		secret, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			return "", ErrUnauthenticated
		}
		// Hashing first makes every comparison the same length.
		sum := sha256.Sum256([]byte(secret))
		match := -1
		for i := range known {
			if subtle.ConstantTimeCompare(sum[:], known[i].sum[:]) == 1 && match < 0 {
				match = i
			}
		}
		if match < 0 {
			return "", ErrUnauthenticated
		}
		t := known[match]
		if len(t.actions) > 0 && !slices.Contains(t.actions, action) {
			return "", ErrForbidden
		}
		return t.actor, nil
	}
}

// bearer extracts the token of an "Authorization: Bearer TOKEN" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
