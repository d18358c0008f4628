package report

import (
	"strings"
	"testing"
	"time"
)

// TestFeatureDays: the UTC days the features section asks the registry for.
func TestFeatureDays(t *testing.T) {
	utc := func(mo time.Month, d, h int) time.Time { return time.Date(2026, mo, d, h, 0, 0, 0, time.UTC) }
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	ny := time.FixedZone("EST", -5*3600)
	for _, tt := range []struct {
		name       string
		from, end  time.Time
		now        time.Time
		days       int
		until      time.Time
		noteHas    string
		noteAbsent bool
	}{
		{"a UTC week, over", utc(11, 30, 0), utc(12, 7, 0), utc(12, 7, 0).Add(time.Minute), 7, utc(12, 7, 0), "", true},
		{"a UTC week on its Wednesday", utc(11, 30, 0), utc(12, 7, 0), utc(12, 2, 10), 3, utc(12, 3, 0), "The week is still running", false},
		{"a week in New York: Monday to Sunday UTC", time.Date(2026, 11, 30, 0, 0, 0, 0, ny), time.Date(2026, 12, 7, 0, 0, 0, 0, ny), utc(12, 7, 6), 7, utc(12, 7, 0),
			"not the week in EST (Mon 30 Nov 05:00 to Mon 7 Dec 05:00 UTC)", false},
		// The week British summer time ends: Monday 00:00 BST is Sunday
		// 23:00 UTC and the week ends Monday 00:00 UTC; in its first hour
		// no UTC day of it has begun.
		{"London, the week's first hour", time.Date(2026, 10, 19, 0, 0, 0, 0, london), time.Date(2026, 10, 26, 0, 0, 0, 0, london),
			utc(10, 18, 23).Add(30 * time.Minute), 0, time.Time{}, "The week is still running", false},
		{"London, that week over", time.Date(2026, 10, 19, 0, 0, 0, 0, london), time.Date(2026, 10, 26, 0, 0, 0, 0, london),
			utc(10, 26, 1), 7, utc(10, 26, 0), "not the week in Europe/London (Sun 18 Oct 23:00 to Mon 26 Oct 00:00 UTC)", false},
	} {
		days, until, note := featureDays(tt.from, tt.end, tt.now)
		if tt.days > 0 && (days != tt.days || !until.Equal(tt.until)) {
			t.Errorf("%s: %d days until %s, want %d until %s", tt.name, days, until, tt.days, tt.until)
		}
		if tt.days == 0 && days >= 1 {
			t.Errorf("%s: %d days until %s, want none", tt.name, days, until)
		}
		if !strings.Contains(note, tt.noteHas) || tt.noteAbsent && note != "" {
			t.Errorf("%s: note %q, want it to say %q", tt.name, note, tt.noteHas)
		}
	}
}
