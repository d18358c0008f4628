package health

import (
	"net/url"
	"strings"
)

// parseQuery reads the two parameters the probes understand from a raw
// query: verbose (present, with any value but "false" or "0") and every
// exclude=NAME. Other parameters and malformed pairs are ignored, as
// url.ParseQuery would skip them. An empty query costs nothing.
func parseQuery(raw string) (verbose bool, excludes []string) {
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
	return verbose, excludes
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
