package feature

import (
	"fmt"
	"strings"
	"time"
)

// Impact is a short live sentence on who a failing feature affects, for an
// alert's description or an incident:
//
//	orders.bulk is failing for 37 ±1 tenants (12 % of its users) since 10:02 UTC; 180 failed uses; top reason: "bulk pricing unavailable" (170 times)
//
// It is empty when the feature is not failing: no failure in the last 15
// minutes. "since" is the start of the current failing episode — the first
// failure after at least 15 minutes without one — also when that was
// before midnight (UTC); tenants and uses count over the UTC days of the
// episode. With a directory or a fleet store the figures are the fleet's
// (every instance's counts merged), as on the report. A nil *Feature
// returns "".
func (f *Feature) Impact() string {
	if f == nil {
		return ""
	}
	st, _, _ := f.r.fleetState()
	fs := st.Features[f.name]
	if fs == nil {
		return ""
	}
	return impactOf(fs, unixMinute(st.Saved))
}

// failingAt reports whether the feature's latest failing episode is still
// going at minute now.
func (f *featState) failingAt(now int64) bool {
	return f.EpLast != 0 && now-f.EpLast <= episodeGap
}

func impactOf(f *featState, now int64) string {
	if !f.failingAt(now) {
		return ""
	}
	var failBits, bits [tenantWords]uint64
	var fails int64
	for d := dayOf(f.EpStart); d <= dayOf(now); d++ {
		if ds := f.Days[d]; ds != nil {
			orInto(&failBits, &ds.FailBits)
			orInto(&bits, &ds.Bits)
			fails += ds.Fails
		}
	}
	var b strings.Builder
	b.WriteString(f.Name + " is failing")
	if tenants, tErr, _ := estimateIfAny(&failBits); tenants > 0 {
		users, _, _ := estimateIfAny(&bits)
		fmt.Fprintf(&b, " for %s tenants (%s of its users)", tenantsText(tenants, tErr), pctText(pct(int(min(tenants, users)), int(max(users, 1)))))
	}
	since := minuteTime(f.EpStart)
	fmt.Fprintf(&b, " since %s; %d failed uses", sinceText(since, minuteTime(now)), fails)
	if len(f.Reasons) > 0 {
		fmt.Fprintf(&b, "; top reason: %q (%d times)", f.Reasons[0].Text, f.Reasons[0].Count)
	}
	return b.String()
}

// sinceText is "10:02 UTC" on the day of ref, else "2025-03-11 23:50 UTC".
func sinceText(t, ref time.Time) string {
	t, ref = t.UTC(), ref.UTC()
	if t.Truncate(24 * time.Hour).Equal(ref.Truncate(24 * time.Hour)) {
		return t.Format("15:04") + " UTC"
	}
	return t.Format("2006-01-02 15:04") + " UTC"
}
