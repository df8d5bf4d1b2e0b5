package address

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultSystemBusAddress is the system bus address used when
// DBUS_SYSTEM_BUS_ADDRESS is not set, as the D-Bus specification defines it.
const DefaultSystemBusAddress = "unix:path=/var/run/dbus/system_bus_socket"

// SessionBusAddress returns the address list of the current session bus.
//
// It returns the value of DBUS_SESSION_BUS_ADDRESS if that is set and not
// empty. Otherwise, if XDG_RUNTIME_DIR is an absolute path and a socket
// named "bus" exists in it, as a systemd user session provides, it returns
// "unix:path=$XDG_RUNTIME_DIR/bus". Otherwise it returns an error saying
// which of these it looked at. The result is not validated; pass it to
// [Parse].
func SessionBusAddress() (string, error) {
	return sessionBusAddress(os.Getenv, os.Stat)
}

func sessionBusAddress(getenv func(string) string, stat func(string) (fs.FileInfo, error)) (string, error) {
	if s := getenv("DBUS_SESSION_BUS_ADDRESS"); s != "" {
		return s, nil
	}
	const hint = "start a session bus (for example with dbus-run-session, or by logging in to a systemd user session) or set DBUS_SESSION_BUS_ADDRESS to its address"
	dir := getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		return "", fmt.Errorf("cannot find the session bus: DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR are both unset; %s", hint)
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("cannot find the session bus: DBUS_SESSION_BUS_ADDRESS is unset and XDG_RUNTIME_DIR=%q is not an absolute path; %s", dir, hint)
	}
	path := filepath.Join(dir, "bus")
	fi, err := stat(path)
	if err != nil {
		return "", fmt.Errorf("cannot find the session bus: DBUS_SESSION_BUS_ADDRESS is unset and %s is not usable (%v); %s", path, err, hint)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return "", fmt.Errorf("cannot find the session bus: DBUS_SESSION_BUS_ADDRESS is unset and %s is not a socket; %s", path, hint)
	}
	return "unix:path=" + Escape(path), nil
}

// SystemBusAddress returns the address list of the system bus: the value
// of DBUS_SYSTEM_BUS_ADDRESS if that is set and not empty, and
// [DefaultSystemBusAddress] otherwise. The result is not validated; pass it
// to [Parse].
func SystemBusAddress() string {
	return systemBusAddress(os.Getenv)
}

func systemBusAddress(getenv func(string) string) string {
	if s := getenv("DBUS_SYSTEM_BUS_ADDRESS"); s != "" {
		return s
	}
	return DefaultSystemBusAddress
}
