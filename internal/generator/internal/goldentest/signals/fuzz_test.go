package signalspb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
)

// codecs are the generated decoders of bytes that come from other processes: the arguments
// of each signal, and each property's value (as Get, GetAll, Set and PropertiesChanged carry
// it).
func codecs() []kdbusimpl.Codec[StationProperties] {
	var out []kdbusimpl.Codec[StationProperties]
	for _, p := range station_Properties.Props {
		out = append(out, kdbusimpl.Codec[StationProperties]{Sig: p.Sig, Encode: p.Encode, Decode: p.Decode})
	}
	return out
}

// FuzzDecode feeds arbitrary bodies to the generated decoders of signals and properties; what
// decodes must encode and decode to the same message.
func FuzzDecode(f *testing.F) {
	props := codecs()
	roundtrip.Seed(f, station_signal_Arrived.Args, 0)
	roundtrip.Seed(f, station_signal_Departed.Args, 1)
	for i, c := range props {
		roundtrip.Seed(f, c, byte(2+i))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		order := wire.ByteOrder(data[1])
		if !order.Valid() {
			order = wire.LittleEndian
		}
		body := data[2:]
		switch k := int(data[0]) % (2 + len(props)); k {
		case 0:
			roundtrip.Redecode(t, station_signal_Arrived.Args, body, order)
		case 1:
			roundtrip.Redecode(t, station_signal_Departed.Args, body, order)
		default:
			roundtrip.Redecode(t, props[k-2], body, order)
		}
	})
}
