package postgres_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/fleet/fleettest"
	"github.com/opskit/opskit/postgres"
)

// openStore opens a Store on schema, failing the test on error.
func openStore(t testing.TB, pool *pgxpool.Pool, schema string) *postgres.Store {
	t.Helper()
	s, err := postgres.OpenStore(context.Background(), pool, postgres.WithSchema(schema))
	if err != nil {
		t.Fatalf("OpenStore: %v", err)
	}
	return s
}

// The lease tests of the contract wait on the database's clock, which is
// the wall clock: time.Sleep is the only way to let it pass.
func TestStoreContract(t *testing.T) {
	pool := newPool(t, 8)
	s := openStore(t, pool, migrated(t, pool))
	fleettest.Run(t, s, time.Sleep)
}

// replicas is a fleet.Store that sends each call to the next of several
// Stores, each on its own pool (its own connections, as separate processes
// have): the contract must hold for the fleet, not just for one handle.
type replicas struct {
	stores []*postgres.Store
	next   atomic.Uint64
}

func (r *replicas) pick() *postgres.Store {
	return r.stores[r.next.Add(1)%uint64(len(r.stores))]
}

func (r *replicas) Key(ctx context.Context, name string, proposed []byte) ([]byte, error) {
	return r.pick().Key(ctx, name, proposed)
}

func (r *replicas) Put(ctx context.Context, kind, instance string, data []byte) error {
	return r.pick().Put(ctx, kind, instance, data)
}

func (r *replicas) States(ctx context.Context, kind string) ([]fleet.State, error) {
	return r.pick().States(ctx, kind)
}

func (r *replicas) Append(ctx context.Context, kind string, data []byte) (uint64, error) {
	return r.pick().Append(ctx, kind, data)
}

func (r *replicas) Records(ctx context.Context, kind string, after uint64, limit int) ([]fleet.Record, error) {
	return r.pick().Records(ctx, kind, after, limit)
}

func (r *replicas) Lead(ctx context.Context, name, instance string, ttl time.Duration) (bool, error) {
	return r.pick().Lead(ctx, name, instance, ttl)
}

func TestStoreContractAcrossReplicas(t *testing.T) {
	pool := newPool(t, 2)
	schema := migrated(t, pool)
	r := &replicas{}
	for range 3 {
		r.stores = append(r.stores, openStore(t, newPool(t, 4), schema))
	}
	fleettest.Run(t, r, time.Sleep)
}

// TestAppendReadersNeverSkip pages through a log while writers on separate
// pools append to it, as a replica tailing the audit trail does: every
// page must continue exactly where the last ended (seq after+1, no gaps),
// so a reader that remembers "after" never passes over a record that
// commits later. With a plain sequence column this fails: seq n+1 can
// commit, and be read past, before seq n.
func TestAppendReadersNeverSkip(t *testing.T) {
	const writers, each = 6, 40
	pool := newPool(t, 2)
	schema := migrated(t, pool)
	reader := openStore(t, pool, schema)
	ctx := context.Background()
	kind := "tail"

	var wg sync.WaitGroup
	for w := range writers {
		s := openStore(t, newPool(t, 2), schema)
		wg.Go(func() {
			for i := range each {
				if _, err := s.Append(ctx, kind, fmt.Appendf(nil, "w%d-%d", w, i)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var after uint64
	seen := map[string]bool{}
	for finished := false; ; {
		select {
		case <-done:
			finished = true // one more pass reads the rest
		default:
		}
		page, err := reader.Records(ctx, kind, after, 7)
		if err != nil {
			t.Errorf("Records: %v", err)
			<-done // the writers' pools close when the test returns
			return
		}
		for _, r := range page {
			if r.Seq != after+1 {
				t.Errorf("read seq %d after %d: a record was skipped or is not yet visible below a visible one", r.Seq, after)
				<-done
				return
			}
			after = r.Seq
			seen[string(r.Data)] = true
		}
		if finished && len(page) == 0 {
			break
		}
	}
	if len(seen) != writers*each || after != writers*each {
		t.Fatalf("read %d distinct records up to seq %d, want %d", len(seen), after, writers*each)
	}
}

// TestAuditTrailAcrossReplicas writes audit records from three replicas
// (Stores on their own pools) into the one fleet trail and reads it back
// verified, as the /audit page and the weekly report do.
func TestAuditTrailAcrossReplicas(t *testing.T) {
	const replicas, each = 3, 15
	pool := newPool(t, 2)
	schema := migrated(t, pool)
	key := []byte("a key shared by every replica...")
	ctx := context.Background()
	var wg sync.WaitGroup
	for r := range replicas {
		sink, err := audit.FleetSink(openStore(t, newPool(t, 2), schema), fmt.Sprint("replica-", r), key)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for i := range each {
				if err := sink.Append(ctx, audit.Record{Actor: "ann", Action: "queue.requeue", Target: fmt.Sprint(i), Result: "ok"}); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	reader := openStore(t, pool, schema)
	var after uint64
	per := map[string]int{}
	for {
		page, err := audit.ReadFleet(ctx, reader, key, after, 10)
		if err != nil {
			t.Fatalf("ReadFleet after %d: %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			per[e.Instance]++
			if e.Time.IsZero() {
				t.Errorf("record %d has no time", e.Seq)
			}
		}
		after = page[len(page)-1].Seq
	}
	if after != replicas*each || len(per) != replicas {
		t.Fatalf("trail ends at seq %d with %d writers (%v), want %d and %d", after, len(per), per, replicas*each, replicas)
	}
}

func TestStoreNeedsMigrate(t *testing.T) {
	pool := newPool(t, 6)
	schema := newSchema(t, pool)
	ctx := context.Background()
	if _, err := postgres.OpenStore(ctx, pool, postgres.WithSchema(schema)); !errors.Is(err, postgres.ErrNotMigrated) {
		t.Fatalf("OpenStore before Migrate = %v, want ErrNotMigrated", err)
	}
	// Two queues in one schema migrate at once; the fleet tables are
	// created once and versioned apart from either queue.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		table := []string{"jobs", "mail"}[i%2]
		wg.Go(func() { errs[i] = postgres.Migrate(ctx, pool, postgres.WithSchema(schema), postgres.WithTable(table)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	s := openStore(t, pool, schema)
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	var steps int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "fleet_migrations"}.Sanitize()).Scan(&steps); err != nil || steps != 1 {
		t.Fatalf("fleet_migrations has %d rows (%v), want 1", steps, err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "fleet_migrations"}.Sanitize()+
		" (version, description) VALUES (999, 'from the future')"); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.OpenStore(ctx, pool, postgres.WithSchema(schema)); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("OpenStore on a newer schema = %v, want an error saying it is newer", err)
	}
	if _, err := pool.Exec(ctx, "DROP TABLE "+pgx.Identifier{schema, "fleet_leases"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err == nil || !strings.HasPrefix(err.Error(), "postgres: fleet ") {
		t.Fatalf("Check with a table dropped = %v, want a postgres: fleet error", err)
	}
}

func TestStorePlansUseIndexes(t *testing.T) {
	pool := newPool(t, 2)
	s := openStore(t, pool, migrated(t, pool))
	checkPlans(t, pool, postgres.StorePlanTargets(s))
}

func TestStoreInputsPostgreSQLCannotHold(t *testing.T) {
	pool := newPool(t, 2)
	s := openStore(t, pool, migrated(t, pool))
	ctx := context.Background()
	if err := s.Put(ctx, "k\xff", "a", nil); !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("Put with invalid UTF-8 kind = %v, want fleet.ErrInvalid naming UTF-8", err)
	}
	if _, err := s.Lead(ctx, "n", "i\x00", time.Second); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("Lead with a NUL in instance = %v, want fleet.ErrInvalid", err)
	}
	if _, err := s.Key(ctx, "k", make([]byte, fleet.MaxData+1)); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("Key with an oversized proposal = %v, want fleet.ErrInvalid", err)
	}
	// nil data is stored (as empty), not refused as a NULL.
	if err := s.Put(ctx, "empty", "a", nil); err != nil {
		t.Fatalf("Put(nil): %v", err)
	}
	if seq, err := s.Append(ctx, "empty", nil); err != nil || seq != 1 {
		t.Fatalf("Append(nil) = %d, %v; want 1", seq, err)
	}
	if rs, err := s.Records(ctx, "empty", 1<<63, 0); err != nil || len(rs) != 0 {
		t.Fatalf("Records after 2^63 = %v, %v; want none", rs, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Append(ctx, "empty", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Append on a canceled context = %v, want context.Canceled", err)
	}
}

// leaderEnv names the schema a re-executed test binary leads in.
const leaderEnv = "OPSKIT_PG_TEST_LEADER_SCHEMA"

const (
	leaderTTL   = time.Second
	leaderRenew = leaderTTL / 4
)

// TestKilledLeaderHandsOver runs a leader in a child process (this test
// binary again), which renews its lease every leaderRenew; SIGKILLs it,
// and checks that another replica polling Lead takes over after the
// lease's ttl ends (not before it could have, not long after).
func TestKilledLeaderHandsOver(t *testing.T) {
	if schema := os.Getenv(leaderEnv); schema != "" {
		childLeader(t, schema)
		return
	}
	pool := newPool(t, 4)
	schema := migrated(t, pool)
	s := openStore(t, pool, schema)
	ctx := context.Background()

	cmd, out := startChild(t, "TestKilledLeaderHandsOver", leaderEnv, schema)
	sc := bufio.NewScanner(out)
	leading := false
	for !leading && sc.Scan() {
		leading = sc.Text() == "leading"
	}
	if !leading {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child exited without leading")
	}
	go io.Copy(io.Discard, out)
	// Two renewal periods: the child keeps the lease past its first ttl
	// only by renewing.
	deadline := time.Now().Add(leaderTTL + 2*leaderRenew)
	for time.Now().Before(deadline) {
		if ok, err := s.Lead(ctx, "alerts", "parent", leaderTTL); ok || err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("Lead while the child leads and renews = %v, %v; want false", ok, err)
		}
		<-time.After(50 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child exit: %v, want killed", err)
	}
	const poll = 20 * time.Millisecond
	for {
		ok, err := s.Lead(ctx, "alerts", "parent", leaderTTL)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(killed)
		if ok {
			// The child renewed at most leaderRenew (plus a round trip)
			// before it was killed, and its lease ran ttl from then.
			if took < leaderTTL-leaderRenew-100*time.Millisecond {
				t.Fatalf("took over %v after the kill: before the dead leader's lease (ttl %v) could have ended", took, leaderTTL)
			}
			t.Logf("took over %v after the kill (ttl %v, renewal every %v, polling every %v)", took, leaderTTL, leaderRenew, poll)
			return
		}
		if took > leaderTTL+time.Second {
			t.Fatalf("no take-over %v after the kill, ttl %v", took, leaderTTL)
		}
		<-time.After(poll)
	}
}

// childLeader takes the lease, says so on stdout, and renews it until it
// is killed.
func childLeader(t *testing.T, schema string) {
	pool := newPool(t, 2)
	s := openStore(t, pool, schema)
	ctx := context.Background()
	said := false
	for {
		ok, err := s.Lead(ctx, "alerts", "child", leaderTTL)
		if err != nil {
			t.Fatal(err)
		}
		if ok && !said {
			fmt.Println("leading")
			said = true
		}
		if !ok && said {
			t.Fatal("child lost the lease while renewing")
		}
		<-time.After(leaderRenew)
	}
}

// BenchmarkStoreAppend measures appends to one kind (serialised on its
// head row) and to a kind per goroutine (independent), from 8 goroutines.
func BenchmarkStoreAppend(b *testing.B) {
	pool := newPool(b, 8)
	schema := newSchema(b, pool)
	if err := postgres.Migrate(context.Background(), pool, postgres.WithSchema(schema)); err != nil {
		b.Fatal(err)
	}
	s := openStore(b, pool, schema)
	data := make([]byte, 256)
	for _, tc := range []struct {
		name    string
		oneKind bool
	}{{"one-kind", true}, {"kind-per-goroutine", false}} {
		b.Run(tc.name, func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0))) // 8 goroutines
			b.RunParallel(func(pb *testing.PB) {
				kind := tc.name
				if !tc.oneKind {
					kind = fmt.Sprint(tc.name, n.Add(1))
				}
				for pb.Next() {
					if _, err := s.Append(context.Background(), kind, data); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}
