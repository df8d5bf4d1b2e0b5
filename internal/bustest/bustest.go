// Package bustest runs test suites against every kind of bus the project supports: a real
// dbus-daemon and our own broker, so that one suite shows both behave the same.
package bustest

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/internal/dbustest"
)

// The kinds of bus.
const (
	// DBusDaemon is the reference bus, a private dbus-daemon.
	DBusDaemon = "dbus-daemon"
	// Kdbusd is our bus as a separate process, started with dbus-daemon's command line.
	Kdbusd = "kdbusd"
	// Embedded is our bus inside the test process (broker.Start).
	Embedded = "embedded"
)

// Kinds lists the kinds of bus suites run on, in order.
var Kinds = []string{DBusDaemon, Kdbusd}

// Bus is a running bus of some kind.
type Bus struct {
	Kind    string
	Address string
	kill    func()
}

// Kill stops the bus at once, disconnecting every client.
func (b *Bus) Kill() { b.kill() }

// Start starts a bus of the given kind, stopped when the test ends.
func Start(tb testing.TB, kind string, cfg dbustest.Config) *Bus {
	tb.Helper()
	switch kind {
	case DBusDaemon:
		d := dbustest.Start(tb, cfg)
		return &Bus{Kind: kind, Address: d.Address, kill: d.Kill}
	case Kdbusd:
		bin, err := kdbusdBinary()
		if err != nil {
			tb.Fatal(err)
		}
		d, err := dbustest.LaunchBinary(bin, tb.TempDir(), cfg)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(d.Kill)
		return &Bus{Kind: kind, Address: d.Address, kill: d.Kill}
	case Embedded:
		e, err := broker.Start(broker.Options{Limits: broker.Limits{MaxMessageSize: cfg.MaxMessageSize}})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { e.Close() })
		return &Bus{Kind: kind, Address: e.Address, kill: func() { e.Close() }}
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
