package queue_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/queue"
)

// trials is n by default and long with OPSKIT_LONG=1.
func trials(n, long int) int {
	if os.Getenv("OPSKIT_LONG") != "" {
		return long
	}
	return n
}

var quiet = queue.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

// trickyPayload is a payload that holds validly encoded records of both
// formats (enqueues of id 999 and an ack of every id below 64).
func trickyPayload(i int) string {
	var b []byte
	for id := uint64(1); id < 64; id += 7 {
		r, _ := queue.FramedRecord(int64(len(b)), 999, []byte("never enqueued"))
		b = append(b, r...)
		b = append(b, queue.FramedAck(int64(len(b)), id)...)
		b = append(b, queue.V1Record(999, []byte("never enqueued"), false)...)
		b = append(b, queue.V1Record(id, nil, true)...)
	}
	return fmt.Sprintf("%04d-tricky-%s", i, b)
}

// Corruption trials across all segments: random damage (a flipped byte,
// a zeroed stretch, a cut file, appended garbage) anywhere in a queue of
// many segments whose payloads hold encoded records. After reopening,
// every delivered message was enqueued with that id and payload; a lost
// message is always reported (Recovered, Stats.Corrupt), except a torn
// tail cut from the newest segment, which may only cost messages whose
// records were in that segment.
func TestCorruptionTrials(t *testing.T) {
	base := t.TempDir()
	q, err := queue.Open(base, queue.WithSegmentSize(8192), quiet)
	if err != nil {
		t.Fatal(err)
	}
	want := map[queue.ID]string{} // stored
	all := map[queue.ID]string{}  // ever enqueued
	for i := range 120 {
		p := fmt.Sprintf("%04d-%s", i, strings.Repeat("p", rand.IntN(400)))
		if i%4 == 0 {
			p = trickyPayload(i)
		}
		id, err := q.Enqueue(bg, []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = p
		all[id] = p
	}
	// Settle some, so segments hold acks and leases too.
	for range 20 {
		m, err := q.TryReceive(bg, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		q.Ack(bg, m)
		delete(want, m.ID)
	}
	q.Close()
	segs := segFiles(t, base)
	if len(segs) < 4 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	// Which segment holds each message's enqueue record.
	home := map[queue.ID]int{}
	for i, s := range segs {
		qq, _ := os.ReadFile(s)
		for id, p := range want {
			if strings.Contains(string(qq), p[:min(len(p), 40)]) {
				home[id] = i
			}
		}
	}

	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	var lostTotal, againTotal, reported, silent int
	n := trials(40, 2000)
	for trial := range n {
		dir := filepath.Join(t.TempDir(), "q")
		if err := os.CopyFS(dir, os.DirFS(base)); err != nil {
			t.Fatal(err)
		}
		si := rng.IntN(len(segs))
		seg := filepath.Join(dir, filepath.Base(segs[si]))
		data, _ := os.ReadFile(seg)
		var what string
		switch k := rng.IntN(4); {
		case k == 0:
			at := rng.IntN(len(data))
			data[at] ^= byte(1 + rng.IntN(255))
			what = fmt.Sprintf("flip at %d", at)
		case k == 1:
			at := rng.IntN(len(data))
			end := min(len(data), at+1+rng.IntN(200))
			clear(data[at:end])
			what = fmt.Sprintf("zero %d..%d", at, end)
		case k == 2:
			at := rng.IntN(len(data))
			data = data[:at]
			what = fmt.Sprintf("cut at %d", at)
		default:
			g := make([]byte, 1+rng.IntN(300))
			for i := range g {
				g[i] = byte(rng.Uint32())
			}
			data = append(data, g...)
			what = fmt.Sprintf("%d garbage bytes appended", len(g))
		}
		os.WriteFile(seg, data, 0o600)
		what = fmt.Sprintf("trial %d, segment %d of %d: %s", trial, si+1, len(segs), what)

		q, err := queue.Open(dir, queue.WithSegmentSize(8192), quiet)
		if err != nil {
			t.Fatalf("%s: Open: %v", what, err)
		}
		got := map[queue.ID]string{}
		again := 0
		for {
			m, err := q.TryReceive(bg, time.Minute)
			if errors.Is(err, queue.ErrEmpty) {
				break
			}
			if err != nil {
				t.Fatalf("%s: receive: %v", what, err)
			}
			if w, ok := all[m.ID]; !ok || w != string(m.Payload) {
				t.Fatalf("%s: delivered id %v with %.30q, which was never enqueued so", what, m.ID, m.Payload)
			}
			if _, ok := want[m.ID]; !ok {
				again++ // its ack was in the damage: delivered again, as documented
			}
			got[m.ID] = string(m.Payload)
			q.Ack(bg, m)
		}
		s, _ := q.Stats(bg)
		rec := q.Recovered()
		q.Close()
		lost := len(want) - (len(got) - again)
		lostTotal += lost
		againTotal += again
		if lost == 0 && again == 0 {
			continue
		}
		if errors.Is(rec, queue.ErrCorrupt) || s.Corrupt > 0 {
			reported++
			continue
		}
		if si != len(segs)-1 {
			t.Fatalf("%s: %d messages lost, %d delivered again, and nothing reported (damage not in the newest segment)", what, lost, again)
		}
		for id := range want {
			if _, ok := got[id]; !ok && home[id] != si {
				t.Fatalf("%s: message %v from segment %d lost by a torn tail of the newest", what, id, home[id]+1)
			}
		}
		silent++
	}
	t.Logf("%d trials over %d segments: %d messages lost and %d acked ones delivered again in all; %d trials reported the damage, %d were torn tails of the newest segment",
		n, len(segs), lostTotal, againTotal, reported, silent)
}

// Fault torture: a workload of enqueues (with dedupe keys), receives and
// acks on a file system that fails reads with EIO, fsyncs with EIO and
// writes with ENOSPC at random. Whenever the log breaks it is reopened
// without faults. At the end: every message whose Enqueue returned nil and
// whose Ack did not is there with its payload; none whose Ack returned nil
// is; every ErrDuplicate named a stored message with that key.
func TestFaultTorture(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, uint64(time.Now().UnixNano())))
	for trial := range trials(8, 200) {
		dir := t.TempDir()
		fs := &queue.FaultFS{}
		var rate atomic.Int64                                         // failures per 1000 calls
		hookRng := rand.New(rand.NewPCG(uint64(trial), rng.Uint64())) // FaultFS serialises the hook
		fs.SetFail(func(op, name string) error {
			if !strings.HasSuffix(name, ".seg") || hookRng.Int64N(1000) >= rate.Load() {
				return nil
			}
			switch op {
			case "read":
				return syscall.EIO
			case "sync":
				return syscall.EIO
			case "write":
				return syscall.ENOSPC
			}
			return nil
		})
		clk := clock.NewFake(start)
		open := func() *queue.Queue {
			rate.Store(0)
			q, err := queue.Open(dir, queue.WithFaultFS(fs), queue.WithSegmentSize(4096), queue.WithClock(clk), quiet)
			if err != nil {
				t.Fatalf("trial %d: reopen: %v", trial, err)
			}
			rate.Store(20 + rng.Int64N(50))
			return q
		}
		stored := map[queue.ID]string{} // Enqueue returned nil, no Ack returned nil
		acked := map[queue.ID]bool{}
		keys := map[string]queue.ID{}
		maybe := map[queue.ID]bool{} // Ack failed: it may or may not be gone
		var dups []queue.ID
		q := open()
		reopens := 0
		for op := range 400 {
			var err error
			switch rng.IntN(3) {
			case 0, 1:
				key := fmt.Sprintf("k%d", rng.IntN(300))
				p := fmt.Sprintf("t%d-op%d-%s", trial, op, key)
				var id queue.ID
				id, err = q.Enqueue(bg, []byte(p), queue.WithDedupeKey(key))
				switch {
				case err == nil:
					stored[id] = p
					keys[key] = id
				case errors.Is(err, queue.ErrDuplicate):
					dups = append(dups, id)
					err = nil
				}
			default:
				var m *queue.Message
				m, err = q.TryReceive(bg, time.Hour)
				if errors.Is(err, queue.ErrEmpty) {
					err = nil
					break
				}
				if err != nil {
					break
				}
				if w, ok := stored[m.ID]; ok && w != string(m.Payload) {
					t.Fatalf("trial %d: message %v delivered with %q, stored %q", trial, m.ID, m.Payload, w)
				}
				if err = q.Ack(bg, m); err == nil {
					acked[m.ID] = true
					delete(stored, m.ID)
				} else {
					maybe[m.ID] = true
				}
			}
			if err != nil {
				if _, serr := q.Stats(bg); serr == nil {
					continue // a failed read: the queue works on
				}
				q.Close()
				q = open()
				reopens++
			}
		}
		q.Close()
		q = open()
		rate.Store(0)
		clk.Advance(24 * time.Hour) // past every read backoff
		got := map[queue.ID]string{}
		for {
			m, err := q.TryReceive(bg, time.Hour)
			if errors.Is(err, queue.ErrEmpty) {
				break
			}
			if err != nil {
				t.Fatalf("trial %d: final receive: %v", trial, err)
			}
			got[m.ID] = string(m.Payload)
			q.Ack(bg, m)
		}
		q.Close()
		for id, p := range stored {
			if got[id] != p && !maybe[id] {
				t.Fatalf("trial %d: message %v (Enqueue returned nil) lost: got %q", trial, id, got[id])
			}
		}
		for id := range acked {
			if _, ok := got[id]; ok {
				t.Fatalf("trial %d: message %v back after its Ack returned nil", trial, id)
			}
		}
		for _, id := range dups {
			if _, ok := got[id]; !ok && !acked[id] && !maybe[id] {
				t.Fatalf("trial %d: ErrDuplicate named %v, which was never stored", trial, id)
			}
		}
		t.Logf("trial %d: %d reopens after faults, %d stored, %d acked, %d duplicate answers checked", trial, reopens, len(stored), len(acked), len(dups))
	}
}
