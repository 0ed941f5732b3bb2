package main

import (
	"runtime/debug"
)

// buildVersion describes the running binary for --version: the version
// set with -ldflags, else the module version from the build info (as `go
// install ...@v1.2.3` records it), else the VCS revision the binary was
// built from, marked "+modified" if the work tree had changes.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	return describeBuild(version, info)
}

// describeBuild is buildVersion for a given -ldflags version and build
// info.
func describeBuild(ldflagsVersion string, info *debug.BuildInfo) string {
	if ldflagsVersion != "" && ldflagsVersion != "dev" {
		return ldflagsVersion
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if rev == "" {
		return "dev (no version or VCS information in this build)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	out := "dev-" + rev
	if modified == "true" {
		out += "+modified"
	}
	if at != "" {
		out += " (" + at + ")"
	}
	return out
}
