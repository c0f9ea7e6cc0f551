package app

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is stamped at build time with -ldflags "-X simpleapi/app.version=...".
// When it is empty the module version from the build information is used.
var version string

// build describes this binary: what `simpleapi version` prints, the start
// line logs and the simpleapi_build_info metric carries.
type build struct {
	Version  string // release or pseudo-version; "(devel)" when unknown
	Revision string // VCS commit, "" when unknown; "+dirty" when modified
}

// currentBuild reads the stamped version, else the module's build
// information (set by `go build` in a checkout or by `go install m@v`).
func currentBuild() build {
	b := build{Version: version}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "(devel)"
		}
		return b
	}
	if b.Version == "" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Revision != "" {
		b.Revision += "+dirty"
	}
	return b
}

// String is the one-line form printed by `simpleapi version`.
func (b build) String() string {
	rev := b.Revision
	if rev == "" {
		rev = "unknown"
	}
	return fmt.Sprintf("simpleapi %s (revision %s, %s %s/%s)", b.Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
