package fleet_test

import (
	"context"
	"fmt"
	"time"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
)

// Two replicas share one store: the first key proposed wins, one replica
// leads, and the other takes over once the leader stops renewing.
func Example() {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	store := fleet.NewMemory(fake)

	a, _ := store.Key(ctx, "tenant-key", []byte("from-a"))
	b, _ := store.Key(ctx, "tenant-key", []byte("from-b"))
	fmt.Println("keys agree:", string(a) == string(b))

	leadA, _ := store.Lead(ctx, "alerts", "replica-a", 15*time.Second)
	leadB, _ := store.Lead(ctx, "alerts", "replica-b", 15*time.Second)
	fmt.Println("a leads:", leadA, "b leads:", leadB)

	fake.Advance(16 * time.Second) // replica-a died and stopped renewing
	leadB, _ = store.Lead(ctx, "alerts", "replica-b", 15*time.Second)
	fmt.Println("b leads after a's lease ran out:", leadB)
	// Output:
	// keys agree: true
	// a leads: true b leads: false
	// b leads after a's lease ran out: true
}
