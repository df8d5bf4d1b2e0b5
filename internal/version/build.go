package version

import "runtime/debug"

// Line returns what command prints for --version: its name and Version, then what the Go
// toolchain recorded in the binary: the version control revision of the checkout it was built
// from, with "+modified" when that checkout had uncommitted changes, or, for a binary built
// from the module cache (go install, go tool), the module version when it is not Version.
//
//	protoc-gen-kdbus v0.16.0 (revision 52830ffa1b2c+modified)
func Line(command string) string {
	info, _ := debug.ReadBuildInfo()
	return line(command, info)
}

func line(command string, info *debug.BuildInfo) string {
	s := command + " " + Version
	if info == nil {
		return s
	}
	var rev, modified string
	for _, kv := range info.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				modified = "+modified"
			}
		}
	}
	switch v := info.Main.Version; {
	case rev != "":
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (revision " + rev + modified + ")"
	case v != "" && v != "(devel)" && v != Version:
		s += " (module " + v + ")"
	}
	return s
}
