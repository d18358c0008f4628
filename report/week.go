package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Week is an ISO 8601 week: Monday to Sunday, numbered 1 to 52 or 53 in
// its ISO year (the year its Thursday falls in). Where it starts depends
// on a location: Monday 00:00 there (UTC by default, WithLocation).
type Week struct {
	Year   int // ISO week-numbering year
	Number int // 1 to 52, or 53 in a long year
}

// WeekOf returns the ISO week that t falls in, in t's location.
func WeekOf(t time.Time) Week {
	y, n := t.ISOWeek()
	return Week{Year: y, Number: n}
}

// String is the ISO form, e.g. "2026-W49".
func (w Week) String() string { return fmt.Sprintf("%04d-W%02d", w.Year, w.Number) }

// Start is Monday 00:00 of the week in loc.
func (w Week) Start(loc *time.Location) time.Time {
	// January 4th is in week 1; its Monday starts week 1.
	jan4 := time.Date(w.Year, time.January, 4, 0, 0, 0, 0, loc)
	back := (int(jan4.Weekday()) + 6) % 7 // days since Monday
	return time.Date(w.Year, time.January, 4-back+7*(w.Number-1), 0, 0, 0, 0, loc)
}

// End is the start of the next week in loc: the week is [Start, End).
func (w Week) End(loc *time.Location) time.Time { return w.Next().Start(loc) }

// Next is the week after w.
func (w Week) Next() Week { return WeekOf(w.Start(time.UTC).AddDate(0, 0, 7)) }

// Prev is the week before w.
func (w Week) Prev() Week { return WeekOf(w.Start(time.UTC).AddDate(0, 0, -7)) }

// Before reports whether w comes before o.
func (w Week) Before(o Week) bool {
	return w.Year < o.Year || w.Year == o.Year && w.Number < o.Number
}

// valid reports whether w names a week that exists.
func (w Week) valid() bool {
	return w.Year >= 1 && w.Year <= 9999 && w.Number >= 1 && w.Number <= 53 && WeekOf(w.Start(time.UTC)) == w
}

// ParseWeek parses the ISO form "2026-W49" (also "2026W49" and a lower-case
// "w"). A week 53 is accepted only in a year that has one.
func ParseWeek(s string) (Week, error) {
	bad := func(why string) (Week, error) {
		return Week{}, fmt.Errorf("report: week %s: %s", quote(s), why)
	}
	if len(s) > 16 {
		return bad("too long; want an ISO week like 2026-W49")
	}
	y, n, ok := strings.Cut(strings.ToUpper(s), "W")
	y = strings.TrimSuffix(y, "-")
	if !ok || len(y) != 4 || len(n) != 2 {
		return bad("want an ISO week like 2026-W49")
	}
	year, err1 := strconv.Atoi(y)
	num, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || y[0] == '+' || y[0] == '-' || n[0] == '+' || n[0] == '-' {
		return bad("want an ISO week like 2026-W49")
	}
	w := Week{Year: year, Number: num}
	if !w.valid() {
		return bad(fmt.Sprintf("year %d has no week %d", year, num))
	}
	return w, nil
}

// quote quotes at most 64 bytes of s for an error message.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}
