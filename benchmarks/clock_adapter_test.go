package benchmarks

import (
	"context"
	"errors"
	"testing"
	"time"

	benclock "github.com/benbjohnson/clock"
	"github.com/jonboulle/clockwork"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
	"github.com/opskit/opskit/retry"
)

// The fakes people already use fit opskit's clock.Clock with a three-line
// adapter: only AfterFunc's return type differs, and both libraries'
// timers have Stop() bool.

type clockworkClock struct{ *clockwork.FakeClock }

func (c clockworkClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return c.FakeClock.AfterFunc(d, f)
}

type benClock struct {
	*benclock.Mock
	armed chan struct{} // benbjohnson/clock cannot wait for timers: say when one is armed
}

func (c benClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := c.Mock.AfterFunc(d, f)
	c.armed <- struct{}{}
	return t
}

var (
	_ clock.Clock = clockworkClock{}
	_ clock.Clock = benClock{}
)

// backoffOnFakeClock runs retry.Do through a Retrier on c, failing every
// attempt; advance must move c past the next backoff wait once it is armed.
// It returns the fake times of the attempts.
func backoffOnFakeClock(t *testing.T, c clock.Clock, advance func()) []time.Time {
	t.Helper()
	r, err := retry.New(retry.Policy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 8 * time.Second, Jitter: retry.JitterNone},
		retry.WithClock(c), retry.WithMeterProvider(noop.NewMeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	attempts := make(chan time.Time)
	done := make(chan error, 1)
	down := errors.New("downstream down")
	go func() {
		done <- r.Do(context.Background(), func(context.Context) error {
			attempts <- c.Now()
			return down
		})
	}()
	var at []time.Time
	for len(at) < 4 {
		at = append(at, <-attempts)
		if len(at) < 4 {
			advance() // the wait before the next attempt
		}
	}
	if err := <-done; !errors.Is(err, down) {
		t.Fatalf("Do = %v, want the last attempt's error", err)
	}
	return at
}

func checkBackoff(t *testing.T, at []time.Time) {
	t.Helper()
	want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second} // waits of 1s, 2s, 4s
	for i, a := range at {
		if got := a.Sub(at[0]); got != want[i] {
			t.Errorf("attempt %d at +%v, want +%v", i+1, got, want[i])
		}
	}
}

func TestClockworkDrivesRetryBackoff(t *testing.T) {
	defer goleak.VerifyNone(t)
	fc := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()
	wait := time.Second
	at := backoffOnFakeClock(t, clockworkClock{fc}, func() {
		if err := fc.BlockUntilContext(ctx, 1); err != nil { // the backoff timer is armed
			t.Error(err)
		}
		fc.Advance(wait)
		wait *= 2
	})
	checkBackoff(t, at)
}

func TestBenbjohnsonClockDrivesRetryBackoff(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := benclock.NewMock()
	m.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := benClock{Mock: m, armed: make(chan struct{}, 1)}
	wait := time.Second
	at := backoffOnFakeClock(t, c, func() {
		<-c.armed
		m.Add(wait)
		wait *= 2
	})
	checkBackoff(t, at)
}

// A use right after the user's fake clock moves counts at the new time.
func TestClockworkDrivesFeatureDays(t *testing.T) {
	defer goleak.VerifyNone(t)
	fc := clockwork.NewFakeClockAt(time.Date(2026, 3, 12, 23, 59, 0, 0, time.UTC))
	reg, err := feature.New(feature.WithClock(clockworkClock{fc}), feature.WithMeterProvider(noop.NewMeterProvider()), feature.WithInstance("adapter"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Shutdown(context.Background())
	f := reg.MustDefine("search", "team-find", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "Full-text search")
	f.UseN(context.Background(), 5)
	fc.Advance(2 * time.Minute) // past midnight
	f.Use(context.Background())
	s := reg.Stats()[0]
	if s.Today != 1 || s.Total != 6 || !s.LastSeen.Equal(time.Date(2026, 3, 13, 0, 1, 0, 0, time.UTC)) {
		t.Fatalf("after midnight on the clockwork fake: %+v, want 1 use today, 6 in total, last seen 00:01", s)
	}
}
