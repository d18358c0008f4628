// Package redact removes credentials from text that opskit puts into
// errors, logs and probe answers: the password of a URL's userinfo
// ("postgres://app:hunter2@db/x" becomes "postgres://app:xxxxx@db/x") and
// the value of a "password=" pair in a connection string.
package redact

import "strings"

// mask replaces a secret.
const mask = "xxxxx"

// Text returns s with every URL userinfo password and every password=
// value masked. It runs in time linear in len(s) and returns s itself
// (no allocation) when there is nothing to mask.
func Text(s string) string {
	if !strings.Contains(s, "://") && !containsFold(s, "password=") {
		return s
	}
	var b strings.Builder
	last := 0 // s[:last] is written to b, or is to be
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "://"):
			start := i + 3
			end := start
			for end < len(s) && !strings.ContainsRune("/?#@ \t\r\n\"'<>`", rune(s[end])) {
				end++
			}
			if end < len(s) && s[end] == '@' {
				if c := strings.IndexByte(s[start:end], ':'); c >= 0 && start+c+1 < end {
					b.WriteString(s[last : start+c+1])
					b.WriteString(mask)
					last = end
				}
				end++
			}
			i = end
		case hasPrefixFold(s[i:], "password="):
			start := i + len("password=")
			end := start
			for end < len(s) && !strings.ContainsRune(" \t\r\n&;\"'", rune(s[end])) {
				end++
			}
			if end > start {
				b.WriteString(s[last:start])
				b.WriteString(mask)
				last = end
			}
			i = end
		default:
			i++
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// Error returns err with its message passed through Text, still matching
// what err matches with errors.Is and errors.As; err itself when there is
// nothing to mask. (The wrapped error keeps the original text: print the
// returned error, not what it wraps.)
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if red := Text(msg); red != msg {
		return &redacted{msg: red, err: err}
	}
	return err
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if (s[i] == sub[0] || s[i] == sub[0]-32) && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
