// Package bustest runs test suites against every kind of bus the project supports: a real
// dbus-daemon and our own broker, so that one suite shows both behave the same.
package bustest

import (
	"testing"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/internal/dbustest"
)

// The kinds of bus.
const (
	DBusDaemon = "dbus-daemon"
	Kdbusd     = "kdbusd"
)

// Kinds lists every kind of bus, in the order suites run them.
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
