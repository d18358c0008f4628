package health

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Limits on a probe's query string. A probe is answered for anyone who can
// reach it, so what one request may ask for is capped: past either limit
// the answer is 400, decided before any parsing.
const (
	// MaxQueryBytes is the longest query string a probe reads.
	MaxQueryBytes = 1024
	// MaxQueryParams is the most parameters (verbose, exclude and any
	// other) a probe reads.
	MaxQueryParams = 32
)

// A report records which excludes matched in a 64-bit mask.
var _ [64 - MaxQueryParams]struct{}

// parseQuery reads the two parameters the probes understand from a raw
// query: verbose (present, with any value but "false" or "0") and every
// exclude=NAME, appended to excludes sorted and without repeats. Other
// parameters and malformed pairs are ignored, as url.ParseQuery would
// skip them, but count against MaxQueryParams. A query past the limits is
// an error. The cost is linear in len(raw), and an empty query costs
// nothing.
func parseQuery(raw string, excludes []string) (verbose bool, _ []string, _ error) {
	if len(raw) > MaxQueryBytes {
		return false, excludes, fmt.Errorf("health: query string is %d bytes, more than %d", len(raw), MaxQueryBytes)
	}
	if n := strings.Count(raw, "&") + 1; n > MaxQueryParams {
		return false, excludes, fmt.Errorf("health: query has %d parameters, more than %d", n, MaxQueryParams)
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(key)
		if err != nil {
			continue
		}
		switch key {
		case "verbose":
			v, err := url.QueryUnescape(value)
			if err != nil {
				continue
			}
			verbose = v != "false" && v != "0"
		case "exclude":
			v, err := url.QueryUnescape(value)
			if err != nil {
				continue
			}
			excludes = append(excludes, v)
		}
	}
	if len(excludes) > 1 {
		slices.Sort(excludes)
		excludes = slices.Compact(excludes)
	}
	return verbose, excludes, nil
}

// checkName finds the check a path asks for below endpoint: "/readyz" and
// "/readyz/" ask for the whole probe (name ""), "/readyz/db" for check db.
// The endpoint segment may sit under any prefix (a mux subtree or
// http.StripPrefix). ok is false when the path names something that cannot
// be a check, such as "/readyz/a/b".
func checkName(path, endpoint string) (name string, ok bool) {
	for rest := path; ; {
		i := strings.Index(rest, endpoint)
		if i < 0 {
			return "", true // mounted under another name: the whole probe
		}
		before, after := rest[:i], rest[i+len(endpoint):]
		rest = after
		if (before != "" && !strings.HasSuffix(before, "/")) || (after != "" && after[0] != '/') {
			continue // part of a longer segment, e.g. /readyzz
		}
		after = strings.TrimPrefix(after, "/")
		if strings.Contains(after, "/") {
			return "", false
		}
		return after, true
	}
}
