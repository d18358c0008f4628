package postgres

import "time"

// PlanTarget is a statement with sample arguments and the index it must
// run on, for TestQueryPlansUseIndexes.
type PlanTarget struct {
	Name, SQL, Index string
	Args             []any
}

// PlanTargets lists q's statements that run per message or per scrape.
func PlanTargets(q *Queue) []PlanTarget {
	s, t := q.sql, q.cfg.table
	now := time.Now()
	idx := func(suffix string) string { return t + "_" + suffix }
	return []PlanTarget{
		{"sweep", s.sweep, idx("leased"), []any{now, 3}},
		{"pick", s.pick, idx("available"), []any{now, now, int64(1), int64(1), 3}},
		{"next", s.next, idx("available"), nil},
		{"ack", s.ack, t + "_pkey", []any{int64(1), int64(1), now}},
		{"nack", s.nack, t + "_pkey", []any{int64(1), int64(1), now, now, "r", 1}},
		{"dead", s.dead, t + "_pkey", []any{int64(1), int64(1), now, "r"}},
		{"extend", s.extend, t + "_pkey", []any{int64(1), int64(1), now, now}},
		{"release", s.release, idx("leased"), []any{now, int64(1)}},
		{"dedupeHolder", s.dedupeHolder, idx("dedupe"), []any{[]byte("k")}},
		{"deadList", s.deadList, idx("dead"), []any{int64(0), nil, nil, "", int64(10)}},
		{"requeueSel", s.requeueSel, idx("dead"), []any{int64(0), now, now, "r", int64(10), now}},
		{"purgeSel", s.purgeSel, idx("dead"), []any{int64(0), nil, nil, "", int64(10)}},
		{"giveBack", s.giveBack, t + "_pkey", []any{int64(1), int64(1), now, now}},
		{"requeue", s.requeue, idx("dead"), []any{int64(1), now}},
		{"purge", s.purge, idx("dead"), []any{int64(1)}},
		{"countReady", s.countReady, idx("available"), []any{now, int64(10)}},
		{"countDelayed", s.countDelayed, idx("available"), []any{now, int64(10)}},
		{"countInFlight", s.countInFlight, idx("leased"), []any{now, int64(10)}},
		{"countDead", s.countDead, idx("dead"), []any{int64(10)}},
		{"dedupeHolders", s.dedupeHolders, idx("dedupe"), []any{[][]byte{[]byte("k"), []byte("l")}}},
		{"oldest", s.oldest, t + "_pkey", nil},
		{"boundedDepth", s.boundedDepth, idx("available"), []any{int64(10)}},
		{"boundedDead", s.boundedDead, idx("dead"), []any{int64(10)}},
	}
}

// AsyncCommit is the statement Release runs first in its batch.
const AsyncCommit = asyncCommit

// StorePlanTargets lists s's statements with sample arguments and the
// index each must run on (an INSERT's conflict arbiter counts).
func StorePlanTargets(s *Store) []PlanTarget {
	q := s.sql
	return []PlanTarget{
		{"keyInsert", q.keyInsert, "fleet_keys_pkey", []any{"k", []byte("v")}},
		{"keySelect", q.keySelect, "fleet_keys_pkey", []any{"k"}},
		{"put", q.put, "fleet_states_pkey", []any{"k", "i", []byte("v")}},
		{"states", q.states, "fleet_states_pkey", []any{"k"}},
		{"append", q.appendRecord, "fleet_heads_pkey", []any{"k", []byte("v")}},
		{"records", q.since, "fleet_records_pkey", []any{"k", int64(0), 10}},
		{"lead", q.lead, "fleet_leases_pkey", []any{"n", "i", int64(1000)}},
	}
}
