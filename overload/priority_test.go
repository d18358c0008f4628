package overload

import (
	"strings"
	"testing"
)

func TestParsePriority(t *testing.T) {
	for p := Background; p <= Exempt; p++ {
		got, err := ParsePriority(" " + strings.ToUpper(p.String()) + "\t")
		if err != nil || got != p {
			t.Errorf("ParsePriority(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePriority("urgent"); err == nil || !strings.Contains(err.Error(), `"urgent"`) {
		t.Errorf("ParsePriority(urgent): %v", err)
	}
	if s := Priority(9).String(); s != "priority(9)" {
		t.Errorf("String of an unknown priority = %q", s)
	}
}

func FuzzParsePriority(f *testing.F) {
	for _, s := range []string{"normal", "Critical", " exempt ", "background", "", "x", "normal\x00", "ＮＯＲＭＡＬ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePriority(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "overload: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		if p > Exempt {
			t.Fatalf("ParsePriority(%q) = %d, out of range", s, p)
		}
		if back, err := ParsePriority(p.String()); err != nil || back != p {
			t.Fatalf("round trip of %v: %v, %v", p, back, err)
		}
	})
}
