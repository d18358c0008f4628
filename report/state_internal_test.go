package report

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeState: a damaged state file is an error starting "report:
// state", never a panic; a state that decodes writes back to an equal
// one.
func FuzzDecodeState(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"since":"2026-11-30T00:00:00Z"}`,
		`{"v":1,"since":"2026-11-30T00:00:00Z","last":"2026-W49","pending":["2026-W48","2026-W49"]}`,
		`{"v":2,"since":"2026-11-30T00:00:00Z"}`,
		`{"v":1}`,
		`{"v":1,"since":"2026-11-30T00:00:00Z","last":"2026-W99"}`,
		`{"v":1,"since":"2026-11-30T00:00:00Z","extra":1}`,
		`{"v":1,"since":"2026-11-30T00:00:00Z"} {}`,
		`[]`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "report: state") {
				t.Fatalf("error %q", err)
			}
			return
		}
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeState(out)
		if err != nil || !again.Since.Equal(st.Since) || again.Last != st.Last || strings.Join(again.Pending, ",") != strings.Join(st.Pending, ",") {
			t.Fatalf("%s -> %+v -> %s -> %+v, %v", b, st, out, again, err)
		}
	})
}

// TestStateRoundTrip: what saveState writes, loadState reads.
func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := state{Version: stateVersion, Since: time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC), Last: "2026-W49", Pending: []string{"2026-W49"}}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(dir, time.Now())
	if err != nil || !got.Since.Equal(st.Since) || got.Last != st.Last || len(got.Pending) != 1 {
		t.Fatalf("%+v, %v", got, err)
	}
}
