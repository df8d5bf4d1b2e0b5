package scalarspb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/wire"
)

// FuzzDecode feeds arbitrary bodies to the generated decoders of every request type: they
// must fail cleanly or decode to a message that survives another round trip.
func FuzzDecode(f *testing.F) {
	roundtrip.Seed(f, kitchen_Sink.In, 0)
	roundtrip.Seed(f, kitchen_Choose.In, 1)
	roundtrip.Seed(f, kitchen_Collect.In, 2)
	roundtrip.Seed(f, kitchen_Order.In, 3)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		order := wire.ByteOrder(data[1])
		if !order.Valid() {
			order = wire.LittleEndian
		}
		body := data[2:]
		switch data[0] % 4 {
		case 0:
			roundtrip.Redecode(t, kitchen_Sink.In, body, order)
		case 1:
			roundtrip.Redecode(t, kitchen_Choose.In, body, order)
		case 2:
			roundtrip.Redecode(t, kitchen_Collect.In, body, order)
		case 3:
			roundtrip.Redecode(t, kitchen_Order.In, body, order)
		}
	})
}
