package binderpb

import (
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/wire"
)

// FuzzDecode feeds arbitrary bodies to the generated decoders of the requests and responses
// that carry object references and file descriptors; what decodes must encode and decode to the
// same message. The bodies come without descriptors, so any h value must be refused.
func FuzzDecode(f *testing.F) {
	roundtrip.Seed(f, kdbusCodec_binder_StartRequest, 0)
	roundtrip.Seed(f, kdbusCodec_binder_StartResponse, 1)
	f.Add([]byte{1, 'l', 0, 0, 0, 0, 16, 0, 0, 0, 3, 0, 0, 0, ':', '1', '.', '1', 0, 0, 0, 0, 1, 0, 0, 0, '/', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		order := wire.ByteOrder(data[1])
		if !order.Valid() {
			order = wire.LittleEndian
		}
		body := data[2:]
		switch data[0] % 2 {
		case 0:
			roundtrip.Redecode(t, kdbusCodec_binder_StartRequest, body, order)
		default:
			roundtrip.Redecode(t, kdbusCodec_binder_StartResponse, body, order)
		}
	})
}
