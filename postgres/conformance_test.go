package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/opskit/opskit/postgres"
	"github.com/opskit/opskit/queue"
	"github.com/opskit/opskit/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T) queuetest.Opener {
		pool := newPool(t, 4)
		schema := newSchema(t, pool)
		if err := postgres.Migrate(context.Background(), pool, postgres.WithSchema(schema)); err != nil {
			t.Fatal(err)
		}
		return func(o queuetest.Options) (queue.Backend, error) {
			return postgres.OpenQueue(context.Background(), pool, postgres.WithSchema(schema),
				postgres.WithClock(o.Clock), postgres.WithRetryPolicy(o.Retry),
				postgres.WithPollInterval(50*time.Millisecond))
		}
	})
}
