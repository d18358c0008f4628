package slo_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/slo"
)

// childDir, when set, makes TestSIGKILLLosesSeconds the child process.
const childDir = "SLO_SIGKILL_CHILD_DIR"

// A process killed with SIGKILL loses only what it counted since its last
// snapshot save (the evaluation that came at least one snapshot interval,
// 10 seconds by default, after the previous one); the incident it had
// opened survives in the log and is taken up again.
func TestSIGKILLLosesSeconds(t *testing.T) {
	if dir := os.Getenv(childDir); dir != "" {
		sigkillChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLLosesSeconds$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDir+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if sc.Text() == "ready" {
			ready = true
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error says so
	if !ready {
		t.Fatal("the child never got ready")
	}
	fc := clock.NewFake(start.Add(10 * time.Second))
	m, _ := newMonitorOn(t, fc, slo.WithSnapshotFile(filepath.Join(dir, "slo.json"), 0),
		slo.WithIncidentLog(filepath.Join(dir, "incidents.jsonl")))
	m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	w, _ := m.Status()[0].Window(time.Hour)
	if w.Total != 1000 || w.Bad != 1000 {
		t.Errorf("restored %d events, %d bad; want the 1000 saved (the 7 counted after the save are the loss)", w.Total, w.Bad)
	}
	incs := m.Incidents()
	if len(incs) != 1 || !incs[0].Open() || incs[0].Pages != 1 {
		t.Errorf("incidents after SIGKILL: %+v, want the open one with its page", incs)
	}
}

// sigkillChild counts 1000 bad events, lets an evaluation 10 seconds later
// save them and open an incident, counts 7 more, says "ready" and waits to
// be killed.
func sigkillChild(dir string) {
	fc := clock.NewFake(start)
	m, err := slo.New(slo.WithClock(fc), slo.WithEvaluationInterval(-1), slo.WithLogger(quietLog),
		slo.WithSnapshotFile(filepath.Join(dir, "slo.json"), 0), slo.WithIncidentLog(filepath.Join(dir, "incidents.jsonl")))
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	tr := m.MustAdd(slo.Objective{Name: "orders", Target: 0.999})
	tr.RecordN(1000, 1000)
	fc.Advance(10 * time.Second)
	m.Evaluate() // due: saves the snapshot; pages and opens an incident
	tr.RecordN(7, 0)
	fmt.Println("ready")
	<-context.Background().Done() // blocks until SIGKILL
}
