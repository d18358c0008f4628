package overload

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// fill admits Critical work until the limiter refuses it and returns the
// permits.
func fill(t *testing.T, l *Limiter) []Permit {
	t.Helper()
	var ps []Permit
	for {
		p, ok := l.Acquire(Critical)
		if !ok {
			return ps
		}
		ps = append(ps, p)
		if len(ps) > 10000 {
			t.Fatal("the limiter never refused")
		}
	}
}

func TestThresholdsPerPriority(t *testing.T) {
	l, _ := newTestLimiter(t, WithLimits(4, 40, 100), WithProbeEvery(time.Hour))
	l.limit.Store(40) // as after the first probe
	var ps []Permit
	admit := func(p Priority, want bool) {
		t.Helper()
		pm, ok := l.Acquire(p)
		if ok != want {
			t.Fatalf("Acquire(%v) with %d in flight of %d = %v, want %v", p, l.InFlight(), l.Limit(), ok, want)
		}
		if ok {
			ps = append(ps, pm)
		}
	}
	for range 32 { // background may use 40 - 2*4
		admit(Background, true)
	}
	admit(Background, false)
	for range 4 {
		admit(Normal, true)
	}
	admit(Normal, false)
	admit(Background, false)
	for range 4 {
		admit(Critical, true)
	}
	admit(Critical, false)
	admit(Exempt, true)
	if got := l.InFlight(); got != 40 {
		t.Errorf("InFlight = %d, want 40 (exempt work not counted)", got)
	}
	if l.Shed(Background) != 2 || l.Shed(Normal) != 1 || l.Shed(Critical) != 1 || l.Shed(Exempt) != 0 {
		t.Errorf("shed counts %d %d %d %d", l.Shed(Background), l.Shed(Normal), l.Shed(Critical), l.Shed(Exempt))
	}
	for _, p := range ps {
		p.Release()
	}
	if got := l.InFlight(); got != 0 {
		t.Errorf("InFlight after release = %d", got)
	}
}

func TestFirstProbePinsTheMinimumThenRestoresTheInitialLimit(t *testing.T) {
	l, fc := newTestLimiter(t, WithLimits(2, 30, 100), WithWindow(10*time.Millisecond, 4))
	ps := fill(t, l)
	if len(ps) != 2 {
		t.Fatalf("admitted %d during the first probe, want the minimum 2", len(ps))
	}
	for range 2 {
		fc.Advance(10 * time.Millisecond)
		for i := range ps {
			ps[i].Release()
			ps[i], _ = l.Acquire(Critical)
		}
	}
	if l.Limit() != 30 {
		t.Fatalf("limit %d after the probe, want the initial 30", l.Limit())
	}
	for _, p := range ps {
		p.Release()
	}
}

// Work that times out (Drop) cuts the limit even when latency looks fine.
func TestDropsCutTheLimit(t *testing.T) {
	l, fc := newTestLimiter(t, WithLimits(1, 50, 100), WithWindow(time.Millisecond, 10), WithProbeEvery(time.Hour),
		WithTolerance(10)) // latency alone never cuts here
	// the first probe: minimum 1, one piece of work at a time
	for range 10 {
		p, _ := l.Acquire(Normal)
		fc.Advance(5 * time.Millisecond)
		p.Release()
	}
	if l.Limit() != 50 {
		t.Fatalf("limit %d after the probe, want 50", l.Limit())
	}
	window := func(drop bool) {
		var ps []Permit
		for range 40 {
			p, _ := l.Acquire(Normal)
			ps = append(ps, p)
		}
		fc.Advance(10 * time.Millisecond) // two baselines: the window can close
		for i, p := range ps {
			if drop && i%4 == 0 {
				p.Drop()
			} else {
				p.Release()
			}
		}
	}
	before := l.Limit()
	window(false)
	if got := l.Limit(); got < before {
		t.Fatalf("limit fell from %d to %d without drops", before, got)
	}
	before = l.Limit()
	window(true)
	if got := l.Limit(); got > (before+1)*9/10 { // before is the floor of the real-valued limit
		t.Errorf("limit %d after a window with drops, want at most %d", got, (before+1)*9/10)
	}
}

// A service that really became slower (every piece of work takes longer
// at any concurrency) is not starved: once the limit reaches its minimum
// the latency there becomes the baseline and the limit grows again.
func TestSlowerServiceIsRelearned(t *testing.T) {
	l, fc := newTestLimiter(t)
	s := newSim(t, l, fc, 32, 10*time.Millisecond)
	s.rate = 0.5 * s.capacity()
	s.run(3 * time.Second)
	s.service = 40 * time.Millisecond // capacity 800/s; offered 1600/s
	s.run(5 * time.Second)
	st := s.run(3 * time.Second)
	t.Logf("after the slowdown: goodput %.0f/s of 800, p99 %v, limit %.1f", st.goodput(3*time.Second), st.p99(), st.meanLimit())
	if g := st.goodput(3 * time.Second); g < 0.9*800 {
		t.Errorf("goodput %.0f/s after the service slowed down, want at least 720", g)
	}
}

func TestOptionsRejectBadSettings(t *testing.T) {
	for _, tc := range []struct {
		opt  Option
		want string
	}{
		{WithLimits(0, 10, 20), "WithLimits min 0"},
		{WithLimits(5, 10, 4), "WithLimits max 4"},
		{WithLimits(5, 30, 20), "WithLimits initial 30"},
		{WithTolerance(0.9), "WithTolerance 0.9"},
		{WithWindow(0, 10), "WithWindow duration 0s"},
		{WithWindow(time.Second, 0), "WithWindow samples 0"},
		{WithProbeEvery(-time.Second), "WithProbeEvery -1s"},
		{nil, "nil Option"},
	} {
		_, err := New(tc.opt)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "overload: ") {
			t.Errorf("New(%s): error %v, want one naming %q", tc.want, err, tc.want)
		}
	}
}

func TestMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	l, err := New(WithMeterProvider(mp), WithName("api"), WithLimits(3, 10, 20))
	if err != nil {
		t.Fatal(err)
	}
	ps := fill(t, l) // 3 during the first probe
	l.Acquire(Background)
	l.Acquire(Exempt)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			case metricdata.Sum[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				if v, _ := p.Attributes.Value("limiter"); v.AsString() != "api" {
					t.Errorf("%s without limiter=api: %v", m.Name, p.Attributes)
				}
				key := m.Name
				if v, ok := p.Attributes.Value("priority"); ok {
					key += "/" + v.AsString()
				}
				got[key] = p.Value
			}
		}
	}
	want := map[string]int64{
		"opskit.overload.limit": 3, "opskit.overload.inflight": 3,
		"opskit.overload.shed/critical": 1, "opskit.overload.shed/background": 1, "opskit.overload.shed/normal": 0,
		"opskit.overload.admitted/critical": 3, "opskit.overload.admitted/exempt": 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if _, ok := got["opskit.overload.shed/exempt"]; ok {
		t.Error("a shed count for exempt work, which is never shed")
	}
	for _, p := range ps {
		p.Release()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAcquireReleaseAllocatesNothing(t *testing.T) {
	l, _ := newTestLimiter(t)
	for _, p := range []Priority{Background, Normal, Critical, Exempt} {
		if n := testing.AllocsPerRun(1000, func() {
			pm, ok := l.Acquire(p)
			if !ok {
				t.Fatal("refused")
			}
			pm.Release()
		}); n != 0 {
			t.Errorf("Acquire(%v)+Release: %v allocations, want 0", p, n)
		}
	}
}

// On the real clock, a flood of cheap work is timed only in part (a clock
// read costs more than the rest of the admit path), and every piece again
// once the rate falls.
func TestSamplingFollowsTheRate(t *testing.T) {
	l, err := New(WithMeterProvider(noop.NewMeterProvider()), WithWindow(time.Second, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.adjustSamplingLocked(1 << 20) // a million in a window: one in 64
	if got := float64(l.sampleBelow.Load()) / math.MaxUint64; math.Abs(got-1.0/64) > 1e-6 {
		t.Fatalf("sampling rate %v after a million, want 1/64", got)
	}
	l.adjustSamplingLocked(64) // 64 sampled of 4096: want 256 of them
	if got := float64(l.sampleBelow.Load()) / math.MaxUint64; math.Abs(got-1.0/16) > 1e-6 {
		t.Fatalf("sampling rate %v, want 1/16", got)
	}
	l.adjustSamplingLocked(1) // a trickle: time everything
	if l.sampleBelow.Load() != math.MaxUint64 {
		t.Fatalf("sampling rate below 1 at a trickle")
	}
	fake, _ := newTestLimiter(t)
	if fake.sampling {
		t.Error("sampling on a fake clock, where tests need every sample")
	}
}
