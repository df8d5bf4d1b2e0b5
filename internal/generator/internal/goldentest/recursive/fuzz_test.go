package recursivepb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/wire"
)

// FuzzDecode feeds arbitrary bodies to the decoders of messages that carry serialized
// recursive messages.
func FuzzDecode(f *testing.F) {
	roundtrip.Seed(f, trees_Plant.In, 0)
	roundtrip.Seed(f, trees_Grow.In, 1)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		order := wire.ByteOrder(data[1])
		if !order.Valid() {
			order = wire.LittleEndian
		}
		if data[0]%2 == 0 {
			roundtrip.Redecode(t, trees_Plant.In, data[2:], order)
		} else {
			roundtrip.Redecode(t, trees_Grow.In, data[2:], order)
		}
	})
}
