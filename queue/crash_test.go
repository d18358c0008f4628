package queue_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opskit/opskit/queue"
)

// The crash test re-runs this test binary as a child process that enqueues
// from many goroutines and prints "id payload" after each Enqueue returns.
// The parent kills it with SIGKILL after a random number of lines, reopens
// the queue and checks that every reported message is there, intact.
const crashChildEnv = "OPSKIT_QUEUE_CRASH_CHILD"

// crashIterations is 20 by default, OPSKIT_LONG=1 makes it 300.
func crashIterations() int {
	if os.Getenv("OPSKIT_LONG") != "" {
		return 300
	}
	return 20
}

// crashChild runs in the child process; it never returns normally.
func crashChild() {
	dir := os.Getenv(crashChildEnv)
	q, err := queue.Open(dir, queue.WithSegmentSize(64<<10))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for g := range 16 {
		go func() {
			for n := 0; ; n++ {
				p := fmt.Sprintf("g%d-n%d-%s", g, n, strings.Repeat("x", rand.IntN(300)))
				id, err := q.Enqueue(context.Background(), []byte(p))
				if err != nil {
					fmt.Fprintln(os.Stderr, "child enqueue:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %s\n", id, p)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	time.Sleep(30 * time.Second) // the parent kills us long before
	os.Exit(4)
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	for i := range crashIterations() {
		reported := runAndKill(t, dir, 1+rand.IntN(400))
		q, err := queue.Open(dir)
		if err != nil {
			t.Fatalf("iteration %d: reopen: %v", i, err)
		}
		if err := q.Recovered(); err != nil {
			t.Errorf("iteration %d: recovery reported %v, want only a torn tail", i, err)
		}
		got := map[queue.ID]string{}
		for {
			m, err := q.TryReceive(context.Background(), time.Minute)
			if errors.Is(err, queue.ErrEmpty) {
				break
			}
			if err != nil {
				t.Fatalf("iteration %d: receive: %v", i, err)
			}
			got[m.ID] = string(m.Payload)
			if err := q.Ack(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
		for id, p := range reported {
			if got[id] != p {
				t.Fatalf("iteration %d: message %s reported as enqueued with %q, found %q after SIGKILL",
					i, id, p, got[id])
			}
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runAndKill starts a child on dir, SIGKILLs it after it reported `after`
// messages, and returns everything it reported.
func runAndKill(t *testing.T, dir string, after int) map[queue.ID]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	reported := map[queue.ID]string{}
	r := bufio.NewReader(stdout)
	killed := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // EOF; a last line without its newline is not trusted
		}
		id, p, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		v, err := strconv.ParseUint(id, 16, 64)
		if !ok || err != nil {
			continue // a line cut by the kill
		}
		reported[queue.ID(v)] = p
		if !killed && len(reported) >= after {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill: %v", err)
	}
	return reported
}
