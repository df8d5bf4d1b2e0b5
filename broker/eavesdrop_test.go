package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
)

// eavesdropStat reads one counter of the bus's Debug.Stats.
func eavesdropStat(t *testing.T, e *broker.Embedded, name string) uint32 {
	t.Helper()
	c := dial(t, e.ClassicAddress)
	m, _, err := c.Call(context.Background(), &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus.Debug.Stats", Member: "GetStats"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := wire.Unmarshal(m.Body, m.Order, m.Signature)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range vals[0].([]wire.DictEntry) {
		if ent.Key == name {
			return ent.Value.(wire.Variant).Value.(uint32)
		}
	}
	t.Fatalf("Debug.Stats has no %s", name)
	return 0
}

// An eavesdropping rule costs only the traffic it can see: native unicasts it cannot select
// still go in one copy from the sender's send area to the receiver's pool, and the ones it
// selects are copied privately first, so that the eavesdropper sees what the receiver got.
func TestEavesdropperCostsOnlyWhatItSees(t *testing.T) {
	e := startBroker(t, broker.Options{})
	sender := dialNative(t, e, native.Options{InlineMax: -1}) // bodies in the send area, where the sender can still change them
	receiver := dialNative(t, e, native.Options{})
	var got atomic.Int64
	go drain(sender, func(*native.Received) {})
	go drain(receiver, func(*native.Received) { got.Add(1) })
	eavesdropper := dial(t, e.ClassicAddress)
	addMatch := func(rule string) {
		t.Helper()
		body, _ := wire.Marshal(wire.NativeOrder, "s", rule)
		if _, _, err := eavesdropper.Call(context.Background(), &wire.Message{Type: wire.MethodCall, Destination: "org.freedesktop.DBus", Path: "/org/freedesktop/DBus", Interface: "org.freedesktop.DBus", Member: "AddMatch", Signature: "s", Body: body}, nil); err != nil {
			t.Fatalf("AddMatch %s: %v", rule, err)
		}
	}
	const n = 20
	send := func() {
		t.Helper()
		for i := range n {
			body, _ := wire.Marshal(wire.NativeOrder, "uay", uint32(i), make([]byte, 512))
			m := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Flags: wire.FlagNoReplyExpected,
				Destination: receiver.UniqueName(), Path: "/t", Interface: "org.kdbusgo.T", Member: "M", Signature: "uay", Body: body}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := sender.SendAcked(ctx, m, nil)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	addMatch("eavesdrop='true',sender='org.example.Nobody'")
	before := eavesdropStat(t, e, "NativeBodiesCopied")
	send()
	if copies := eavesdropStat(t, e, "NativeBodiesCopied") - before; copies != 0 {
		t.Errorf("%d of %d native unicasts were copied privately because of an eavesdropping rule that cannot select them", copies, n)
	}

	addMatch("eavesdrop='true',interface='org.kdbusgo.T'")
	before = eavesdropStat(t, e, "NativeBodiesCopied")
	send()
	if copies := eavesdropStat(t, e, "NativeBodiesCopied") - before; copies != n {
		t.Errorf("%d of %d native unicasts an eavesdropper selects were copied privately first, want all", copies, n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for got.Load() < 2*n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got.Load() != 2*n {
		t.Fatalf("the receiver got %d of %d unicasts", got.Load(), 2*n)
	}
}
