package fallbackpb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
)

// FuzzDecode feeds arbitrary bodies to the decoders of messages that travel in part or whole
// as serialized protobuf: each method's, frame's and signal's arguments, and the Bulk
// property's value.
func FuzzDecode(f *testing.F) {
	bulk := fallback_Properties.Props[0]
	prop := kdbusimpl.Codec[FallbackState]{Sig: bulk.Sig, Encode: bulk.Encode, Decode: bulk.Decode}
	roundtrip.Seed(f, fallback_Inject.In, 0)
	roundtrip.Seed(f, fallback_Configure.In, 1)
	roundtrip.Seed(f, fallback_Descend.In, 2)
	roundtrip.Seed(f, fallback_Choose.In, 3)
	roundtrip.Seed(f, fallback_Follow.Out, 4)
	roundtrip.Seed(f, fallback_signal_WideEvent.Args, 5)
	roundtrip.Seed(f, fallback_signal_Surge.Args, 6)
	roundtrip.Seed(f, prop, 7)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		order := wire.ByteOrder(data[1])
		if !order.Valid() {
			order = wire.LittleEndian
		}
		body := data[2:]
		switch data[0] % 8 {
		case 0:
			roundtrip.Redecode(t, fallback_Inject.In, body, order)
		case 1:
			roundtrip.Redecode(t, fallback_Configure.In, body, order)
		case 2:
			roundtrip.Redecode(t, fallback_Descend.In, body, order)
		case 3:
			roundtrip.Redecode(t, fallback_Choose.In, body, order)
		case 4:
			roundtrip.Redecode(t, fallback_Follow.Out, body, order)
		case 5:
			roundtrip.Redecode(t, fallback_signal_WideEvent.Args, body, order)
		case 6:
			roundtrip.Redecode(t, fallback_signal_Surge.Args, body, order)
		default:
			roundtrip.Redecode(t, prop, body, order)
		}
	})
}
