package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
)

// pingPeer is one end of the routed ping-pong: a client of either transport, bare, so that a
// CPU profile of the benchmark shows the bus's work rather than a runtime's.
type pingPeer interface {
	send(m *wire.Message) error
	recv() (*wire.Message, error)
	unique() string
}

type classicPeer struct{ c *classic.Conn }

func (p classicPeer) send(m *wire.Message) error { return p.c.Send(m, nil) }
func (p classicPeer) unique() string             { return p.c.UniqueName() }
func (p classicPeer) recv() (*wire.Message, error) {
	r, err := p.c.Recv()
	return r.Msg, err
}

type nativePeer struct{ c *native.Conn }

func (p nativePeer) send(m *wire.Message) error { return p.c.Send(m, nil) }
func (p nativePeer) unique() string             { return p.c.UniqueName() }
func (p nativePeer) recv() (*wire.Message, error) {
	r, err := p.c.Recv()
	if err != nil {
		return nil, err
	}
	m := *r.Msg
	m.Body = append([]byte(nil), m.Body...)
	p.c.Release(&r)
	return &m, nil
}

func dialPingPeer(b *testing.B, e *broker.Embedded, nat bool) pingPeer {
	b.Helper()
	if nat {
		return nativePeer{dialNative(b, e, native.Options{NoLanes: true})}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := classic.Dial(ctx, e.ClassicAddress, classic.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return classicPeer{c}
}

// BenchmarkRoutedPing times a 32-byte call and its reply through an embedded bus, over the
// classic transport and the native one with lanes off: the path whose CPU the bus's
// benchmarks compare with dbus-daemon's. Profile it with -cpuprofile.
func BenchmarkRoutedPing(b *testing.B) {
	for _, nat := range []bool{false, true} {
		name := "classic"
		if nat {
			name = "native-routed"
		}
		b.Run(name, func(b *testing.B) {
			e, err := broker.Start(broker.Options{NoLanes: true})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			client, service := dialPingPeer(b, e, nat), dialPingPeer(b, e, nat)
			go func() {
				for {
					m, err := service.recv()
					if err != nil {
						return
					}
					if m.Type != wire.MethodCall {
						continue
					}
					service.send(&wire.Message{Order: wire.NativeOrder, Type: wire.MethodReturn, ReplySerial: m.Serial,
						Destination: m.Sender, Signature: m.Signature, Body: m.Body})
				}
			}()
			body, _ := wire.Marshal(wire.NativeOrder, "ay", make([]byte, 32))
			for b.Loop() {
				call := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Destination: service.unique(),
					Path: "/bench", Interface: "org.kdbusgo.Bench", Member: "Ping", Signature: "ay", Body: body}
				if err := client.send(call); err != nil {
					b.Fatal(err)
				}
				for {
					m, err := client.recv()
					if err != nil {
						b.Fatal(err)
					}
					if m.Type == wire.MethodReturn && m.ReplySerial == call.Serial {
						break
					}
				}
			}
		})
	}
}
