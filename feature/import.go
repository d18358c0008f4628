package feature

import (
	"fmt"
	"time"
)

// DayUsage is one feature's usage on one UTC day, for Import.
type DayUsage struct {
	Feature  string    // a declared feature
	Day      time.Time // any time on the UTC day
	Uses     int64     // all uses, failed ones included
	Failures int64     // how many of Uses failed (at most Uses)
	// Tenants are the raw ids of tenants who used the feature that day and
	// FailingTenants those for whom it failed (they count as users too).
	// They are hashed with the registry's key, as WithTenant does, and not
	// kept.
	Tenants        []string
	FailingTenants []string
}

// Import adds a day of usage recorded elsewhere — a backfill from logs, or
// months of generated history to try reports on — as if the uses had
// happened on that day. The day must be within the KeepDays days kept,
// ending today on the registry's clock; days within the last 8 also feed
// the "is tenant X affected?" filters. First and last seen widen to the
// day's first minute and its last minute (or now, today). Import adds to
// what is there, so importing a day twice counts it twice.
func (r *Registry) Import(u DayUsage) error {
	switch {
	case u.Uses < 0:
		return fmt.Errorf("%w: import %q: uses %d, want >= 0", ErrInvalid, u.Feature, u.Uses)
	case u.Failures < 0 || u.Failures > u.Uses:
		return fmt.Errorf("%w: import %q: failures %d, want 0 to uses (%d)", ErrInvalid, u.Feature, u.Failures, u.Uses)
	case u.Day.IsZero():
		return fmt.Errorf("%w: import %q: day is the zero time", ErrInvalid, u.Feature)
	}
	f, ok := r.Lookup(u.Feature)
	if !ok {
		return fmt.Errorf("%w: import: feature %q is not declared", ErrInvalid, u.Feature)
	}
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advanceLocked(now)
	d := dayOf(unixMinute(u.Day))
	today := dayOf(r.curMinute)
	if d > today || r.slotDay[daySlot(d)] != d {
		return fmt.Errorf("%w: import %q: day %s is outside the %d days kept (%s to %s)", ErrInvalid, u.Feature,
			u.Day.UTC().Format("2006-01-02"), KeepDays, day(dayTime(today-KeepDays+1)), day(dayTime(today)))
	}
	db := &f.days[daySlot(d)]
	var look *lookPair
	if ls := lookSlot(d); r.slotLook[ls] == d {
		look = &f.look[ls]
	}
	markAll := func(ids []string, failed bool) {
		for _, id := range ids {
			if id == "" {
				continue
			}
			h := sipHash(r.key, id)
			t := tenant{hash: h, probe: probeOf(h)}
			mark(&db.bits, h)
			if look != nil {
				look.used.mark(&t)
			}
			if failed {
				mark(&db.failBits, h)
				if look != nil {
					look.failed.mark(&t)
				}
			}
		}
	}
	markAll(u.Tenants, false)
	markAll(u.FailingTenants, true)
	if look != nil {
		look.changed()
	}
	first := d * 24 * 60
	last := min(first+24*60-1, r.curMinute)
	db.uses += u.Uses
	db.fails += u.Failures
	if u.Failures > 0 {
		db.failSeen(first)
		db.failSeen(last)
	}
	if u.Uses > 0 {
		f.total += u.Uses
		f.seenLocked(first)
		f.seenLocked(last)
	}
	return nil
}
