package broker_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/wire"
)

// BenchmarkUnicastWithIdleRules times a client's calls while idle connections hold ten signal
// rules each that the calls cannot match: with the rule index the cost per call must not grow
// with the idle connections. rules/op is how many rules the bus evaluated per call.
func BenchmarkUnicastWithIdleRules(b *testing.B) {
	for _, idle := range []int{0, 500, 2000} {
		for _, transport := range []string{"classic", "native"} {
			b.Run(fmt.Sprintf("idle=%d/%s", idle, transport), func(b *testing.B) {
				e, err := broker.Start(broker.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Close()
				ctx := context.Background()
				dial := func(addr string) *runtime.Conn {
					c, err := runtime.Dial(ctx, addr)
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { c.Close() })
					return c
				}
				for i := range idle {
					c := dial(e.ClassicAddress)
					for j := range 10 {
						body, _ := wire.Marshal(wire.NativeOrder, "s", fmt.Sprintf("type='signal',interface='org.example.Idle%d',member='M%d'", i, j))
						if _, _, err := c.Call(ctx, &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
							Interface: "org.freedesktop.DBus", Member: "AddMatch", Signature: "s", Body: body}, nil); err != nil {
							b.Fatal(err)
						}
					}
				}
				addr := e.ClassicAddress
				if transport == "native" {
					addr = e.NativeAddress
				}
				c := dial(addr)
				stats := dial(e.ClassicAddress)
				visited := func() uint32 {
					m, _, err := stats.Call(ctx, &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus",
						Interface: "org.freedesktop.DBus.Debug.Stats", Member: "GetStats"}, nil)
					if err != nil {
						b.Fatal(err)
					}
					vals, _ := wire.Unmarshal(m.Body, m.Order, m.Signature)
					for _, ent := range vals[0].([]wire.DictEntry) {
						if ent.Key == "MatchRulesVisited" {
							return ent.Value.(wire.Variant).Value.(uint32)
						}
					}
					b.Fatal("Debug.Stats has no MatchRulesVisited")
					return 0
				}
				before := visited()
				b.ResetTimer()
				for range b.N {
					if _, err := c.GetNameOwner(ctx, "org.freedesktop.DBus"); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(visited()-before)/float64(b.N), "rules/op")
			})
		}
	}
}
