package address

import (
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSessionBusAddress(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fileDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(fileDir, "bus"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	spaceDir := filepath.Join(t.TempDir(), "a b")
	if err := os.Mkdir(spaceDir, 0o700); err != nil {
		t.Fatal(err)
	}
	l2, err := net.Listen("unix", filepath.Join(spaceDir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()

	tests := []struct {
		name string
		env  map[string]string
		want string // if empty, an error containing msg is expected
		msg  string
	}{
		{"variable wins", map[string]string{"DBUS_SESSION_BUS_ADDRESS": "unix:path=/x", "XDG_RUNTIME_DIR": dir}, "unix:path=/x", ""},
		{"runtime dir socket", map[string]string{"XDG_RUNTIME_DIR": dir}, "unix:path=" + Escape(sock), ""},
		{"runtime dir escaped", map[string]string{"XDG_RUNTIME_DIR": spaceDir}, "unix:path=" + Escape(spaceDir) + "/bus", ""},
		{"nothing set", nil, "", "DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are both unset"},
		{"empty variable", map[string]string{"DBUS_SESSION_BUS_ADDRESS": ""}, "", "both unset"},
		{"relative runtime dir", map[string]string{"XDG_RUNTIME_DIR": "run"}, "", "not an absolute path"},
		{"no socket", map[string]string{"XDG_RUNTIME_DIR": t.TempDir()}, "", "is not usable"},
		{"not a socket", map[string]string{"XDG_RUNTIME_DIR": fileDir}, "", "is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := sessionBusAddress(func(k string) string { return tt.env[k] }, os.Stat)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("sessionBusAddress = %q, %v; want %q", got, err, tt.want)
				}
				if _, err := Parse(got); err != nil {
					t.Fatalf("result %q does not parse: %v", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("sessionBusAddress = %q, want error", got)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "dbus-run-session") {
				t.Errorf("error %q, want it to contain %q and a hint", err, tt.msg)
			}
		})
	}
}

func TestSessionBusAddressUsesStat(t *testing.T) {
	called := ""
	stat := func(p string) (fs.FileInfo, error) {
		called = p
		return nil, fs.ErrPermission
	}
	_, err := sessionBusAddress(func(k string) string {
		if k == "XDG_RUNTIME_DIR" {
			return "/run/user/42"
		}
		return ""
	}, stat)
	if called != "/run/user/42/bus" {
		t.Errorf("stat called with %q, want /run/user/42/bus", called)
	}
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("error %v, want it to carry the stat error", err)
	}
}

func TestSystemBusAddress(t *testing.T) {
	if got := systemBusAddress(func(string) string { return "" }); got != DefaultSystemBusAddress {
		t.Errorf("systemBusAddress without variable = %q, want %q", got, DefaultSystemBusAddress)
	}
	if got := systemBusAddress(func(k string) string {
		if k == "DBUS_SYSTEM_BUS_ADDRESS" {
			return "unix:path=/custom"
		}
		return ""
	}); got != "unix:path=/custom" {
		t.Errorf("systemBusAddress with variable = %q, want unix:path=/custom", got)
	}
	if _, err := Parse(DefaultSystemBusAddress); err != nil {
		t.Errorf("default system bus address does not parse: %v", err)
	}
}

func TestEnvWrappers(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/from/env")
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/system/from/env")
	if got, err := SessionBusAddress(); err != nil || got != "unix:path=/from/env" {
		t.Errorf("SessionBusAddress() = %q, %v", got, err)
	}
	if got := SystemBusAddress(); got != "unix:path=/system/from/env" {
		t.Errorf("SystemBusAddress() = %q", got)
	}
}
