package version

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct {
		info *debug.BuildInfo
		want string
	}{
		{nil, "kdbusd " + Version},
		{&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "kdbusd " + Version},
		{&debug.BuildInfo{Main: debug.Module{Version: Version}}, "kdbusd " + Version},
		{&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101000000-0123456789ab"}},
			"kdbusd " + Version + " (module v0.0.0-20260101000000-0123456789ab)"},
		{&debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "52830ffa1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: "false"},
		}}, "kdbusd " + Version + " (revision 52830ffa1b2c)"},
		{&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101000000-52830ffa1b2c+dirty"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "52830ffa1b2c3d4e5f60718293a4b5c6d7e8f901"}, {Key: "vcs.modified", Value: "true"},
		}}, "kdbusd " + Version + " (revision 52830ffa1b2c+modified)"},
	} {
		if got := line("kdbusd", tc.info); got != tc.want {
			t.Errorf("line(%+v) = %q, want %q", tc.info, got, tc.want)
		}
	}
}

// Each command prints its version line, built as a user would build it.
func TestCommandsPrintTheirVersion(t *testing.T) {
	dir := t.TempDir()
	for _, cmd := range []string{"kdbusd", "protoc-gen-kdbus", "aidl2proto"} {
		bin := filepath.Join(dir, cmd)
		if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, "github.com/kdbus-go/kdbus/cmd/"+cmd).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", cmd, err, out)
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", cmd, err)
		}
		first, _, _ := strings.Cut(string(out), "\n")
		// The build information the command reads, as go version -m lists it: a revision
		// where the build ran in a git checkout.
		info, err := exec.Command("go", "version", "-m", bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		want := cmd + " " + Version
		if rev := buildSetting(string(info), "vcs.revision"); rev != "" {
			want += " (revision " + rev[:12]
			if buildSetting(string(info), "vcs.modified") == "true" {
				want += "+modified"
			}
			want += ")"
		}
		if first != want {
			t.Errorf("%s --version printed %q, want %q", cmd, first, want)
		}
	}
}

// buildSetting finds a setting in the output of go version -m.
func buildSetting(info, key string) string {
	for l := range strings.SplitSeq(info, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "build" {
			if k, v, ok := strings.Cut(f[1], "="); ok && k == key {
				return v
			}
		}
	}
	return ""
}
