package runtime

import (
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/types/known/emptypb"
)

// EmptyCodec is the codec of google.protobuf.Empty as a request or response: no arguments.
var EmptyCodec = Codec[emptypb.Empty]{
	Sig:    "",
	Encode: func(*wire.Encoder, *emptypb.Empty) {},
	Decode: func(*wire.Decoder, *emptypb.Empty) {},
}
