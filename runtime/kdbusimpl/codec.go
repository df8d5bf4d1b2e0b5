package kdbusimpl

import (
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Codec encodes and decodes one message type as D-Bus values: the fields of a request or
// response, in order, as the method's arguments. Generated code provides one per message, with
// plain encoder and decoder calls (no reflection).
type Codec[T any] struct {
	// Sig is the D-Bus signature of the encoded values.
	Sig wire.Signature
	// Encode appends m's values.
	Encode func(e *wire.Encoder, m *T)
	// Decode reads values into m; errors are reported by the decoder.
	Decode func(d *wire.Decoder, m *T)
}

// EmptyCodec is the codec of google.protobuf.Empty as a request or response: no arguments.
var EmptyCodec = Codec[emptypb.Empty]{
	Sig:    "",
	Encode: func(*wire.Encoder, *emptypb.Empty) {},
	Decode: func(*wire.Decoder, *emptypb.Empty) {},
}
