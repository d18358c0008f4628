package main

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The request parsers the service adds never panic, and what they accept
// keeps their promises: an order with an item of 1-100 characters and a
// quantity of 1-1000, a tenant of at most 64 allowed bytes, a Host the
// guard allows only when its name is one of the allowed ones.
func FuzzRequestParsing(f *testing.F) {
	for _, s := range []string{`{"item":"book","quantity":2}`, `{"item":" ","quantity":1}`, `{"quantity":1e9}`,
		`{"item":"a","quantity":1}{}`, "tenant-07", "a b", strings.Repeat("t", 65), "evil.example:8080",
		"[::1]:8080", "LOCALHOST", "127.0.0.1", "[", ":"} {
		f.Add(s)
	}
	guard := newHostGuard("127.0.0.1:8080", []string{"orders.internal"})
	f.Fuzz(func(t *testing.T, s string) {
		if o, err := decodeOrder(strings.NewReader(s)); err == nil {
			if o.Item == "" || len(o.Item) > 100 || o.Quantity < 1 || o.Quantity > 1000 {
				t.Errorf("decodeOrder(%q) accepted %+v", s, o)
			}
		}
		r := httptest.NewRequest("POST", "/api/orders", nil)
		r.Header["X-Tenant"] = []string{s}
		if tenant, err := tenantOf(r); err == nil {
			if tenant != s || len(tenant) > maxTenant || strings.Trim(tenant, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
				t.Errorf("tenantOf(%q) accepted %q", s, tenant)
			}
		} else if !strings.Contains(err.Error(), "X-Tenant") {
			t.Errorf("tenantOf(%q) error %q does not name the header", s, err)
		}
		if guard.allows(s) {
			if name := hostName(s); name != "localhost" && name != "127.0.0.1" && name != "::1" && name != "orders.internal" {
				t.Errorf("guard allows Host %q (name %q)", s, name)
			}
		}
	})
}
