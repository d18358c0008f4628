package feature_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/goleak"

	"github.com/opskit/opskit/clock"
	"github.com/opskit/opskit/feature"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(sigkillChildEnv); dir != "" {
		sigkillChild(dir) // never returns: the parent kills it
	}
	if dir := os.Getenv(keyRaceDirEnv); dir != "" {
		keyRaceChild(dir, os.Getenv(keyRaceNameEnv)) // exits
	}
	goleak.VerifyTestMain(m)
}

// start is a Wednesday noon, far from a day boundary.
var start = time.Date(2025, 3, 12, 12, 0, 0, 0, time.UTC)

var testKey = []byte("0123456789abcdef")

// newRegistry returns a registry on a fake clock, closed at the end of the test.
func newRegistry(t *testing.T, opts ...feature.Option) (*feature.Registry, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(start)
	base := []feature.Option{feature.WithClock(fc), feature.WithMeterProvider(noop.NewMeterProvider()),
		feature.WithTenantKey(testKey), feature.WithInstance("test")}
	r, err := feature.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r, fc
}

// advance moves the fake clock and makes the registry see it at once (any
// read refreshes the coarse clock).
func advance(r *feature.Registry, fc *clock.Fake, d time.Duration) {
	fc.Advance(d)
	r.Stats()
}

func define(t *testing.T, r *feature.Registry, name string, since time.Time) *feature.Feature {
	t.Helper()
	f, err := r.Define(name, "team-"+name, since, "the "+name+" feature")
	if err != nil {
		t.Fatalf("Define(%q): %v", name, err)
	}
	return f
}

func stat(t *testing.T, r *feature.Registry, name string) feature.Stat {
	t.Helper()
	for _, s := range r.Stats() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no stat for %q", name)
	return feature.Stat{}
}

// useTenants uses f once for each of n distinct tenants named prefix-i.
func useTenants(r *feature.Registry, f *feature.Feature, prefix string, n int) {
	for i := range n {
		f.Use(r.WithTenant(context.Background(), prefix+"-"+itoa(i)))
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
