package audittest_test

import (
	"context"
	"sync"
	"testing"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/audit/audittest"
)

func TestRecorderKeepsEveryRecordInOrder(t *testing.T) {
	var r audittest.Recorder
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = r.Append(context.Background(), audit.Record{Action: "queue.requeue"})
		}()
	}
	wg.Wait()
	_ = r.Append(context.Background(), audit.Record{Action: "queue.purge", Target: "last"})
	got := r.Records()
	if len(got) != 9 || got[8].Target != "last" {
		t.Fatalf("Records() = %d records, last %+v; want 9 ending with the last appended", len(got), got[len(got)-1])
	}
	got[0].Actor = "changed"
	if r.Records()[0].Actor == "changed" {
		t.Fatal("Records() returned the recorder's own slice, not a copy")
	}
}
