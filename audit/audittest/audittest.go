package audittest

import (
	"context"
	"sync"

	"github.com/opskit/opskit/audit"
)

// Recorder is an audit.Sink that keeps every record in memory. Its zero
// value is ready to use; it is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex // guards recs
	recs []audit.Record
}

// Append keeps rec.
func (r *Recorder) Append(_ context.Context, rec audit.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}

// Records returns a copy of the records appended so far, oldest first.
func (r *Recorder) Records() []audit.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]audit.Record(nil), r.recs...)
}
