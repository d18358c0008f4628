package health

import (
	"net/http"
	"net/netip"
	"strings"
)

// forwardingHeaders are the headers proxies add to say that they forwarded
// a request, or for whom (canonical forms).
var forwardingHeaders = [...]string{
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
	"X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "Cf-Connecting-Ip",
	"Fastly-Client-Ip", "X-Cluster-Client-Ip", "X-Original-Forwarded-For", "Via",
}

// detailsPolicy is the default answer to "may r see failure reasons?".
type detailsPolicy struct {
	trusted []netip.Prefix
}

// allow shows reasons to the local host only; see WithTrustedProxies.
func (p detailsPolicy) allow(r *http.Request) bool {
	peer, ok := parseHostPort(r.RemoteAddr)
	if !ok {
		return false
	}
	if !forwarded(r.Header) {
		return peer.IsLoopback()
	}
	if !p.isTrusted(peer) {
		return false
	}
	client, ok := p.client(r.Header)
	return ok && client.IsLoopback()
}

func forwarded(h http.Header) bool {
	for _, name := range forwardingHeaders {
		if len(h[name]) > 0 {
			return true
		}
	}
	return false
}

func (p detailsPolicy) isTrusted(a netip.Addr) bool {
	for _, pr := range p.trusted {
		if pr.Contains(a) {
			return true
		}
	}
	return false
}

// client is the address the trusted proxies name as the client: walking
// the chain from the nearest hop, the first address that is not a trusted
// proxy (or the farthest, if all are). ok is false when the proxies name
// nobody or something that is not an address. Only Forwarded,
// X-Forwarded-For or X-Real-IP are read, the first present in that order.
// It runs in time linear in the headers and does not allocate.
func (p detailsPolicy) client(h http.Header) (netip.Addr, bool) {
	var values []string
	var param string // the parameter naming the client in Forwarded
	switch {
	case len(h["Forwarded"]) > 0:
		values, param = h["Forwarded"], "for="
	case len(h["X-Forwarded-For"]) > 0:
		values = h["X-Forwarded-For"]
	case len(h["X-Real-Ip"]) > 0:
		values = h["X-Real-Ip"][len(h["X-Real-Ip"])-1:]
	default:
		return netip.Addr{}, false
	}
	var last netip.Addr
	for i := len(values) - 1; i >= 0; i-- {
		rest := values[i]
		for rest != "" {
			var elem string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, elem = rest[:j], rest[j+1:]
			} else {
				rest, elem = "", rest
			}
			if param != "" {
				elem = forwardedFor(elem, param)
			}
			a, ok := parseHostPort(strings.Trim(strings.TrimSpace(elem), `"`))
			if !ok {
				return netip.Addr{}, false
			}
			if !p.isTrusted(a) {
				return a, true
			}
			last = a
		}
	}
	return last, last.IsValid()
}

// forwardedFor returns the value of the for= parameter of one element of
// a Forwarded header ("for=192.0.2.60;proto=http"), or "".
func forwardedFor(elem, param string) string {
	for elem != "" {
		var pair string
		pair, elem, _ = strings.Cut(elem, ";")
		pair = strings.TrimSpace(pair)
		if len(pair) > len(param) && strings.EqualFold(pair[:len(param)], param) {
			return pair[len(param):]
		}
	}
	return ""
}

// parseHostPort reads "1.2.3.4", "1.2.3.4:80", "::1", "[::1]" or
// "[::1]:80", with IPv4-mapped IPv6 addresses unmapped.
func parseHostPort(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
