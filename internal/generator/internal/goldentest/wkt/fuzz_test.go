package wktpb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/wire"
)

// FuzzDecode feeds arbitrary bodies to the decoders of the well-known types, through generated
// code (dynamic values nested in structs, oneofs and maps) and through the runtime's codecs.
func FuzzDecode(f *testing.F) {
	roundtrip.Seed(f, known_All.In, 0)
	roundtrip.Seed(f, known_Deep.In, 1)
	roundtrip.Seed(f, known_Echo.In, 2)
	roundtrip.Seed(f, known_EchoStruct.In, 3)
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
			roundtrip.Redecode(t, known_All.In, body, order)
		case 1:
			roundtrip.Redecode(t, known_Deep.In, body, order)
		case 2:
			roundtrip.Redecode(t, known_Echo.In, body, order)
		case 3:
			roundtrip.Redecode(t, known_EchoStruct.In, body, order)
		}
	})
}
