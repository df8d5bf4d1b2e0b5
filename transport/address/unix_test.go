package address

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func mustParseOne(t *testing.T, s string) Address {
	t.Helper()
	list, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	if len(list) != 1 {
		t.Fatalf("Parse(%q) returned %d entries, want 1", s, len(list))
	}
	return list[0]
}

func TestDialTarget(t *testing.T) {
	tests := []struct {
		in      string
		network string
		addr    string
	}{
		{"unix:path=/run/dbus/system_bus_socket", "unix", "/run/dbus/system_bus_socket"},
		{"unix:path=/tmp/a%20b,guid=0123456789abcdef0123456789abcdef", "unix", "/tmp/a b"},
		{"unix:guid=0123456789abcdef0123456789abcdef,path=rel/sock", "unix", "rel/sock"},
		// A file name starting with '@' must not turn into an abstract socket.
		{"unix:path=%40bus", "unix", "./@bus"},
		{"unix:path=/tmp/x,unknownkey=1", "unix", "/tmp/x"},
	}
	if abstractSupported {
		tests = append(tests, []struct {
			in      string
			network string
			addr    string
		}{
			{"unix:abstract=/tmp/dbus-ABC", "unix", "@/tmp/dbus-ABC"},
			{"unix:abstract=%00x", "unix", "@\x00x"},
		}...)
	}
	for _, tt := range tests {
		a := mustParseOne(t, tt.in)
		network, addr, err := a.DialTarget()
		if err != nil {
			t.Errorf("DialTarget(%q): %v", tt.in, err)
			continue
		}
		if network != tt.network || addr != tt.addr {
			t.Errorf("DialTarget(%q) = %q, %q; want %q, %q", tt.in, network, addr, tt.network, tt.addr)
		}
	}
}

func TestDialTargetErrors(t *testing.T) {
	tests := []struct {
		in       string
		sentinel error // nil: must match neither sentinel
		msg      string
	}{
		{"tcp:host=localhost,port=1234", ErrUnsupportedTransport, `unsupported transport "tcp": kdbus-go speaks D-Bus over unix sockets only`},
		{"nonce-tcp:host=localhost", ErrUnsupportedTransport, "TCP carries no such credentials"},
		{"launchd:env=DBUS_LAUNCHD_SESSION_BUS_SOCKET", ErrUnsupportedTransport, `"launchd"`},
		{"autolaunch:", ErrUnsupportedTransport, `"autolaunch"`},
		{"unixexec:path=/bin/true", ErrUnsupportedTransport, `"unixexec"`},
		{"unix:tmpdir=/tmp", ErrListenOnly, "tmpdir="},
		{"unix:dir=/tmp", ErrListenOnly, "dir="},
		{"unix:runtime=yes", ErrListenOnly, "runtime="},
		{"unix:", nil, "has none of path="},
		{"unix:guid=0123456789abcdef0123456789abcdef", nil, "has none of path="},
		{"unix:path=/a,abstract=b", nil, "sets both path= and abstract="},
		{"unix:path=/a,tmpdir=/tmp", nil, "sets both path= and tmpdir="},
		{"unix:dir=/a,runtime=yes", nil, "sets both dir= and runtime="},
		{"unix:runtime=no", nil, "the only allowed value is runtime=yes"},
		{"unix:path=/a%00b", nil, "NUL byte"},
	}
	if !abstractSupported {
		tests = append(tests, struct {
			in       string
			sentinel error
			msg      string
		}{"unix:abstract=x", nil, "only exists on Linux"})
	}
	for _, tt := range tests {
		a := mustParseOne(t, tt.in)
		network, addr, err := a.DialTarget()
		if err == nil {
			t.Errorf("DialTarget(%q) = %q, %q; want error", tt.in, network, addr)
			continue
		}
		if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
			t.Errorf("DialTarget(%q) error %q does not match %q", tt.in, err, tt.sentinel)
		}
		if tt.sentinel == nil && (errors.Is(err, ErrUnsupportedTransport) || errors.Is(err, ErrListenOnly)) {
			t.Errorf("DialTarget(%q) error %q wrongly matches a sentinel", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("DialTarget(%q) error %q, want it to contain %q", tt.in, err, tt.msg)
		}
	}
}

func TestDialTargetHandBuilt(t *testing.T) {
	bad := []Address{
		{Transport: "unix", Params: map[string]string{"path": ""}},
		{Transport: "unix", Params: map[string]string{"path": "/a", "guid": "xyz"}},
	}
	for _, a := range bad {
		if _, _, err := a.DialTarget(); err == nil {
			t.Errorf("DialTarget(%#v) succeeded, want error", a)
		}
	}
}

var socketName = regexp.MustCompile(`^dbus-[A-Za-z0-9]{10}$`)

func TestListenTargetDir(t *testing.T) {
	for _, key := range []string{"dir", "tmpdir"} {
		t.Run(key, func(t *testing.T) {
			dir := t.TempDir()
			const guid = "0123456789abcdef0123456789abcdef"
			a := addr("unix", key, dir, "guid", guid)
			network, laddr, connect, err := a.ListenTarget(nil)
			if err != nil {
				t.Fatalf("ListenTarget(%q): %v", a, err)
			}
			if network != "unix" || filepath.Dir(laddr) != dir || !socketName.MatchString(filepath.Base(laddr)) {
				t.Fatalf("ListenTarget(%q) = %q, %q; want a dbus-XXXXXXXXXX socket in %s", a, network, laddr, dir)
			}
			want := addr("unix", "path", laddr, "guid", guid)
			if !connect.Equal(want) {
				t.Errorf("connect address = %q, want %q", connect, want)
			}

			// The result really works for listening and, reparsed, for dialing.
			l, err := net.Listen(network, laddr)
			if err != nil {
				t.Fatalf("net.Listen(%q, %q): %v", network, laddr, err)
			}
			defer l.Close()
			dn, da, err := mustParseOne(t, connect.String()).DialTarget()
			if err != nil {
				t.Fatalf("DialTarget of %q: %v", connect, err)
			}
			c, err := net.Dial(dn, da)
			if err != nil {
				t.Fatalf("net.Dial(%q, %q): %v", dn, da, err)
			}
			c.Close()

			// Two resolutions pick different names.
			_, other, _, err := a.ListenTarget(nil)
			if err != nil {
				t.Fatal(err)
			}
			if other == laddr {
				t.Errorf("two ListenTarget calls both chose %q", laddr)
			}
		})
	}
}

func TestListenTargetDeterministicName(t *testing.T) {
	dir := t.TempDir()
	// 0xf8 and above are discarded to keep the choice unbiased.
	random := bytes.NewReader(append(bytes.Repeat([]byte{0xff}, 16), 0, 1, 25, 26, 51, 52, 61, 62, 247, 248, 0, 0, 0, 0, 0, 0))
	_, laddr, _, err := addr("unix", "dir", dir).ListenTarget(random)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Base(laddr), "dbus-abzAZ09a9a"; got != want {
		t.Errorf("socket name = %q, want %q", got, want)
	}
}

func TestListenTargetRandomFailure(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := addr("unix", "dir", dir).ListenTarget(bytes.NewReader(nil)); err == nil || !strings.Contains(err.Error(), "choosing a socket name") {
		t.Errorf("ListenTarget with empty random source: error %v, want a socket name error", err)
	}
	if _, _, _, err := addr("unix", "dir", dir).ListenTarget(bytes.NewReader(bytes.Repeat([]byte{0xff}, 4096))); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Errorf("ListenTarget with useless random source: error %v, want an unusable-bytes error", err)
	}
}

func TestListenTargetDirErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		a   Address
		msg string
	}{
		{addr("unix", "dir", filepath.Join(dir, "missing")), "must name an existing directory"},
		{addr("unix", "tmpdir", filepath.Join(dir, "missing")), "must name an existing directory"},
		{addr("unix", "dir", file), "is not a directory"},
		{addr("unix", "runtime", "no"), "runtime=yes"},
		{addr("unix", "path", "/a", "dir", dir), "sets both"},
		{addr("tcp", "host", "localhost"), "unsupported transport"},
	}
	for _, tt := range tests {
		_, _, _, err := tt.a.ListenTarget(nil)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ListenTarget(%q) error %v, want it to contain %q", tt.a, err, tt.msg)
		}
	}
	if _, _, _, err := addr("tcp", "host", "h").ListenTarget(nil); !errors.Is(err, ErrUnsupportedTransport) {
		t.Errorf("ListenTarget(tcp) error %v does not match ErrUnsupportedTransport", err)
	}
}

func TestListenTargetRuntime(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}
	a := addr("unix", "runtime", "yes", "guid", "ffffffffffffffffffffffffffffffff")
	network, laddr, connect, err := a.listenTarget(nil, env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"}))
	if err != nil {
		t.Fatal(err)
	}
	if network != "unix" || laddr != "/run/user/1000/bus" {
		t.Errorf("runtime=yes resolved to %q, %q; want unix, /run/user/1000/bus", network, laddr)
	}
	if got, want := connect.String(), "unix:path=/run/user/1000/bus,guid=ffffffffffffffffffffffffffffffff"; got != want {
		t.Errorf("connect address = %q, want %q", got, want)
	}

	for _, vars := range []map[string]string{nil, {"XDG_RUNTIME_DIR": "relative/dir"}} {
		if _, _, _, err := a.listenTarget(nil, env(vars)); err == nil || !strings.Contains(err.Error(), "XDG_RUNTIME_DIR") {
			t.Errorf("runtime=yes with env %v: error %v, want one about XDG_RUNTIME_DIR", vars, err)
		}
	}
}

func TestListenTargetConcrete(t *testing.T) {
	tests := []struct {
		in      string
		addr    string
		connect string
	}{
		{"unix:path=/tmp/s,guid=0123456789abcdef0123456789abcdef,extra=1", "/tmp/s", "unix:path=/tmp/s,guid=0123456789abcdef0123456789abcdef"},
		{"unix:path=%40s", "./@s", "unix:path=%40s"},
	}
	if abstractSupported {
		tests = append(tests, struct {
			in      string
			addr    string
			connect string
		}{"unix:abstract=/tmp/x", "@/tmp/x", "unix:abstract=/tmp/x"})
	}
	for _, tt := range tests {
		network, laddr, connect, err := mustParseOne(t, tt.in).ListenTarget(nil)
		if err != nil {
			t.Errorf("ListenTarget(%q): %v", tt.in, err)
			continue
		}
		if network != "unix" || laddr != tt.addr || connect.String() != tt.connect {
			t.Errorf("ListenTarget(%q) = %q, %q, %q; want unix, %q, %q", tt.in, network, laddr, connect, tt.addr, tt.connect)
		}
	}
}
