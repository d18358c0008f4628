package shedding

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestProbesBypassTheSlots(t *testing.T) {
	s, err := NewService(1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Acquire(context.Background()) {
		t.Fatal("no slot")
	}
	for _, p := range []string{"/livez", "/readyz/db", "/metrics"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	if IsProbe("/livezz") || IsProbe("/work") {
		t.Error("IsProbe too broad")
	}
	s.Release()
}

func TestMergeAndPercentile(t *testing.T) {
	a := Result{Good: 2, Shed: 1, Capacity: 10, Latencies: []time.Duration{3, 1}}
	b := Result{Good: 1, Failed: 4, ProbesShed: 1, Capacity: 10, Latencies: []time.Duration{2}}
	m := Merge(a, b)
	if m.Good != 3 || m.Shed != 1 || m.Failed != 4 || m.ProbesShed != 1 || m.Goodput() != 0.15 {
		t.Fatalf("merged %+v", m)
	}
	if m.Percentile(0) != 1 || m.Percentile(50) != 2 || m.Percentile(99) != 3 || (Result{}).Percentile(99) != 0 {
		t.Fatalf("percentiles of %v", m.Latencies)
	}
}

func TestFindAndBadRun(t *testing.T) {
	for _, l := range Limiters() {
		if got, err := Find(l.Name); err != nil || got.Name != l.Name {
			t.Errorf("Find(%q): %v", l.Name, err)
		}
	}
	if _, err := Find("nope"); err == nil {
		t.Error("Find of an unknown limiter succeeded")
	}
	svc, err := NewService(2, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Measure(context.Background(), svc, Limiters()[0], Run{}); err == nil {
		t.Error("Measure without a load succeeded")
	}
}
