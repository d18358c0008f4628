package release

import (
	"runtime/debug"
	"testing"
)

func TestFromBuild(t *testing.T) {
	stamped := &debug.BuildInfo{
		Path: "github.com/opskit/opskit/examples/service",
		Main: debug.Module{Path: "github.com/opskit/opskit/examples", Version: "v1.4.2"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "false"},
		},
	}
	dirty := &debug.BuildInfo{Path: stamped.Path, Main: stamped.Main,
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}}
	goTest := &debug.BuildInfo{Path: "example.com/m/pkg.test", Main: debug.Module{Path: "example.com/m", Version: "(devel)"}}
	tests := []struct {
		name     string
		explicit Info
		bi       *debug.BuildInfo
		want     Info
	}{
		{"stamped build", Info{}, stamped, Info{Service: "service", Version: "v1.4.2", ID: "0123456789ab"}},
		{"dirty tree", Info{}, dirty, Info{Service: "service", Version: "v1.4.2", ID: "abc-dirty"}},
		{"go test", Info{}, goTest, Info{Service: "pkg", Version: Devel, ID: Devel}},
		{"no build info", Info{}, nil, Info{Service: "unknown", Version: Devel, ID: Devel}},
		{"explicit wins", Info{Service: "orders", Version: "v2", ID: "sha256:feed"}, stamped, Info{Service: "orders", Version: "v2", ID: "sha256:feed"}},
		{"explicit version only", Info{Version: "v2"}, stamped, Info{Service: "service", Version: "v2", ID: "0123456789ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromBuild(tt.explicit, tt.bi); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	// Under go test this binary has build info, but no version or revision.
	if got := FromBuild(Info{}); got.Version != Devel || got.ID != Devel || got.Service != "release" {
		t.Errorf("FromBuild in a test binary = %+v, want service release, version and id %s", got, Devel)
	}
}
