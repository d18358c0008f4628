// Package markdown makes text inert in the Markdown that opskit's reports
// write (feature usage, the weekly ops report).
package markdown

import "strings"

// Escape makes s inert inside Markdown text, lists and table cells:
// Markdown punctuation is backslash-escaped, HTML is entity-encoded, and
// line breaks, tabs and other control characters become spaces, so a
// value can neither start markup, end a table row nor carry HTML.
func Escape(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range s {
		switch c {
		case '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '-', '!', '|', '~':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteByte(' ')
				continue
			}
			b.WriteRune(c)
		}
	}
	return b.String()
}
