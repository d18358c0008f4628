// Package fleet is the seam through which the replicas of one service
// become one system: one tenant key, one set of feature counts, one
// error budget, one incident per outage, one audit trail.
//
// A Store holds four things, each named by a kind chosen by the package
// that uses it:
//
//   - keys, created once and shared (Key): the first replica's proposal
//     wins, also when every replica starts at the same moment;
//   - each replica's latest state of a kind (Put, States): a replica only
//     ever writes its own row, readers merge all rows, so nothing is
//     last-writer-wins;
//   - append-only logs with fleet-wide sequence numbers (Append, Records):
//     incidents and audit records from every replica in one trail;
//   - leases (Lead): one replica at a time evaluates alerts, writes the
//     weekly report and runs remediation; when it dies another takes
//     over at most one ttl after its last renewal.
//
// NewMemory is a Store inside one process (tests, and several components
// of one process). The PostgreSQL Store lives in the module
// github.com/opskit/opskit/postgres, so this module never depends on a
// database driver. fleettest checks any Store against the contract.
//
// A complete program, two replicas agreeing on a key and a leader:
//
//	package main
//
//	import (
//		"context"
//		"fmt"
//		"time"
//
//		"github.com/opskit/opskit/fleet"
//	)
//
//	func main() {
//		ctx := context.Background()
//		store := fleet.NewMemory(nil)
//		a, _ := store.Key(ctx, "tenant-key", []byte("proposed by a"))
//		b, _ := store.Key(ctx, "tenant-key", []byte("proposed by b"))
//		fmt.Printf("a=%s b=%s\n", a, b)
//
//		leadA, _ := store.Lead(ctx, "alerts", "replica-a", 15*time.Second)
//		leadB, _ := store.Lead(ctx, "alerts", "replica-b", 15*time.Second)
//		fmt.Println("a leads:", leadA, "b leads:", leadB)
//
//		_ = store.Put(ctx, "counts", "replica-a", []byte("3"))
//		_ = store.Put(ctx, "counts", "replica-b", []byte("4"))
//		states, _ := store.States(ctx, "counts")
//		for _, s := range states {
//			fmt.Println(s.Instance, string(s.Data))
//		}
//	}
package fleet
