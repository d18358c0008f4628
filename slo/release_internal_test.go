package slo

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// Per-release counts survive a save and restore (restored events add to
// what the new process counts, the older start and its base win), and
// replicas' counts merge by summing.
func TestReleaseStatesRestoreAndMerge(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var r releases // the own release is "own": v1 and v2 count live
	r.own = "own"
	v1 := r.get("v1", t0)
	v1.total.Add(100)
	v1.bad.Add(3)
	v1.lastSec.Store(t0.Add(time.Minute).Unix())
	v2 := r.get("v2", t0.Add(time.Minute))
	v2.total.Add(40)
	v2.bad.Add(4)
	saved := r.states()
	want := []releaseState{
		{ID: "v1", First: t0.UnixNano(), Last: t0.Add(time.Minute).Unix(), Total: 100, Bad: 3},
		{ID: "v2", First: t0.Add(time.Minute).UnixNano(), Total: 40, Bad: 4, Base: map[string][2]int64{"v1": {100, 3}}},
	}
	if !reflect.DeepEqual(saved, want) {
		t.Fatalf("states:\n%+v\nwant\n%+v", saved, want)
	}

	var back releases
	back.own = "own"
	later := t0.Add(time.Hour)
	back.get("v1", later).total.Add(7) // counted by the new process before restore: kept
	back.restore(append(saved, releaseState{ID: "bad\n", Total: 1}, releaseState{ID: "neg", Total: 1, Bad: 2}), later)
	got := back.states()
	want[0].Total += 7
	if !reflect.DeepEqual(got, want) {
		t.Errorf("restored:\n%+v\nwant\n%+v", got, want)
	}
	if c := back.find("v2"); c.total.Load() != 0 || c.restored != (counts{40, 4}) {
		t.Errorf("restored events are not this process's (metric) counts: %d, %+v", c.total.Load(), c.restored)
	}

	merged := mergeReleaseStates(saved, []releaseState{
		{ID: "v2", First: t0.UnixNano(), Last: 99, Total: 10, Bad: 1, Base: map[string][2]int64{"v1": {5, 0}}},
		{ID: "v3", First: later.UnixNano(), Total: 1},
	})
	want = []releaseState{
		{ID: "v1", First: t0.UnixNano(), Last: t0.Add(time.Minute).Unix(), Total: 100, Bad: 3},
		{ID: "v2", First: t0.UnixNano(), Last: 99, Total: 50, Bad: 5, Base: map[string][2]int64{"v1": {105, 3}}},
		{ID: "v3", First: later.UnixNano(), Total: 1},
	}
	if !reflect.DeepEqual(merged, want) {
		t.Errorf("merged:\n%+v\nwant\n%+v", merged, want)
	}
}

// FuzzReleaseRestore feeds restore per-release states as a snapshot file
// might hold them (decoded JSON): it never panics, keeps at most
// MaxReleases, and never holds more bad events than events.
func FuzzReleaseRestore(f *testing.F) {
	f.Add([]byte(`[{"id":"v1","first":1,"last":2,"total":10,"bad":1,"base":{"v0":[5,1]}}]`))
	f.Add([]byte(`[{"id":"","total":-1,"bad":2},{"id":"a\u0000","total":1}]`))
	f.Add([]byte(`[{"id":"a","total":9223372036854775807,"bad":9223372036854775807},{"id":"a","total":1}]`))
	f.Add([]byte(`[{"id":"1"},{"id":"2"},{"id":"3"},{"id":"4"},{"id":"5"},{"id":"6"},{"id":"7"},{"id":"8"},{"id":"9"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var saved []releaseState
		if json.Unmarshal(data, &saved) != nil {
			return
		}
		var r releases
		r.own = "v1"
		now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		r.restore(saved, now)
		states := r.states()
		if len(states) > MaxReleases {
			t.Fatalf("%d releases kept", len(states))
		}
		for _, st := range states {
			if st.Bad < 0 || st.Total < 0 || st.Bad > st.Total {
				t.Fatalf("restored %+v", st)
			}
		}
		for _, a := range states {
			for _, b := range states {
				if a.ID != b.ID {
					v, _ := sameSpan(a, b)
					if v.Bad > v.Total || v.Total < 0 {
						t.Fatalf("span counts %+v of %+v against %+v", v, a, b)
					}
				}
			}
		}
	})
}
