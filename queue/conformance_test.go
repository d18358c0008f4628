package queue_test

import (
	"testing"
	"time"

	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Opener {
		dir := t.TempDir()
		return func(o queuetest.Options) (queue.Backend, error) {
			return queue.Open(dir, queue.WithClock(o.Clock), queue.WithRetryPolicy(o.Retry))
		}
	})
}

// Relaxed mode keeps every promise except when data reaches the disk, and
// Close flushes, so it passes the same suite.
func TestConformanceRelaxed(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Opener {
		dir := t.TempDir()
		return func(o queuetest.Options) (queue.Backend, error) {
			return queue.Open(dir, queue.WithClock(o.Clock), queue.WithRetryPolicy(o.Retry),
				queue.WithSyncInterval(time.Hour))
		}
	})
}

// Tiny segments make every test rotate, compact and delete segments.
func TestConformanceSmallSegments(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Opener {
		dir := t.TempDir()
		return func(o queuetest.Options) (queue.Backend, error) {
			return queue.Open(dir, queue.WithClock(o.Clock), queue.WithRetryPolicy(o.Retry),
				queue.WithSegmentSize(4096))
		}
	})
}
