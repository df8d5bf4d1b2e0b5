package runtime

import (
	"context"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
)

// FuzzPropertyBodies feeds arbitrary bodies to the decoders of property traffic from other
// processes: a PropertiesChanged signal as a watcher reads it, and a Properties.Set call as a
// store applies it. Neither may panic, and what a store accepts it must serve back.
func FuzzPropertyBodies(f *testing.F) {
	for _, order := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
		changed, err := wire.Marshal(order, "sa{sv}as", gadgetProps.Interface,
			map[string]wire.Variant{"Speed": {Sig: "d", Value: 2.5}, "Mode": {Sig: "i", Value: int32(3)}, "Other": {Sig: "as", Value: []string{"x"}}},
			[]string{"Label"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(order == wire.BigEndian, changed)
		set, err := wire.Marshal(order, "ssv", gadgetProps.Interface, "Mode", wire.Variant{Sig: "i", Value: int32(7)})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(order == wire.BigEndian, set)
	}
	secret, _ := wire.Marshal(wire.LittleEndian, "ssv", gadgetProps.Interface, "Secret", wire.Variant{Sig: "s", Value: "x"})
	f.Add(false, secret)
	f.Fuzz(func(t *testing.T, bigEndian bool, body []byte) {
		order := wire.LittleEndian
		if bigEndian {
			order = wire.BigEndian
		}
		gadgetProps.decodeChanged(&wire.Message{Order: order, Signature: "sa{sv}as", Body: body})

		store := gadgetProps.NewStore(nil)
		var d wire.Decoder
		d.Reset(body, order)
		_ = d.String() // the interface
		name := d.String()
		if d.Err() != nil {
			return
		}
		v, err := store.decodeSet(name, &d)
		if err != nil {
			return
		}
		if err := store.set(context.Background(), name, v); err != nil || gadgetProps.Props[gadgetProps.index(name)].Access&Read == 0 {
			return
		}
		var e wire.Encoder
		e.Reset(nil, order)
		if err := store.get(name, &e); err != nil || e.Err() != nil {
			t.Fatalf("property %s was set but cannot be read back: %v, %v", name, err, e.Err())
		}
	})
}
