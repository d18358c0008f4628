package queue

import "fmt"

// recover rebuilds the index from the segments on disk. Only the newest
// segment may end in a torn write (the writer finishes a segment on disk
// before it writes the next), so only its tail is cut; bad bytes anywhere
// else are reported as damage. Format 1 segments are read in place and
// never written: when the newest is one, a format 2 segment is started.
func (q *Queue) recover() error {
	bases, err := listSegments(q.dir, q.cfg.log)
	if err != nil {
		return err
	}
	var regions []Region
	var torn int64
	// A format 2 segment that is not the newest must end with its seal;
	// one that does not was cut short, unless no later segment holds a
	// record (the crash came as the next segment was being started).
	var unsealed []Region
	for i, base := range bases {
		s, err := openSegment(q.cfg.fs, q.dir, base)
		if err != nil {
			return err
		}
		q.segs = append(q.segs, s)
		q.nextID = max(q.nextID, base)
		var last recType
		var records int
		res, err := s.scan(func(r *record, off int64, n int32) {
			q.apply(r, s, off, n)
			last = r.typ
			records++
		})
		if err != nil {
			return err
		}
		if records > 0 && len(unsealed) > 0 {
			regions = append(regions, unsealed...)
			unsealed = nil
		}
		regions = append(regions, res.damaged...)
		st, err := s.f.Stat()
		if err != nil {
			return fmt.Errorf("queue: segment %s: %w", s.name(), err)
		}
		tail := st.Size() - res.valid
		if s.version == formatVersion && last != recSeal && i < len(bases)-1 && tail <= 0 {
			unsealed = append(unsealed, Region{Segment: s.name(), Offset: res.valid})
		}
		newest := i == len(bases)-1
		if res.headerBad && newest {
			// What this file holds is unclear: keep it as it is, report
			// its tail and start a fresh segment after it.
			newest = false
			q.freshActive = true
		}
		if tail > 0 {
			if !newest {
				regions = append(regions, Region{Segment: s.name(), Offset: res.valid, Length: tail})
			} else {
				torn = tail
				if err := s.truncate(res.valid); err != nil {
					return err
				}
			}
		}
		s.size = res.valid
		s.written.Store(res.valid)
	}
	if err := q.startActive(); err != nil {
		return err
	}
	q.idx.rebuild(q.now(), q.nextID)
	if len(regions) > 0 {
		q.corrupt.Store(int64(len(regions)))
		q.recovered = &CorruptError{Regions: regions}
		q.cfg.log.Warn("queue: damaged records skipped at open", "dir", q.dir, "err", q.recovered)
	}
	if torn > 0 {
		q.cfg.log.Info("queue: cut torn tail at open", "dir", q.dir, "bytes", torn)
	}
	return nil
}

// startActive makes sure the newest segment is a format 2 file the writer
// can append to: an empty one gets its header, and after a format 1 file
// (or in an empty directory) a new one is created.
func (q *Queue) startActive() error {
	var s *segment
	if k := len(q.segs); k > 0 && q.segs[k-1].version == formatVersion && !q.freshActive {
		return nil
	} else if k > 0 && q.segs[k-1].size == 0 && !q.freshActive {
		s = q.segs[k-1]
		if err := s.writeHeader(); err != nil {
			return err
		}
	} else {
		base := q.nextID
		if k > 0 {
			base = max(base, q.segs[k-1].base+1)
		}
		var err error
		if s, err = createSegment(q.cfg.fs, q.dir, base); err != nil {
			return err
		}
		q.segs = append(q.segs, s)
		q.nextID = max(q.nextID, base)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("queue: sync segment %s: %w", s.name(), err)
	}
	if err := q.cfg.fs.SyncDir(q.dir); err != nil {
		return fmt.Errorf("queue: fsync directory: %w", err)
	}
	return nil
}

// apply replays one record into the index during recovery.
func (q *Queue) apply(r *record, s *segment, off int64, size int32) {
	q.nextID = max(q.nextID, r.id+1)
	x := q.idx
	e := x.msgs[r.id]
	if r.typ == recEnqueue {
		if e != nil {
			x.relocate(e, s, off, size)
		} else {
			e = &entry{id: r.id, seg: s, off: off, size: size, state: stReady, hidx: -1, key: string(r.key)}
			x.msgs[r.id] = e
			x.bytes += int64(size)
			s.live += int64(size)
			if e.key != "" {
				x.keys[e.key] = e.id
			}
		}
		e.attempt, e.notBefore, e.enqueued = r.attempt, r.notBefore, r.time
		return
	}
	if e == nil {
		return // its message was compacted away, or its enqueue was damaged
	}
	switch r.typ {
	case recSeal:
	case recAck, recPurge:
		if e.state == stDead {
			x.dead--
		}
		e.state = stReady // so remove leaves the heaps alone
		x.remove(e)
	case recNack:
		e.attempt, e.notBefore = r.attempt, r.notBefore
	case recLease:
		e.attempt = max(e.attempt, r.attempt)
	case recDead:
		if e.state != stDead {
			x.dead++
		}
		e.state = stDead
		e.dead = &deadInfo{at: r.time, reason: string(r.payload)}
	case recRequeue:
		if e.state == stDead {
			x.dead--
		}
		e.state, e.attempt, e.notBefore, e.dead = stReady, 0, 0, nil
	}
}
