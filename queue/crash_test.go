package queue_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opskit/opskit/queue"
)

// The crash test re-runs this test binary as a child process in which
// producers enqueue (half of the calls reusing a dedupe key) and consumers
// receive and ack, each printing what it did after the call returned:
//
//	enq ID KEY PAYLOAD   Enqueue returned ID
//	dup ID KEY           Enqueue returned ErrDuplicate naming ID
//	acking ID            about to call Ack
//	ack ID               Ack returned
//
// The parent kills it with SIGKILL after a random number of lines, reopens
// the queue and checks every line against what is stored.
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
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format, args...)
		out.Flush()
		mu.Unlock()
	}
	fail := func(what string, err error) {
		fmt.Fprintln(os.Stderr, "child "+what+":", err)
		os.Exit(3)
	}
	run := rand.Uint64()
	for g := range 12 {
		go func() {
			for n := 0; ; n++ {
				key := fmt.Sprintf("r%x-g%d-k%d", run, g, n/2)
				p := fmt.Sprintf("r%x-g%d-n%d-%s", run, g, n, strings.Repeat("x", rand.IntN(300)))
				id, err := q.Enqueue(context.Background(), []byte(p), queue.WithDedupeKey(key))
				switch {
				case errors.Is(err, queue.ErrDuplicate):
					say("dup %s %s\n", id, key)
				case err != nil:
					fail("enqueue", err)
				default:
					say("enq %s %s %s\n", id, key, p)
				}
			}
		}()
	}
	for range 4 {
		go func() {
			for {
				m, err := q.Receive(context.Background(), time.Minute)
				if err != nil {
					fail("receive", err)
				}
				say("acking %s\n", m.ID)
				if err := q.Ack(context.Background(), m); err != nil {
					fail("ack", err)
				}
				say("ack %s\n", m.ID)
			}
		}()
	}
	time.Sleep(30 * time.Second) // the parent kills us long before
	os.Exit(4)
}

// childReport is what a killed child said it did.
type childReport struct {
	enq    map[queue.ID]string // id -> "key payload"
	dup    map[queue.ID]string // id -> key
	acking map[queue.ID]bool
	ack    map[queue.ID]bool
}

func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	given := map[queue.ID]string{} // every id ever returned, with its "key payload"
	var enqs, dups, acks int
	for i := range crashIterations() {
		rep := runAndKill(t, dir, 1+rand.IntN(600))
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
		for id, kp := range rep.enq {
			if old, ok := given[id]; ok && old != kp {
				t.Fatalf("iteration %d: id %s given to %q, and before to %q", i, id, kp, old)
			}
			given[id] = kp
			_, p, _ := strings.Cut(kp, " ")
			if got[id] != p && !rep.acking[id] {
				t.Fatalf("iteration %d: message %s reported as enqueued with %q, found %q after SIGKILL", i, id, p, got[id])
			}
		}
		for id := range rep.ack {
			if _, ok := got[id]; ok {
				t.Fatalf("iteration %d: message %s delivered again after its Ack returned", i, id)
			}
		}
		for id, key := range rep.dup {
			kp, ok := given[id]
			if _, stored := got[id]; !stored && !rep.acking[id] {
				t.Fatalf("iteration %d: ErrDuplicate for key %s named %s, which is not stored", i, key, id)
			}
			if ok && !strings.HasPrefix(kp, key+" ") {
				t.Fatalf("iteration %d: ErrDuplicate for key %s named %s, which holds %q", i, key, id, kp)
			}
		}
		enqs, dups, acks = enqs+len(rep.enq), dups+len(rep.dup), acks+len(rep.ack)
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills: %d acknowledged enqueues, %d duplicate answers, %d acks checked; none lost, none invented, none back after Ack",
		crashIterations(), enqs, dups, acks)
}

// runAndKill starts a child on dir, SIGKILLs it after it printed `after`
// lines, and returns what it reported.
func runAndKill(t *testing.T, dir string, after int) childReport {
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
	rep := childReport{enq: map[queue.ID]string{}, dup: map[queue.ID]string{}, acking: map[queue.ID]bool{}, ack: map[queue.ID]bool{}}
	r := bufio.NewReader(stdout)
	killed := false
	lines := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break // EOF; a last line without its newline is not trusted
		}
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 4)
		var id queue.ID
		if len(f) < 2 || id.UnmarshalText([]byte(f[1])) != nil {
			continue
		}
		switch {
		case f[0] == "enq" && len(f) == 4:
			rep.enq[id] = f[2] + " " + f[3]
		case f[0] == "dup" && len(f) == 3:
			rep.dup[id] = f[2]
		case f[0] == "acking":
			rep.acking[id] = true
		case f[0] == "ack":
			rep.ack[id] = true
		}
		if lines++; !killed && lines >= after {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before the kill: %v", err)
	}
	return rep
}
