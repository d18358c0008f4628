package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/opskit/opskit/internal/timer"
)

// Drain makes readiness fail at once with the reason "health: shutting down" (a
// gate named "shutdown" on /readyz) while liveness keeps passing, so load
// balancers stop sending traffic before the server shuts down. It cannot
// be undone.
func (c *Checker) Drain() {
	if c.draining.CompareAndSwap(false, true) {
		c.logger.Info("health: draining, readiness now fails")
	}
}

// Draining reports whether Drain was called.
func (c *Checker) Draining() bool { return c.draining.Load() }

// DrainAndShutdown runs the graceful shutdown sequence of a server behind a
// load balancer: Drain, wait delay on the Checker's clock so the balancer
// sees /readyz fail (and keeps seeing /livez pass), then srv.Shutdown(ctx).
// If ctx ends during the delay, it shuts down at once. It returns
// srv.Shutdown's error. It does not shut the Checker down: call
// Checker.Shutdown afterwards, so probes answer until the server stops.
func (c *Checker) DrainAndShutdown(ctx context.Context, srv *http.Server, delay time.Duration) error {
	if srv == nil {
		return errors.New("health: DrainAndShutdown: srv is nil")
	}
	if delay < 0 {
		return fmt.Errorf("health: DrainAndShutdown: delay %v is negative", delay)
	}
	c.Drain()
	_ = timer.Sleep(ctx, c.clock, delay) // ctx ending early means shut down now
	return srv.Shutdown(ctx)
}
