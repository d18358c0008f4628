package feature_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/audit/audittest"
	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/fleet"
)

// member starts one replica of a simulated fleet: no tenant key of its
// own, so the key comes from the store (or the directory).
func member(t *testing.T, fc *clock.Fake, instance string, opts ...feature.Option) *feature.Registry {
	t.Helper()
	base := []feature.Option{feature.WithClock(fc), feature.WithMeterProvider(noop.NewMeterProvider()),
		feature.WithInstance(instance), feature.WithLogger(discardLogger())}
	r, err := feature.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New(%s): %v", instance, err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

// flakyStore fails every call while down is set.
type flakyStore struct {
	fleet.Store
	down atomic.Bool
}

var errStoreDown = errors.New("connection refused")

func (s *flakyStore) Put(ctx context.Context, kind, instance string, data []byte) error {
	if s.down.Load() {
		return errStoreDown
	}
	return s.Store.Put(ctx, kind, instance, data)
}

func (s *flakyStore) States(ctx context.Context, kind string) ([]fleet.State, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.Store.States(ctx, kind)
}

// TestFleetOfThreeReplicas: three registries on one store, with
// overlapping tenants, each see the fleet's exact uses and its distinct
// tenants within the stated error, whichever replica is asked.
func TestFleetOfThreeReplicas(t *testing.T) {
	fc := clock.NewFake(start)
	store := fleet.NewMemory(fc)
	const perReplica, overlap = 600, 300 // replica i uses tenants [300i, 300i+600): 1200 distinct in all
	var regs []*feature.Registry
	for i, name := range []string{"a", "b", "c"} {
		r := member(t, fc, name, feature.WithStore(store))
		f := define(t, r, "orders.bulk", start.AddDate(0, -2, 0))
		for k := range perReplica {
			tctx := r.WithTenant(context.Background(), "tenant-"+itoa(i*overlap+k))
			f.UseN(tctx, 2)
			if k%100 == 0 {
				f.Fail(tctx)
			}
		}
		regs = append(regs, r)
	}
	for _, r := range regs {
		if err := r.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	const uses, fails, tenants = 3 * (2*perReplica + 6), 3 * 6, 1200
	for i, r := range regs {
		rep := reportOf(t, r, feature.Policy{})
		fr := rep.Features[0]
		if fr.Uses != uses || fr.Failures != fails {
			t.Errorf("replica %d: uses %d failures %d, want %d and %d (exact)", i, fr.Uses, fr.Failures, uses, fails)
		}
		if math.Abs(float64(fr.Tenants-tenants)) > 3*fr.TenantsErr || fr.TenantsErr == 0 {
			t.Errorf("replica %d: tenants %d ±%v, want %d within 3 standard errors (a sum of replicas would say %d)", i, fr.Tenants, fr.TenantsErr, tenants, 3*perReplica)
		}
		if strings.Join(rep.Instances, ",") != "a,b,c" || len(rep.Warnings) != 0 {
			t.Errorf("replica %d: instances %v, warnings %v", i, rep.Instances, rep.Warnings)
		}
		if s := stat(t, r, "orders.bulk"); s.Today != uses || s.FailedToday != fails {
			t.Errorf("replica %d: Stats today %d failed %d, want the fleet's %d and %d", i, s.Today, s.FailedToday, uses, fails)
		}
	}
	// One key: a tenant seen only by a is found from c.
	ta, _ := regs[0].Tenant("tenant-1")
	tc, err := regs[2].Tenant("tenant-1")
	if err != nil || ta.Tenant != tc.Tenant || len(tc.Features) != 1 || tc.Features[0].Days[0].Used.Value == "no" {
		t.Errorf("tenant-1 from c: %+v (hash on a %s)", tc, ta.Tenant)
	}
	if tc.Affected {
		t.Errorf("tenant-1 never failed, but c says it is affected: %+v", tc)
	}
	if t0, _ := regs[2].Tenant("tenant-0"); !t0.Affected { // failed on a only
		t.Errorf("tenant-0 failed on a, but c says %+v", t0)
	}
}

func TestFleetSwitchReachesEveryReplica(t *testing.T) {
	fc := clock.NewFake(start)
	store := fleet.NewMemory(fc)
	sink := &audittest.Recorder{}
	a := member(t, fc, "a", feature.WithStore(store), feature.WithAudit(sink))
	b := member(t, fc, "b", feature.WithStore(store), feature.WithAudit(sink))
	fa, fb := define(t, a, "orders.bulk", start), define(t, b, "orders.bulk", start)
	ctx := context.Background()
	if err := fa.Switch(ctx, feature.Switch{Actor: "automation", Why: "pricing down", Trial: 0.5}); err != nil {
		t.Fatal(err)
	}
	if !fb.Enabled(ctx) {
		t.Fatal("b switched off before any publish")
	}
	// b takes the switch up at its next publish (every snapshot interval).
	fc.Advance(feature.DefaultSnapshotEvery) // both replicas publish on their own goroutines
	if err := a.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if sw := fb.Switched(); sw.On || sw.Actor != "automation" || sw.Why != "pricing down" || sw.Trial != 0.5 {
		t.Fatalf("b's switch %+v, want a's", sw)
	}
	for range 4 { // b: 2 of 4 let through, both ok; a: 2 of 2 refused... a's trial lets 1 of 2 through
		if fb.Enabled(ctx) {
			fb.Use(ctx)
		}
	}
	fa.Enabled(ctx)
	fa.Enabled(ctx)
	if err := b.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	rep := reportOf(t, a, feature.Policy{})
	sw := rep.Features[0].Switch
	if sw == nil || sw.On || sw.TrialOK != 2 || sw.Refused != 3 {
		t.Errorf("fleet switch on a's report %+v, want trial ok 2 (b), refused 3 (2 on b, 1 on a)", sw)
	}
	if len(sink.Records()) != 1 {
		t.Errorf("%d audit records: a switch taken up from the fleet must not be audited again", len(sink.Records()))
	}
	// Switching back on somewhere later wins everywhere.
	fc.Advance(time.Second)
	if err := fb.Switch(ctx, feature.Switch{On: true, Actor: "oncall-bo"}); err != nil {
		t.Fatal(err)
	}
	_ = b.Publish(ctx)
	_ = a.Publish(ctx)
	if !fa.Enabled(ctx) || fa.Switched().Actor != "oncall-bo" {
		t.Errorf("a after b switched on: %+v", fa.Switched())
	}
}

func TestFleetStoreFailureKeepsLocalCounts(t *testing.T) {
	fc := clock.NewFake(start)
	store := &flakyStore{Store: fleet.NewMemory(fc)}
	a := member(t, fc, "a", feature.WithStore(store))
	b := member(t, fc, "b", feature.WithStore(store))
	fa, fb := define(t, a, "x", start), define(t, b, "x", start)
	fa.UseN(context.Background(), 5)
	fb.UseN(context.Background(), 7)
	_ = b.Publish(context.Background())
	store.down.Store(true)
	if err := a.Publish(context.Background()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Publish with the store down: %v", err)
	}
	rep := reportOf(t, a, feature.Policy{})
	if rep.Features[0].Uses != 5 || len(rep.Warnings) != 2 || !strings.Contains(rep.Warnings[0], "fleet store failed") ||
		!strings.Contains(rep.Warnings[1], "could not be read") {
		t.Errorf("with the store down: uses %d (want a's own 5), warnings %q", rep.Features[0].Uses, rep.Warnings)
	}
	store.down.Store(false)
	if err := a.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep = reportOf(t, a, feature.Policy{})
	if rep.Features[0].Uses != 12 || len(rep.Warnings) != 0 {
		t.Errorf("after the store came back: uses %d (want 12), warnings %q", rep.Features[0].Uses, rep.Warnings)
	}
}

func TestFleetRestartRestoresFromTheStore(t *testing.T) {
	fc := clock.NewFake(start)
	store := fleet.NewMemory(fc)
	a := member(t, fc, "a", feature.WithStore(store))
	f := define(t, a, "x", start)
	f.UseN(a.WithTenant(context.Background(), "acme"), 9)
	h1, _ := a.Tenant("acme")
	if err := a.Shutdown(context.Background()); err != nil { // publishes
		t.Fatal(err)
	}
	fc.Advance(time.Minute)
	a2 := member(t, fc, "a", feature.WithStore(store))
	define(t, a2, "x", start)
	if s := stat(t, a2, "x"); s.Total != 9 || s.TenantsToday != 1 {
		t.Errorf("after restart: %+v, want 9 uses by 1 tenant", s)
	}
	if h2, _ := a2.Tenant("acme"); h2.Tenant != h1.Tenant {
		t.Errorf("tenant hash changed across a restart: %s → %s", h1.Tenant, h2.Tenant)
	}
}

// TestTurningTheStoreOnKeepsTheHistory: a replica that already counted
// usage in its directory proposes that directory's key to the store, so
// once the store is on, a tenant seen before and after counts once. A
// replica whose directory holds another key than the fleet's keeps its
// history, and its reports say its tenants may count twice.
func TestTurningTheStoreOnKeepsTheHistory(t *testing.T) {
	ctx := context.Background()
	fc := clock.NewFake(start)
	store := fleet.NewMemory(fc)
	// Another replica made the fleet's key already: b's directory differs.
	if _, err := store.Key(ctx, feature.FleetKeyName, []byte("0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	fresh := fleet.NewMemory(fc)

	for _, tc := range []struct {
		name      string
		store     fleet.Store
		tenants   int64
		mixedKeys bool
	}{
		{"first replica on a new store", fresh, 2, false},
		{"directory key differs from the fleet's", store, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			before := member(t, fc, "a", feature.WithDir(dir))
			f := define(t, before, "x", start)
			f.Use(before.WithTenant(ctx, "acme"))
			f.Use(before.WithTenant(ctx, "beta"))
			if err := before.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			after := member(t, fc, "a", feature.WithDir(dir), feature.WithStore(tc.store))
			f = define(t, after, "x", start)
			f.Use(after.WithTenant(ctx, "acme"))
			if s := stat(t, after, "x"); s.Total != 3 || s.TenantsToday != tc.tenants {
				t.Errorf("after the store was turned on: %d uses by %d tenants, want 3 by %d", s.Total, s.TenantsToday, tc.tenants)
			}
			rep, err := after.Report(feature.Policy{})
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(strings.Join(rep.Warnings, "\n"), "own tenant key")
			if warned != tc.mixedKeys {
				t.Errorf("report warnings %q: want a mixed-key warning = %v", rep.Warnings, tc.mixedKeys)
			}
		})
	}
}

// TestSharedDirFirstStartsAgreeOnOneKey: 30 registries started at once on
// one fresh directory hash tenants alike, and each keeps its own snapshot.
func TestSharedDirFirstStartsAgreeOnOneKey(t *testing.T) {
	dir := t.TempDir()
	fc := clock.NewFake(start)
	const n = 30
	regs := make([]*feature.Registry, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-gate
			regs[i], errs[i] = feature.New(feature.WithClock(fc), feature.WithMeterProvider(noop.NewMeterProvider()),
				feature.WithDir(dir), feature.WithInstance("replica-"+itoa(i)), feature.WithLogger(discardLogger()))
		})
	}
	close(gate)
	wg.Wait()
	for i, r := range regs {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		t.Cleanup(func() { r.Shutdown(context.Background()) })
	}
	hashes := map[string]int{}
	for i, r := range regs {
		f := define(t, r, "x", start)
		f.Use(r.WithTenant(context.Background(), "tenant-"+itoa(i%10)))
		rep, _ := r.Tenant("acme")
		hashes[rep.Tenant]++
		if err := r.Save(); err != nil {
			t.Fatal(err)
		}
	}
	if len(hashes) != 1 {
		t.Fatalf("%d different tenant keys among %d first starts", len(hashes), n)
	}
	rep := reportOf(t, regs[0], feature.Policy{})
	if rep.Features[0].Uses != n || len(rep.Instances) != n || rep.Features[0].Tenants != 10 {
		t.Errorf("merged report: %d uses from %d instances, %d tenants; want %d, %d, 10", rep.Features[0].Uses, len(rep.Instances), rep.Features[0].Tenants, n, n)
	}
}

func TestSharedDirRefusesASecondWriterOfOneInstance(t *testing.T) {
	dir := t.TempDir()
	fc := clock.NewFake(start)
	a := member(t, fc, "same", feature.WithDir(dir))
	_, err := feature.New(feature.WithClock(fc), feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithDir(dir), feature.WithInstance("same"))
	if !errors.Is(err, feature.ErrInvalid) || !strings.Contains(err.Error(), `instance "same" is in use`) {
		t.Fatalf("a second registry of one instance on one directory: %v", err)
	}
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	member(t, fc, "same", feature.WithDir(dir)) // free again after Shutdown
}

// TestFleetNoticesTwoReplicasWithOneName: a second process publishing
// under the same instance name overwrites the first one's counts; the
// first notices at its next publish and says so on its reports.
func TestFleetNoticesTwoReplicasWithOneName(t *testing.T) {
	fc := clock.NewFake(start)
	store := fleet.NewMemory(fc)
	a := member(t, fc, "service", feature.WithStore(store))
	b := member(t, fc, "service", feature.WithStore(store))
	define(t, a, "x", start).UseN(context.Background(), 3)
	define(t, b, "x", start).UseN(context.Background(), 5)
	for _, r := range []*feature.Registry{a, b, a} {
		if err := r.Publish(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	rep := reportOf(t, a, feature.Policy{})
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], `another replica publishes as instance "service"`) {
		t.Errorf("warnings %q", rep.Warnings)
	}
}

const (
	keyRaceDirEnv  = "FEATURE_KEYRACE_DIR"
	keyRaceNameEnv = "FEATURE_KEYRACE_NAME"
)

// keyRaceChild runs in a child process: it opens a registry on dir as
// instance name, prints the keyed hash of one tenant id and exits.
func keyRaceChild(dir, name string) {
	r, err := feature.New(feature.WithDir(dir), feature.WithInstance(name), feature.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	rep, err := r.Tenant("acme")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println(rep.Tenant)
	if err := r.Shutdown(context.Background()); err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// TestSharedDirFirstStartsOfProcessesAgreeOnOneKey: 30 processes started at
// once on one fresh directory hash tenants with one key.
func TestSharedDirFirstStartsOfProcessesAgreeOnOneKey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 30 processes")
	}
	dir := t.TempDir()
	const n = 30
	cmds := make([]*exec.Cmd, n)
	outs := make([]*strings.Builder, n)
	for i := range n {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), keyRaceDirEnv+"="+dir, keyRaceNameEnv+"=p"+itoa(i))
		outs[i] = &strings.Builder{}
		cmds[i].Stdout = outs[i]
	}
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	hashes := map[string]int{}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v: %s", i, err, outs[i])
		}
		hashes[strings.TrimSpace(outs[i].String())]++
	}
	if len(hashes) != 1 {
		t.Fatalf("%d processes ended with %d different tenant keys: %v", n, len(hashes), hashes)
	}
}
