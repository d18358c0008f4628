package postgres

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// statements are a queue's SQL, with its quoted table name filled in. Every
// time in them is a parameter read from the queue's clock; none calls
// now(). The comments name the index each statement runs on (checked by
// TestQueryPlansUseIndexes).
type statements struct {
	enqueue, dedupeHolder, notify                      string
	enqueueMany, dedupeHolders                         string
	sweep, pick, next                                  string
	ack, nack, dead, extend, release, giveBack         string
	deadList, requeue, purge, requeueSel, purgeSel     string
	countReady, countDelayed, countInFlight, countDead string
	oldest, size, boundedDepth, check                  string
	boundedDead                                        string
}

// deadFilter selects dead letters by queue.DeadFilter's fields, bound as
// $1 to $4 (see deadArgs).
const deadFilter = `state = 2 AND id > $1 AND ($2::timestamptz IS NULL OR dead_at >= $2)
	AND ($3::timestamptz IS NULL OR dead_at < $3) AND starts_with(coalesce(reason, ''), $4)`

// The WHERE clauses of Stats' counts: $1 is now (deadWhere has none).
const (
	readyWhere    = `state <> 2 AND available_at <= $1`
	delayedWhere  = `state <> 2 AND available_at > $1 AND state = 0`
	inFlightWhere = `state = 1 AND available_at > $1`
	deadWhere     = `state = 2`
)

// asyncCommit makes the transaction it runs in commit without waiting for
// its WAL to be flushed: a "not now" release must not cost an fsync.
const asyncCommit = `SELECT set_config('synchronous_commit', 'off', true)`

// exhaustedReason is the dead letter reason of a message whose last
// attempt's lease expired.
const exhaustedReason = "attempts exhausted: last delivery was never settled"

func newStatements(table string) statements {
	s := statements{
		// $1 available_at, $2 enqueued_at, $3 dedupe key or NULL, $4 payload.
		enqueue: `INSERT INTO {t} (available_at, enqueued_at, dedupe_key, payload) VALUES ($1, $2, $3, $4)
ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id`,
		// Many rows at once, one per array element: $1 available_at,
		// $2 enqueued_at, $3 dedupe keys (NULL elements without), $4
		// payloads. Ids are drawn from the identity's sequence in the
		// materialised src, so that each input row (its ordinal) learns its
		// id, or NULL when its dedupe key was taken.
		enqueueMany: `WITH src AS MATERIALIZED (
	SELECT u.ord, nextval({seq}) AS id, u.a, u.e, u.k, u.p
	FROM unnest($1::timestamptz[], $2::timestamptz[], $3::bytea[], $4::bytea[]) WITH ORDINALITY AS u(a, e, k, p, ord)),
ins AS (
	INSERT INTO {t} (id, available_at, enqueued_at, dedupe_key, payload) OVERRIDING SYSTEM VALUE
	SELECT id, a, e, k, p FROM src ORDER BY ord
	ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id)
SELECT src.ord, ins.id FROM src LEFT JOIN ins ON ins.id = src.id`,
		// _dedupe.
		dedupeHolders: `SELECT dedupe_key, id FROM {t} WHERE dedupe_key = ANY($1::bytea[])`,
		// _dedupe.
		dedupeHolder: `SELECT id FROM {t} WHERE dedupe_key = $1`,
		notify:       `SELECT pg_notify($1, '')`,

		// _leased: dead-letter expired leases whose attempts are spent.
		// $1 now, $2 max attempts.
		sweep: `UPDATE {t} SET state = 2, dead_at = $1, lease = 0, reason = '` + exhaustedReason + `'
WHERE id IN (SELECT id FROM {t} WHERE state = 1 AND available_at <= $1 AND attempts >= $2
	ORDER BY available_at LIMIT 100 FOR UPDATE SKIP LOCKED)`,
		// _available: lease the first due row nobody else is locking.
		// $1 now, $2 deadline, $3 lease, $4 owner, $5 max attempts.
		pick: `UPDATE {t} SET state = 1, attempts = attempts + 1, available_at = $2, lease = $3, owner = $4
WHERE id = (SELECT id FROM {t} WHERE state <> 2 AND available_at <= $1 AND (state = 0 OR attempts < $5)
	ORDER BY available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, payload, attempts, enqueued_at`,
		// _available: when the next row falls due (or its lease ends).
		next: `SELECT available_at FROM {t} WHERE state <> 2 ORDER BY available_at, id LIMIT 1`,

		// Primary key. $1 id, $2 lease, $3 now: the lease must still hold.
		ack: `DELETE FROM {t} WHERE id = $1 AND state = 1 AND lease = $2 AND available_at > $3`,
		// $4 not-before, $5 reason, $6 attempt.
		nack: `UPDATE {t} SET state = 0, available_at = $4, lease = 0, reason = $5
WHERE id = $1 AND state = 1 AND lease = $2 AND available_at > $3 AND attempts = $6`,
		// $4 reason.
		dead: `UPDATE {t} SET state = 2, dead_at = $3, lease = 0, reason = $4
WHERE id = $1 AND state = 1 AND lease = $2 AND available_at > $3`,
		// $4 new deadline.
		extend: `UPDATE {t} SET available_at = $4 WHERE id = $1 AND state = 1 AND lease = $2 AND available_at > $3`,
		// _leased: end this handle's leases now. $1 now, $2 owner.
		release: `UPDATE {t} SET available_at = $1, lease = 0 WHERE state = 1 AND available_at > $1 AND owner = $2`,

		// $4 not-before: the lease ends and the attempt is given back.
		giveBack: `UPDATE {t} SET state = 0, available_at = $4, lease = 0, attempts = greatest(attempts - 1, 0)
WHERE id = $1 AND state = 1 AND lease = $2 AND available_at > $3`,

		// _dead. The dead-letter filter: $1 after id, $2 since or NULL,
		// $3 until or NULL, $4 reason prefix, $5 limit or NULL.
		deadList: `SELECT id, payload, attempts, enqueued_at, dead_at, coalesce(reason, '') FROM {t}
WHERE ` + deadFilter + ` ORDER BY id LIMIT $5`,
		// $6 now.
		requeueSel: `UPDATE {t} SET state = 0, attempts = 0, available_at = $6, lease = 0, owner = 0, dead_at = NULL, reason = NULL
WHERE id IN (SELECT id FROM {t} WHERE ` + deadFilter + ` ORDER BY id LIMIT $5 FOR UPDATE)`,
		purgeSel: `DELETE FROM {t} WHERE id IN (SELECT id FROM {t} WHERE ` + deadFilter + ` ORDER BY id LIMIT $5 FOR UPDATE)`,
		// _dead (or the primary key). $1 id, $2 now.
		requeue: `UPDATE {t} SET state = 0, attempts = 0, available_at = $2, lease = 0, owner = 0, dead_at = NULL, reason = NULL
WHERE id = $1 AND state = 2`,
		purge: `DELETE FROM {t} WHERE id = $1 AND state = 2`,

		// Stats' counts, each bounded by $2 rows read (see stats.go) and
		// each with its WHERE clause in a *Where constant for the planner's
		// estimate beyond the bound. _available.
		countReady: `SELECT count(*) FROM (SELECT 1 FROM {t} WHERE ` + readyWhere + ` LIMIT $2) AS d`,
		// _available (reads in-flight entries past now too, O(in flight)).
		countDelayed: `SELECT count(*) FROM (SELECT 1 FROM {t} WHERE ` + delayedWhere + ` LIMIT $2) AS d`,
		// _leased.
		countInFlight: `SELECT count(*) FROM (SELECT 1 FROM {t} WHERE ` + inFlightWhere + ` LIMIT $2) AS d`,
		// _dead. $1 is the bound.
		countDead: `SELECT count(*) FROM (SELECT 1 FROM {t} WHERE ` + deadWhere + ` LIMIT $1) AS d`,
		// Primary key: ids follow enqueue order, so the lowest live id is
		// the oldest message.
		oldest:       `SELECT enqueued_at FROM {t} WHERE state <> 2 ORDER BY id LIMIT 1`,
		size:         `SELECT pg_total_relation_size($1::regclass)`,
		boundedDepth: `SELECT count(*) FROM (SELECT 1 FROM {t} WHERE state <> 2 LIMIT $1) AS d`,
		boundedDead:  `SELECT count(*) FROM (SELECT 1 FROM {t} WHERE state = 2 LIMIT $1) AS d`,
		check:        `SELECT 1 FROM {t} WHERE false`,
	}
	r := strings.NewReplacer("{t}", table) // {seq} is filled by withSequence
	for _, p := range []*string{
		&s.enqueue, &s.enqueueMany, &s.dedupeHolders, &s.dedupeHolder, &s.sweep, &s.pick, &s.next, &s.ack, &s.nack, &s.dead, &s.extend,
		&s.release, &s.giveBack, &s.deadList, &s.requeue, &s.purge, &s.requeueSel, &s.purgeSel,
		&s.countReady, &s.countDelayed, &s.countInFlight, &s.countDead, &s.oldest, &s.boundedDepth, &s.boundedDead, &s.check,
	} {
		*p = r.Replace(*p)
	}
	return s
}

// withSequence fills enqueueMany's {seq} with the id sequence seq, as
// pg_get_serial_sequence names it (quoted where needed).
func (s *statements) withSequence(seq string) {
	s.enqueueMany = strings.ReplaceAll(s.enqueueMany, "{seq}", "'"+strings.ReplaceAll(seq, "'", "''")+"'::regclass")
}

// newBatch returns an empty batch; its statements run in one round trip
// and, outside a caller's transaction, in one implicit transaction.
func newBatch() *pgx.Batch { return &pgx.Batch{} }
