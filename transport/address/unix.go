package address

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// unixKeys are the unix transport keys that say where the socket is. An
// address must set exactly one of them.
var unixKeys = []string{"path", "abstract", "tmpdir", "dir", "runtime"}

// abstractSupported reports whether this platform has the Linux abstract
// socket namespace.
var abstractSupported = runtime.GOOS == "linux" || runtime.GOOS == "android"

// unixLocation returns which of unixKeys a unix address sets, and its
// value. It fails unless exactly one is set.
func (a Address) unixLocation() (key, value string, err error) {
	for _, k := range unixKeys {
		v, ok := a.Params[k]
		if !ok {
			continue
		}
		if key != "" {
			return "", "", fmt.Errorf("unix address %q sets both %s= and %s=; set exactly one of path=, abstract=, tmpdir=, dir= or runtime=yes", a.String(), key, k)
		}
		key, value = k, v
	}
	if key == "" {
		return "", "", fmt.Errorf("unix address %q has none of path=, abstract=, tmpdir=, dir= or runtime=yes; add exactly one", a.String())
	}
	if value == "" {
		return "", "", fmt.Errorf("unix address %q has an empty %s= value", a.String(), key)
	}
	if key == "runtime" && value != "yes" {
		return "", "", fmt.Errorf("unix address %q has runtime=%s; the only allowed value is runtime=yes", a.String(), value)
	}
	if g, ok := a.Params["guid"]; ok && !isGUID(g) {
		return "", "", fmt.Errorf("unix address %q has guid %q, which is not 32 hexadecimal digits", a.String(), g)
	}
	return key, value, nil
}

// socketTarget converts a path= or abstract= value to the address syntax
// of Go's net package for the "unix" network.
func (a Address) socketTarget(key, value string) (network, addr string, err error) {
	switch key {
	case "path":
		if strings.IndexByte(value, 0) >= 0 {
			return "", "", fmt.Errorf("unix address %q: path contains a NUL byte, which a socket path cannot hold", a.String())
		}
		if value[0] == '@' {
			// The net package would take a leading '@' to mean the
			// abstract namespace; keep it a file name instead.
			value = "./" + value
		}
		return "unix", value, nil
	case "abstract":
		if !abstractSupported {
			return "", "", fmt.Errorf("unix address %q uses the abstract socket namespace, which only exists on Linux; use a path= address on %s", a.String(), runtime.GOOS)
		}
		return "unix", "@" + value, nil
	}
	panic("address: socketTarget called with key " + key)
}

// DialTarget returns the network and address to pass to net.Dial to
// connect to the server at a. For unix:path=P it returns ("unix", P); for
// unix:abstract=N it returns ("unix", "@N"), the form Go uses for the Linux
// abstract socket namespace.
//
// The error matches [ErrUnsupportedTransport] if a uses a transport other
// than unix, and [ErrListenOnly] for the tmpdir=, dir= and runtime= forms,
// which only a server can use. A client trying a list of addresses should
// skip entries with either error and move on to the next one. Any other
// error means the unix address itself is malformed, for example because it
// sets both path= and abstract=.
func (a Address) DialTarget() (network, addr string, err error) {
	if a.Transport != "unix" {
		return "", "", unsupported(a)
	}
	key, value, err := a.unixLocation()
	if err != nil {
		return "", "", err
	}
	switch key {
	case "path", "abstract":
		return a.socketTarget(key, value)
	}
	return "", "", fmt.Errorf("cannot connect to %q: %w (%s= tells a server where to create its socket); connect to the path= or abstract= address the server reports instead", a.String(), ErrListenOnly, key)
}

// ListenTarget resolves a to a concrete socket for a server to listen on.
// It returns the network and address to pass to net.Listen, and the
// address that clients should use to connect, which the server would
// publish (for example by printing it). The connect address has the
// transport unix, one path= or abstract= parameter, and a's guid parameter
// if it has one.
//
// The forms are resolved as follows:
//
//   - unix:path=P and unix:abstract=N are used as they are.
//   - unix:dir=D creates no file itself but picks a fresh socket name
//     dbus-XXXXXXXXXX, with ten random letters and digits, inside the
//     existing directory D.
//   - unix:tmpdir=D is treated exactly like dir=D. The reference D-Bus
//     implementation may instead pick a name in the Linux abstract
//     namespace for tmpdir=; this package always uses a file, because
//     abstract sockets are not protected by file permissions and can be
//     reached by any process that shares the network namespace.
//   - unix:runtime=yes uses $XDG_RUNTIME_DIR/bus, and fails if
//     XDG_RUNTIME_DIR is unset or not an absolute path.
//
// random supplies the randomness for dir= and tmpdir= names; if it is nil,
// crypto/rand.Reader is used. ListenTarget does not check whether the
// chosen socket file already exists: net.Listen reports that.
//
// As with [Address.DialTarget], the error matches [ErrUnsupportedTransport]
// for transports other than unix.
func (a Address) ListenTarget(random io.Reader) (network, addr string, connect Address, err error) {
	return a.listenTarget(random, os.Getenv)
}

func (a Address) listenTarget(random io.Reader, getenv func(string) string) (network, addr string, connect Address, err error) {
	if a.Transport != "unix" {
		return "", "", Address{}, unsupported(a)
	}
	key, value, err := a.unixLocation()
	if err != nil {
		return "", "", Address{}, err
	}
	switch key {
	case "dir", "tmpdir":
		if random == nil {
			random = rand.Reader
		}
		fi, err := os.Stat(value)
		if err != nil {
			return "", "", Address{}, fmt.Errorf("cannot listen on %q: %s= must name an existing directory: %w", a.String(), key, err)
		}
		if !fi.IsDir() {
			return "", "", Address{}, fmt.Errorf("cannot listen on %q: %s=%s is not a directory", a.String(), key, value)
		}
		name, err := randomName(random)
		if err != nil {
			return "", "", Address{}, fmt.Errorf("cannot listen on %q: choosing a socket name: %w", a.String(), err)
		}
		key, value = "path", filepath.Join(value, name)
	case "runtime":
		dir := getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			return "", "", Address{}, fmt.Errorf("cannot listen on %q: XDG_RUNTIME_DIR is not set; set it to the per-user runtime directory (such as /run/user/1000) or use a path= address", a.String())
		}
		if !filepath.IsAbs(dir) {
			return "", "", Address{}, fmt.Errorf("cannot listen on %q: XDG_RUNTIME_DIR=%q is not an absolute path", a.String(), dir)
		}
		key, value = "path", filepath.Join(dir, "bus")
	}
	network, addr, err = a.socketTarget(key, value)
	if err != nil {
		return "", "", Address{}, err
	}
	connect = Address{Transport: "unix", Params: map[string]string{key: value}, Keys: []string{key}}
	if g, ok := a.Params["guid"]; ok {
		connect.Params["guid"] = g
		connect.Keys = append(connect.Keys, "guid")
	}
	return network, addr, connect, nil
}

func unsupported(a Address) error {
	if a.Transport == "tcp" || a.Transport == "nonce-tcp" {
		return fmt.Errorf("cannot use %q: %w %q: kdbus-go speaks D-Bus over unix sockets only, where the kernel vouches for each peer's credentials (SO_PEERCRED, SCM_CREDENTIALS) that the bus's policy and the callers' identity rest on; TCP carries no such credentials (dbus-daemon too advises against it); use a unix: or kdbus: address", a.String(), ErrUnsupportedTransport, a.Transport)
	}
	return fmt.Errorf("cannot use %q: %w %q; only unix is supported, so skip this entry and try the next address in the list", a.String(), ErrUnsupportedTransport, a.Transport)
}

// randomName returns "dbus-" followed by ten random ASCII letters and
// digits read from random.
func randomName(random io.Reader) (string, error) {
	const (
		alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		length   = 10
		// Bytes at or above this bound are discarded so that every
		// letter is equally likely.
		bound = 256 - 256%len(alphabet)
	)
	name := []byte("dbus-")
	var buf [16]byte
	for tries := 0; len(name) < len("dbus-")+length; tries++ {
		if tries == 64 {
			return "", errors.New("random source keeps returning unusable bytes")
		}
		n, err := io.ReadFull(random, buf[:])
		if err != nil {
			return "", err
		}
		for _, c := range buf[:n] {
			if int(c) < bound && len(name) < len("dbus-")+length {
				name = append(name, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(name), nil
}
