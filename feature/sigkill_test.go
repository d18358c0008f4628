package feature_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/opskit/opskit/feature"
)

const (
	sigkillChildEnv = "FEATURE_SIGKILL_DIR"
	sigkillUses     = 500
	sigkillEvery    = 200 * time.Millisecond
)

// sigkillChild runs in a child process: it records sigkillUses uses (a
// fifth of them failed, with a reason) on the real clock, prints "durable"
// once two background snapshots have completed after them, then keeps
// using the feature until it is killed.
func sigkillChild(dir string) {
	var recorded atomic.Bool
	var savesAfter atomic.Int32
	r, err := feature.New(feature.WithDir(dir), feature.WithInstance("child"), feature.WithTenantKey(testKey),
		feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithSnapshotEvery(sigkillEvery),
		feature.WithOnSave(func(_ string, err error) {
			if err == nil && recorded.Load() && savesAfter.Add(1) == 2 {
				fmt.Println("durable")
			}
		}))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	f := r.MustDefine("orders.bulk", "team", start, "d")
	ctx := context.Background()
	for i := range sigkillUses {
		tctx := r.WithTenant(ctx, fmt.Sprintf("tenant-%d", i%50))
		if i%5 == 0 {
			f.FailWith(tctx, "downstream answered 503")
		} else {
			f.Use(tctx)
		}
	}
	recorded.Store(true)
	for { // uses after the last snapshot: these are what a SIGKILL loses
		f.Use(ctx)
		time.Sleep(time.Millisecond) // the child's workload pace, not a wait in the test
	}
}

// TestSigkillLosesOnlyTheLastSnapshotInterval kills a real child process
// with SIGKILL and restores its snapshot: every use, failure, failing
// tenant and reason recorded before the last completed snapshot is there.
// What a SIGKILL can lose is what was recorded after it: at most the
// snapshot interval (DefaultSnapshotEvery, 5 s) plus one save.
func TestSigkillLosesOnlyTheLastSnapshotInterval(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), sigkillChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "durable" {
		if strings.HasPrefix(sc.Text(), "error") {
			t.Fatal(sc.Text())
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
		t.Fatalf("child did not die by a signal: %v", err)
	}

	// The child ran on the real clock: restore on it too.
	r, err := feature.New(feature.WithDir(dir), feature.WithInstance("child"), feature.WithTenantKey(testKey),
		feature.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	define(t, r, "orders.bulk", start)
	s := stat(t, r, "orders.bulk")
	if s.Total < sigkillUses || s.FailedToday < sigkillUses/5 || s.FailingTenantsToday < 9 || s.FailingTenantsToday > 11 { // 10, within the estimate's error
		t.Errorf("restored total %d, failed %d, failing tenants %d; want at least %d, %d and 10",
			s.Total, s.FailedToday, s.FailingTenantsToday, sigkillUses, sigkillUses/5)
	}
	if len(s.Reasons) != 1 || s.Reasons[0].Count != sigkillUses/5 {
		t.Errorf("restored reasons %+v", s.Reasons)
	}
	rep, err := r.Tenant("tenant-0")
	if err != nil || !rep.Affected {
		t.Errorf("tenant-0 after restore: %+v %v", rep, err)
	}
}
