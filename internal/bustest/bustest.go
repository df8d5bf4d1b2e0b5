// Package bustest runs test suites against every kind of bus the project supports: a real
// dbus-daemon and our own broker, so that one suite shows both behave the same.
package bustest

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/address"
)

// The kinds of bus.
const (
	// DBusDaemon is the reference bus, a private dbus-daemon.
	DBusDaemon = "dbus-daemon"
	// Kdbusd is our bus as a separate process, started with dbus-daemon's command line.
	Kdbusd = "kdbusd"
	// KdbusdNative is the same process listening on a native socket too: its Address lists
	// the kdbus: entry first, so the runtime connects natively, and ClassicAddress has the
	// classic entry alone.
	KdbusdNative = "kdbusd-native"
	// KdbusdNativeRouted is KdbusdNative with lanes off (kdbusd --no-lanes): native peers'
	// unicasts all go through the bus instead of straight between them.
	KdbusdNativeRouted = "kdbusd-native-routed"
	// Embedded is our bus inside the test process (broker.Start).
	Embedded = "embedded"
)

// Kinds lists the kinds of bus suites run on, in order.
var Kinds = []string{DBusDaemon, Kdbusd, KdbusdNative, KdbusdNativeRouted}

// Bus is a running bus of some kind.
type Bus struct {
	Kind    string
	Address string
	// ClassicAddress is the address of the bus's classic socket alone.
	ClassicAddress string
	// Native says Address leads the runtime to the native transport.
	Native bool
	// Daemon is the bus's process; nil for the embedded kind.
	Daemon *dbustest.Daemon
	kill   func()
}

// Kill stops the bus at once, disconnecting every client.
func (b *Bus) Kill() { b.kill() }

// Start starts a bus of the given kind, stopped when the test ends.
func Start(tb testing.TB, kind string, cfg dbustest.Config) *Bus {
	tb.Helper()
	switch kind {
	case DBusDaemon:
		d := dbustest.Start(tb, cfg)
		return &Bus{Kind: kind, Address: d.Address, ClassicAddress: d.Address, Daemon: d, kill: d.Kill}
	case Kdbusd, KdbusdNative, KdbusdNativeRouted:
		bin, err := kdbusdBinary()
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Native = kind != Kdbusd
		if kind == KdbusdNativeRouted {
			cfg.Args = append(slices.Clip(cfg.Args), "--no-lanes")
		}
		d, err := dbustest.LaunchBinary(bin, tb.TempDir(), cfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(d.Kill)
		b := &Bus{Kind: kind, Address: d.Address, ClassicAddress: d.Address, Native: cfg.Native, Daemon: d, kill: d.Kill}
		if cfg.Native {
			b.ClassicAddress = classicEntries(tb, d.Address)
		}
		return b
	case Embedded:
		e, err := broker.Start(broker.Options{Limits: broker.Limits{MaxMessageSize: cfg.MaxMessageSize}})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { e.Close() })
		return &Bus{Kind: kind, Address: e.Address, ClassicAddress: e.ClassicAddress, Native: true, kill: func() { e.Close() }}
	}
	tb.Fatalf("unknown kind of bus %q", kind)
	return nil
}

// Each runs f as a subtest on every kind of bus.
func Each(t *testing.T, cfg dbustest.Config, f func(t *testing.T, bus *Bus)) {
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) { f(t, Start(t, kind, cfg)) })
	}
}

var kdbusdOnce = sync.OnceValues(func() (string, error) {
	// One binary per test process, in a directory named after the package under test, so
	// that packages tested in parallel do not overwrite each other's.
	wd, _ := os.Getwd()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("kdbus-go-test-%x", sha256.Sum256([]byte(wd)))[:len("kdbus-go-test-")+16])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kdbusd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/kdbus-go/kdbus/cmd/kdbusd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building kdbusd: %v\n%s", err, out)
	}
	return bin, nil
})

// kdbusdBinary builds cmd/kdbusd once per test process and returns its path.
func kdbusdBinary() (string, error) { return kdbusdOnce() }

// classicEntries drops the kdbus: entries of an address list.
func classicEntries(tb testing.TB, addr string) string {
	list, err := address.Parse(addr)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, a := range list {
		if a.Transport != "kdbus" {
			out = append(out, a.String())
		}
	}
	return strings.Join(out, ";")
}
