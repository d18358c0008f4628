package main

import (
	"io"
	"strings"
	"testing"
)

// A story is picked by name; a name that is not one, or a bad pace or
// capacity, is an error that says what is wanted.
func TestStoryFlagsNameTheProblem(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-demo-story", "nope"}, []string{`-demo-story "nope"`, storyOutage, storyFailing, storyOverload, storyCandidate, storySelfHealing}},
		{[]string{"-demo-phase", "0s"}, []string{"-demo-phase 0s"}},
		{[]string{"-order-slots", "0"}, []string{"-order-slots 0"}},
		{[]string{"-order-time", "-1ms"}, []string{"-order-time -1ms"}},
	} {
		err := run(t.Context(), append([]string{"-data", t.TempDir()}, tc.args...), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%q) = nil, want an error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("run(%q) = %v, want it to contain %q", tc.args, err, w)
			}
		}
	}
	for _, s := range demoStories {
		if _, err := findStory(s.name); err != nil || s.what == "" || s.traffic == nil {
			t.Errorf("story %q: findStory %v, what %q, traffic set %v", s.name, err, s.what, s.traffic != nil)
		}
	}
}
