package retry

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := epoch
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"120", 2 * time.Minute, true},
		{" 0 ", 0, true},
		{"007", 7 * time.Second, true},
		{"99999999999999999999", math.MaxInt64, true},
		{"9223372037", math.MaxInt64, true},
		{"9223372036", 9223372036 * time.Second, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Thursday, 01-Jan-26 00:00:30 GMT", 30 * time.Second, true}, // RFC 850
		{"Thu Jan  1 00:01:00 2026", time.Minute, true},              // ANSI C asctime
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-5", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"+3", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
		"Thursday, 01-Jan-26 00:00:30 GMT", "Thu Jan  1 00:01:00 2026", "-1", " 5 ", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, epoch)
		if d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v, negative", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v with ok false", s, d)
		}
		// Cross-check against the standard library's own parsers.
		v := strings.TrimSpace(s)
		if isDigits(v) {
			n, err := strconv.ParseUint(v, 10, 64)
			want := time.Duration(math.MaxInt64)
			if err == nil && n <= math.MaxInt64/uint64(time.Second) {
				want = time.Duration(n) * time.Second
			}
			if !ok || d != want {
				t.Fatalf("ParseRetryAfter(%q) = %v, %v; want %v, true", s, d, ok, want)
			}
			return
		}
		tm, err := http.ParseTime(v)
		if ok != (err == nil) || (ok && d != max(tm.Sub(epoch), 0)) {
			t.Fatalf("ParseRetryAfter(%q) = %v, %v; http.ParseTime says %v, %v", s, d, ok, tm, err)
		}
	})
}
