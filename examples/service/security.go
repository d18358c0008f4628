package main

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// maxBody bounds every request body the service reads; an order is a few
// dozen bytes, an incident note a few lines.
const maxBody = 64 << 10

// hostGuard refuses a request whose Host header names a host this service
// was not told it answers to. A DNS-rebinding page (evil.example resolving
// to 127.0.0.1) reaches the service with its own name in Host, so it gets
// nothing back, not even the read-only pages.
type hostGuard struct {
	names map[string]bool // lower-case host names and IP literals, no port
	anyIP bool            // listening on every address: any IP literal is ours
}

// newHostGuard allows the listen address's host, the loopback forms of
// localhost, and extra (host or host:port, from -allow-host). Rebinding
// needs a name the attacker controls, so an IP literal is always safe to
// accept when the service listens on every address.
func newHostGuard(listenAddr string, extra []string) hostGuard {
	g := hostGuard{names: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}
	host, _, err := net.SplitHostPort(listenAddr)
	if err != nil {
		host = listenAddr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		g.anyIP = true
	} else {
		g.names[strings.ToLower(host)] = true
	}
	for _, h := range extra {
		g.names[hostName(h)] = true
	}
	return g
}

// hostName is h without its port, brackets or case.
func hostName(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

func (g hostGuard) allows(host string) bool {
	name := hostName(host)
	return g.names[name] || (g.anyIP && net.ParseIP(name) != nil)
}

func (g hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allows(r.Host) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("host %q is not one this service answers to; start it with -allow-host to add one", truncate(r.Host, 100)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxTenant bounds X-Tenant: it lands in the durable queue (inside the
// order) and in the feature registry's tenant sketches.
const maxTenant = 64

// tenantOf reads X-Tenant: "" when absent, else 1 to maxTenant letters,
// digits, '.', '_' or '-'. The error names the header, never echoes a long
// value.
func tenantOf(r *http.Request) (string, error) {
	t := r.Header.Get("X-Tenant")
	if len(t) > maxTenant {
		return "", fmt.Errorf("header X-Tenant is %d bytes, at most %d allowed", len(t), maxTenant)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", fmt.Errorf("header X-Tenant has %q at byte %d: use letters, digits, '.', '_' and '-'", c, i)
		}
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
