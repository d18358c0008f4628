// Package fleettest checks a fleet.Store against the contract every
// implementation promises, so the in-process Memory store and the
// PostgreSQL store behave the same.
package fleettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opskit/opskit/fleet"
)

// Run checks store. Each subtest uses kinds and names of its own, so the
// store may hold other data. wait must let d pass on the store's clock
// (fake.Advance, or time.Sleep for a store on the wall clock); lease
// tests call it with the ttl they chose plus a little.
func Run(t *testing.T, store fleet.Store, wait func(d time.Duration)) {
	ctx := context.Background()
	uniq := fmt.Sprintf("%d", time.Now().UnixNano())
	name := func(s string) string { return s + "-" + uniq }

	t.Run("KeyFirstProposalWinsUnderRace", func(t *testing.T) {
		n := name("key")
		const replicas = 16
		got := make([][]byte, replicas)
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := store.Key(ctx, n, fmt.Appendf(nil, "key-of-replica-%d", i))
				if err != nil {
					t.Errorf("Key: %v", err)
				}
				got[i] = k
			}()
		}
		wg.Wait()
		for i := range got {
			if !bytes.Equal(got[i], got[0]) || len(got[0]) == 0 {
				t.Fatalf("replica %d got key %q, replica 0 got %q: concurrent first starts must agree", i, got[i], got[0])
			}
		}
		again, err := store.Key(ctx, n, []byte("a later proposal"))
		if err != nil || !bytes.Equal(again, got[0]) {
			t.Fatalf("later Key = %q, %v; want %q", again, err, got[0])
		}
	})

	t.Run("StatesPerInstanceNeverLastWriterWins", func(t *testing.T) {
		kind := name("state")
		for _, inst := range []string{"b", "a", "c"} {
			if err := store.Put(ctx, kind, inst, []byte("v1-"+inst)); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		if err := store.Put(ctx, kind, "a", []byte("v2-a")); err != nil {
			t.Fatalf("Put: %v", err)
		}
		states, err := store.States(ctx, kind)
		if err != nil {
			t.Fatalf("States: %v", err)
		}
		want := []string{"a=v2-a", "b=v1-b", "c=v1-c"}
		if len(states) != len(want) {
			t.Fatalf("States = %d rows, want %d", len(states), len(want))
		}
		for i, s := range states {
			if got := s.Instance + "=" + string(s.Data); got != want[i] || s.At.IsZero() {
				t.Fatalf("state %d = %s (at %v), want %s with a time", i, got, s.At, want[i])
			}
		}
		if other, _ := store.States(ctx, name("other")); len(other) != 0 {
			t.Fatalf("an unused kind has %d states", len(other))
		}
	})

	t.Run("AppendSequenceUniqueUnderRace", func(t *testing.T) {
		kind := name("log")
		const writers, each = 8, 25
		seen := make(chan uint64, writers*each)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					seq, err := store.Append(ctx, kind, fmt.Appendf(nil, "w%d-%d", w, i))
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					seen <- seq
				}
			}()
		}
		wg.Wait()
		close(seen)
		dup := map[uint64]bool{}
		for s := range seen {
			if dup[s] {
				t.Fatalf("sequence %d given twice", s)
			}
			dup[s] = true
		}
		var all []fleet.Record
		var after uint64
		for {
			page, err := store.Records(ctx, kind, after, 30)
			if err != nil {
				t.Fatalf("Records: %v", err)
			}
			if len(page) == 0 {
				break
			}
			if len(page) > 30 {
				t.Fatalf("Records returned %d > limit 30", len(page))
			}
			all = append(all, page...)
			after = page[len(page)-1].Seq
		}
		if len(all) != writers*each {
			t.Fatalf("read %d records, appended %d", len(all), writers*each)
		}
		for i := 1; i < len(all); i++ {
			if all[i].Seq <= all[i-1].Seq {
				t.Fatalf("records out of order: %d after %d", all[i].Seq, all[i-1].Seq)
			}
		}
	})

	t.Run("LeaseOneHolderAndHandOver", func(t *testing.T) {
		lease := name("lease")
		ttl := 300 * time.Millisecond
		const replicas = 8
		var mu sync.Mutex
		var holders []string
		var wg sync.WaitGroup
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inst := fmt.Sprintf("r%d", i)
				ok, err := store.Lead(ctx, lease, inst, ttl)
				if err != nil {
					t.Errorf("Lead: %v", err)
				}
				if ok {
					mu.Lock()
					holders = append(holders, inst)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(holders) != 1 {
			t.Fatalf("%d replicas hold the lease at once: %v", len(holders), holders)
		}
		leader := holders[0]
		if ok, err := store.Lead(ctx, lease, leader, ttl); !ok || err != nil {
			t.Fatalf("the holder cannot renew: %v %v", ok, err)
		}
		other := "r-other"
		if ok, _ := store.Lead(ctx, lease, other, ttl); ok {
			t.Fatal("another replica took a live lease")
		}
		wait(ttl + ttl/2) // the leader died: no renewal
		if ok, err := store.Lead(ctx, lease, other, ttl); !ok || err != nil {
			t.Fatalf("no hand-over after the ttl: %v %v", ok, err)
		}
		if ok, _ := store.Lead(ctx, lease, leader, ttl); ok {
			t.Fatal("the old leader took the lease back while the new one holds it")
		}
	})

	t.Run("BadInputNamed", func(t *testing.T) {
		cases := []struct {
			what string
			err  error
		}{
			{"empty kind", store.Put(ctx, "", "a", nil)},
			{"empty instance", store.Put(ctx, name("k"), "", nil)},
			{"long kind", store.Put(ctx, string(make([]byte, fleet.MaxName+1)), "a", nil)},
			{"control character", store.Put(ctx, "a\nb", "a", nil)},
			{"invalid UTF-8", store.Put(ctx, name("k"), "a\xff", nil)},
			{"too much data", store.Put(ctx, name("k"), "a", make([]byte, fleet.MaxData+1))},
		}
		_, errKey := store.Key(ctx, name("k"), nil)
		cases = append(cases, struct {
			what string
			err  error
		}{"empty key proposal", errKey})
		_, errTTL := store.Lead(ctx, name("l"), "a", 0)
		cases = append(cases, struct {
			what string
			err  error
		}{"zero ttl", errTTL})
		for _, c := range cases {
			if !errors.Is(c.err, fleet.ErrInvalid) {
				t.Errorf("%s: err = %v, want fleet.ErrInvalid", c.what, c.err)
			}
		}
	})
}
