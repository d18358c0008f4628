package queue

import (
	"slices"
	"sort"
)

// deadIndex holds the dead letters sorted by id, so listing a page or
// selecting by filter walks the dead letters only, from the page's cursor,
// never every stored message. Dead letters mostly arrive in id order
// (older messages spend their attempts first), so adding is usually an
// append. Not safe for concurrent use; index's owner guards it.
type deadIndex struct {
	es []*entry
}

// search returns the position of the first entry with id above after.
func (d *deadIndex) search(after uint64) int {
	return sort.Search(len(d.es), func(i int) bool { return d.es[i].id > after })
}

func (d *deadIndex) add(e *entry) {
	if n := len(d.es); n == 0 || d.es[n-1].id < e.id {
		d.es = append(d.es, e)
		return
	}
	i := d.search(e.id - 1)
	if i < len(d.es) && d.es[i] == e {
		return
	}
	d.es = slices.Insert(d.es, i, e)
}

// del removes e. Removing the lowest id, as a bulk change from the start
// of the list does one entry after another, costs no copying.
func (d *deadIndex) del(e *entry) {
	i := d.search(e.id - 1)
	switch {
	case i >= len(d.es) || d.es[i] != e:
		return
	case i == 0:
		d.es[0] = nil
		d.es = d.es[1:]
	default:
		d.es = slices.Delete(d.es, i, i+1)
	}
	if cap(d.es) > 1024 && len(d.es) < cap(d.es)/4 {
		d.es = append([]*entry(nil), d.es...) // give memory back after a purge
	}
}

// rebuild fills the index from every dead entry of msgs.
func (d *deadIndex) rebuild(msgs map[uint64]*entry) {
	d.es = d.es[:0]
	for _, e := range msgs {
		if e.state == stDead {
			d.es = append(d.es, e)
		}
	}
	slices.SortFunc(d.es, func(a, b *entry) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
}

// selectLocked returns the dead entries f selects, in id order. Requires
// the queue's mu held; the cost is the dead letters from f.After on that
// fail the filter, plus the ones returned.
func (d *deadIndex) selectLocked(f DeadFilter) []*entry {
	var out []*entry
	for _, e := range d.es[d.search(uint64(f.After)):] {
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
		if f.match(e.deadLetter()) {
			out = append(out, e)
		}
	}
	return out
}

// deadLetter describes a dead entry, without its payload.
func (e *entry) deadLetter() DeadLetter {
	d := DeadLetter{ID: ID(e.id), Attempts: int(e.attempt), EnqueuedAt: unixTime(e.enqueued)}
	if e.dead != nil {
		d.DeadAt, d.Reason = unixTime(e.dead.at), e.dead.reason
	}
	return d
}
