package fleet_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/fleet"
	"github.com/opskit/opskit/fleet/fleettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemory(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	fleettest.Run(t, fleet.NewMemory(fake), fake.Advance)
}
