package slo_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// event is one RecordN call a test made, for checking sums.
type event struct {
	at         time.Time
	total, bad int64
}

// sum adds up the events recorded in [from, to).
func sum(evs []event, from, to time.Time) (good, bad int64) {
	for _, e := range evs {
		if !e.at.Before(from) && e.at.Before(to) {
			good += e.total - e.bad
			bad += e.bad
		}
	}
	return good, bad
}

// Range sums exactly what was recorded between the bucket edges it
// returns, at 10 seconds within the last day, a minute within the minute
// tier and an hour within the period; older ranges, unknown names and
// empty ranges are errors.
func TestRange(t *testing.T) {
	m, fc := newMonitor(t)
	tr := m.MustAdd(slo.Objective{Name: "api", Target: 0.99})
	short := m.MustAdd(slo.Objective{Name: "short", Target: 0.99, Period: time.Hour})
	rng := rand.New(rand.NewPCG(1, 2))
	var evs, shortEvs []event
	rec := func(step time.Duration) {
		total := rng.Int64N(50) + 1
		bad := rng.Int64N(total/5 + 1)
		tr.RecordN(total, bad)
		evs = append(evs, event{fc.Now(), total, bad})
		short.RecordN(total, bad)
		shortEvs = append(shortEvs, event{fc.Now(), total, bad})
		fc.Advance(step + time.Duration(rng.Int64N(int64(time.Second))))
	}
	for fc.Now().Before(start.Add(38 * 24 * time.Hour)) {
		rec(7 * time.Minute)
	}
	for fc.Now().Before(start.Add(40 * 24 * time.Hour)) {
		rec(7 * time.Second)
	}
	now := fc.Now()
	cases := []struct {
		name     string
		obj      string
		from, to time.Time
		res      time.Duration
		events   []event
	}{
		{"last hour, unaligned", "api", now.Add(-time.Hour - 3*time.Second), now.Add(-17 * time.Second), 10 * time.Second, evs},
		{"through now and beyond", "api", now.Add(-5 * time.Minute), now.Add(time.Hour), 10 * time.Second, evs},
		{"a day ago", "api", now.Add(-23*time.Hour - 59*time.Minute), now.Add(-20 * time.Hour), 10 * time.Second, evs},
		{"two days ago", "api", now.Add(-47 * time.Hour), now.Add(-25*time.Hour - 30*time.Second), time.Minute, evs},
		{"a week", "api", now.Add(-7 * 24 * time.Hour).Truncate(time.Hour), now.Truncate(time.Hour), time.Hour, evs},
		{"the period", "api", now.Add(-30 * 24 * time.Hour), now, time.Hour, evs},
		{"short period, 20h ago", "short", now.Add(-20*time.Hour - 13*time.Second), now.Add(-2 * time.Hour), 10 * time.Second, shortEvs},
	}
	for _, c := range cases {
		rs, err := m.Range(c.obj, c.from, c.to)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if rs.Resolution != c.res || rs.From.After(c.from) || rs.From.Add(c.res).Before(c.from) ||
			rs.To.Before(minTime(c.to, now)) || rs.To.Add(-c.res).After(c.to) {
			t.Errorf("%s: resolution %v, [%v, %v) for [%v, %v)", c.name, rs.Resolution, rs.From, rs.To, c.from, c.to)
		}
		good, bad := sum(c.events, rs.From, rs.To)
		if rs.Good != good || rs.Bad != bad || good+bad == 0 {
			t.Errorf("%s: good %d bad %d, recorded %d and %d", c.name, rs.Good, rs.Bad, good, bad)
		}
		total := float64(good + bad)
		if rs.Compliance != float64(good)/total || rs.ErrorRatio != float64(bad)/total ||
			rs.Met != (rs.Compliance >= 0.99) || math.Abs(rs.BudgetSpent-float64(bad)/(total*0.01)) > 1e-9 {
			t.Errorf("%s: %+v", c.name, rs)
		}
	}
	if _, err := m.Range("api", now.Add(-31*24*time.Hour), now); !errors.Is(err, slo.ErrNotRetained) {
		t.Errorf("31 days ago: %v, want ErrNotRetained", err)
	}
	if _, err := m.Range("short", now.Add(-2*24*time.Hour), now); !errors.Is(err, slo.ErrNotRetained) {
		t.Errorf("short, 2 days ago: %v, want ErrNotRetained", err)
	}
	if _, err := m.Range("nope", now.Add(-time.Hour), now); !errors.Is(err, slo.ErrNoObjective) {
		t.Errorf("unknown objective: %v", err)
	}
	if _, err := m.Range("api", now, now); err == nil {
		t.Error("empty range: no error")
	}
	rs, err := m.Range("api", now.Add(time.Hour), now.Add(2*time.Hour))
	if err != nil || rs.Good+rs.Bad != 0 || !rs.Met || rs.Compliance != 1 {
		t.Errorf("future range: %+v, %v", rs, err)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
