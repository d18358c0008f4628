package audittest_test

import (
	"context"
	"fmt"

	"github.com/opskit/opskit/audit"
	"github.com/opskit/opskit/audit/audittest"
)

func ExampleRecorder() {
	var sink audittest.Recorder
	g := &audit.Guard{Sink: &sink}
	_ = g.Sink.Append(context.Background(), audit.Record{Actor: "ann", Action: "incident.ack", Result: "ok"})
	for _, rec := range sink.Records() {
		fmt.Println(rec.Actor, rec.Action, rec.Result)
	}
	// Output: ann incident.ack ok
}
