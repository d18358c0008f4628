package slo_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opskit/opskit/slo"
)

// The incident log is read by people: windows are written as durations,
// and read back exactly.
func TestNumbersJSONWritesDurations(t *testing.T) {
	n := slo.Numbers{LongWindow: time.Hour, ShortWindow: 5 * time.Minute, BurnRateLong: 20, Events: 100, BadEvents: 20}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"long_window":"1h0m0s"`) || !strings.Contains(s, `"short_window":"5m0s"`) || !strings.Contains(s, `"bad_events":20`) {
		t.Fatalf("Numbers as JSON = %s", s)
	}
	var back slo.Numbers
	if err := json.Unmarshal(b, &back); err != nil || back != n {
		t.Fatalf("round trip = %+v, %v; want %+v", back, err, n)
	}
	if err := json.Unmarshal([]byte(`{"long_window":"an hour"}`), &back); err == nil || !strings.Contains(err.Error(), "long_window") {
		t.Fatalf("bad window: err = %v, want one naming long_window", err)
	}
}
