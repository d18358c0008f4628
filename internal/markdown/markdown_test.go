package markdown

import (
	"strings"
	"testing"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a|b":                      `a\|b`,
		"<script>x</script>":       "&lt;script&gt;x&lt;/script&gt;",
		"[link](http://evil)":      `\[link\]\(http://evil\)`,
		"*bold* _it_ `code` # h !": "\\*bold\\* \\_it\\_ \\`code\\` \\# h \\!",
		"- item + {x}":             `\- item \+ \{x\}`,
		"two\nlines\r\tand\x00nul": "two lines  and nul",
		`back\slash & amp`:         `back\\slash &amp; amp`,
		"plain ünïcode 9 %":        "plain ünïcode 9 %",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzEscape: whatever the input, the output has no line break, no raw
// HTML bracket, and every Markdown punctuation character is escaped.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "a|b", "<x>", "\\|", "\n\r", "[x](y)", "ü\x7f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Escape(s)
		if strings.ContainsAny(out, "\n\r<>") {
			t.Fatalf("Escape(%q) = %q keeps a line break or a bracket", s, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] == '\\' {
				i++ // the escaped character
				continue
			}
			if strings.IndexByte("`*_{}[]()#+-!|~", out[i]) >= 0 {
				t.Fatalf("Escape(%q) = %q leaves %q unescaped at %d", s, out, out[i], i)
			}
		}
	})
}
