package health

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		raw      string
		verbose  bool
		excludes []string
	}{
		{"", false, nil},
		{"verbose", true, nil},
		{"verbose=1", true, nil},
		{"verbose=false", false, nil},
		{"exclude=a&exclude=b%2Fc&verbose=", true, []string{"a", "b/c"}},
		{"exclude=b&exclude=a&exclude=b", false, []string{"a", "b"}},
		{"exclude=%zz&exclude=ok", false, []string{"ok"}},
		{"exclude=a;b&exclude=c", false, []string{"c"}},
		{"other=1&&exclude=", false, []string{""}},
	}
	for _, tt := range tests {
		verbose, excludes, err := parseQuery(tt.raw, nil)
		if err != nil {
			t.Errorf("parseQuery(%q): %v", tt.raw, err)
		}
		if verbose != tt.verbose || !slices.Equal(excludes, tt.excludes) {
			t.Errorf("parseQuery(%q) = %v %q, want %v %q", tt.raw, verbose, excludes, tt.verbose, tt.excludes)
		}
	}
}

func TestParseQueryLimits(t *testing.T) {
	atCap := strings.Repeat("exclude=x&", MaxQueryParams-1) + "verbose"
	if _, ex, err := parseQuery(atCap, nil); err != nil || len(ex) != 1 {
		t.Errorf("%d parameters: %q, %v; want accepted", MaxQueryParams, ex, err)
	}
	for _, tc := range []struct{ raw, want string }{
		{atCap + "&x", "health: query has 33 parameters, more than 32"},
		{strings.Repeat("a", MaxQueryBytes+1), "health: query string is 1025 bytes, more than 1024"},
		{strings.Repeat("&", MaxQueryParams), "health: query has 33 parameters, more than 32"},
	} {
		if _, _, err := parseQuery(tc.raw, nil); err == nil || err.Error() != tc.want {
			t.Errorf("parseQuery(%.20q...) = %v, want %q", tc.raw, err, tc.want)
		}
	}
}

// FuzzQuery checks the query parser against net/url: the same excludes
// (sorted, without repeats), verbose exactly when url.ParseQuery has a
// verbose key whose last value is not "false" or "0", and an error exactly
// when the query is past the limits.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{"", "verbose", "exclude=a&exclude=b", "exclude=%41;x", "verbose=0&verbose", "a=%zz&exclude=%20",
		strings.Repeat("exclude=a&", 70)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		verbose, excludes, err := parseQuery(raw, nil)
		overCap := len(raw) > MaxQueryBytes || strings.Count(raw, "&")+1 > MaxQueryParams
		if (err != nil) != overCap {
			t.Fatalf("parseQuery(%q) error %v, over the cap: %v", raw, err, overCap)
		}
		if err != nil {
			return
		}
		q, _ := url.ParseQuery(raw)
		vs, has := q["verbose"]
		want := has && vs[len(vs)-1] != "false" && vs[len(vs)-1] != "0"
		if verbose != want {
			t.Fatalf("parseQuery(%q) verbose = %v, net/url says %v (%q)", raw, verbose, want, vs)
		}
		wantEx := slices.Compact(slices.Sorted(slices.Values(q["exclude"])))
		if !slices.Equal(excludes, wantEx) && !(len(excludes) == 0 && len(wantEx) == 0) {
			t.Fatalf("parseQuery(%q) excludes = %q, net/url says %q", raw, excludes, wantEx)
		}
	})
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		path, name string
		ok         bool
	}{
		{"/readyz", "", true},
		{"/readyz/", "", true},
		{"/readyz/db", "db", true},
		{"/readyz/readyz", "readyz", true},
		{"/x/readyz/db", "db", true},
		{"/readyzz/readyz/db", "db", true},
		{"/readyz/a/b", "", false},
		{"/elsewhere", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		name, ok := checkName(tt.path, "readyz")
		if name != tt.name || ok != tt.ok {
			t.Errorf("checkName(%q) = %q %v, want %q %v", tt.path, name, ok, tt.name, tt.ok)
		}
	}
}

// FuzzCheckName checks that a name found in a path never contains a slash,
// and that a path built from a valid name gives that name back.
func FuzzCheckName(f *testing.F) {
	for _, seed := range []string{"/readyz", "/readyz/db", "/a/readyz/b/c", "readyz", "/readyzreadyz/"} {
		f.Add(seed, "db")
	}
	f.Fuzz(func(t *testing.T, path, name string) {
		got, ok := checkName(path, "readyz")
		if ok && strings.Contains(got, "/") {
			t.Fatalf("checkName(%q) = %q, contains a slash", path, got)
		}
		if validName(name) {
			if got, ok := checkName("/readyz/"+name, "readyz"); !ok || got != name {
				t.Fatalf("checkName(/readyz/%s) = %q %v", name, got, ok)
			}
		}
	})
}
