package release

import (
	"path"
	"runtime/debug"
	"strings"
)

// Info names what is running: the service, its public version and the
// release id that tells two builds of that version apart. Its JSON field
// names are those of the IETF health-check draft (application/health+json).
type Info struct {
	Service string `json:"serviceId"`
	Version string `json:"version"`
	ID      string `json:"releaseId"`
}

// Devel is what FromBuild shows for a version or release id the build did
// not record: under `go run`, `go test`, or a `go build` outside a VCS
// checkout (or with -buildvcs=false).
const Devel = "(devel)"

// FromBuild returns explicit with each empty field taken from the running
// binary's build information (runtime/debug.ReadBuildInfo):
//
//   - Service: the last element of the main package's path ("service" for
//     github.com/opskit/opskit/examples/service).
//   - Version: the main module's version — a tag such as "v1.4.2", or the
//     pseudo-version the go command derives from the VCS ("v0.0.0-20261201...
//     -abcdef123456+dirty") — or Devel when the build recorded none.
//   - ID: the first 12 hex digits of the VCS revision, with "-dirty" when
//     the work tree had uncommitted changes, or Devel when the build
//     recorded no revision (`go run` and `go test` record none).
//
// Values given explicitly are kept as they are, so a deploy pipeline can
// name releases its own way (-version v1.4.2, a container digest).
func FromBuild(explicit Info) Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuild(explicit, bi)
}

func fromBuild(i Info, bi *debug.BuildInfo) Info {
	var mainPath, version, revision string
	modified := false
	if bi != nil {
		mainPath, version = bi.Path, bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if i.Service == "" {
		i.Service = path.Base(strings.TrimSuffix(mainPath, ".test"))
		if mainPath == "" || i.Service == "." || i.Service == "/" {
			i.Service = "unknown"
		}
	}
	if i.Version == "" {
		i.Version = version
		if version == "" {
			i.Version = Devel
		}
	}
	if i.ID == "" {
		i.ID = Devel
		if revision != "" {
			i.ID = revision[:min(12, len(revision))]
			if modified {
				i.ID += "-dirty"
			}
		}
	}
	return i
}

// String is "service version (release id)".
func (i Info) String() string { return i.Service + " " + i.Version + " (" + i.ID + ")" }
