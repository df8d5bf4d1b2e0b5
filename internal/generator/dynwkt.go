package generator

import (
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// dynWKT carries a well-known type for a Mapping through the runtime's own codecs, on a
// message of the type's generated Go type.
type dynWKT struct {
	new    func() proto.Message
	enc    func(e *wire.Encoder, m proto.Message, depth int) // as a field
	dec    func(d *wire.Decoder, depth int) proto.Message
	top    func(e *wire.Encoder, m proto.Message) // as a whole request or response
	topDec func(d *wire.Decoder) proto.Message
}

// wktOf makes the dynWKT of a type whose field codecs take no depth.
func wktOf[T any, P interface {
	*T
	proto.Message
}](enc func(*wire.Encoder, P), dec func(*wire.Decoder) P, c kdbusimpl.Codec[T]) dynWKT {
	return wktDepth(func(e *wire.Encoder, m P, _ int) { enc(e, m) }, func(d *wire.Decoder, _ int) P { return dec(d) }, c)
}

// wktDepth makes the dynWKT of a type whose field codecs take the depth.
func wktDepth[T any, P interface {
	*T
	proto.Message
}](enc func(*wire.Encoder, P, int), dec func(*wire.Decoder, int) P, c kdbusimpl.Codec[T]) dynWKT {
	return dynWKT{
		new: func() proto.Message { return P(new(T)) },
		enc: func(e *wire.Encoder, m proto.Message, depth int) { enc(e, m.(P), depth) },
		dec: func(d *wire.Decoder, depth int) proto.Message {
			if v := dec(d, depth); v != nil {
				return v
			}
			return nil
		},
		top: func(e *wire.Encoder, m proto.Message) { c.Encode(e, (*T)(m.(P))) },
		topDec: func(d *wire.Decoder) proto.Message {
			v := new(T)
			c.Decode(d, v)
			return P(v)
		},
	}
}

var dynWKTs = map[protoreflect.FullName]dynWKT{
	"google.protobuf.Timestamp":   wktOf(kdbusimpl.EncodeTimestamp, kdbusimpl.DecodeTimestamp, kdbusimpl.TimestampCodec),
	"google.protobuf.Duration":    wktOf(kdbusimpl.EncodeDuration, kdbusimpl.DecodeDuration, kdbusimpl.DurationCodec),
	"google.protobuf.Empty":       wktOf(kdbusimpl.EncodeEmpty, kdbusimpl.DecodeEmpty, kdbusimpl.EmptyCodec),
	"google.protobuf.DoubleValue": wktOf(kdbusimpl.EncodeDoubleValue, kdbusimpl.DecodeDoubleValue, kdbusimpl.DoubleValueCodec),
	"google.protobuf.FloatValue":  wktOf(kdbusimpl.EncodeFloatValue, kdbusimpl.DecodeFloatValue, kdbusimpl.FloatValueCodec),
	"google.protobuf.Int64Value":  wktOf(kdbusimpl.EncodeInt64Value, kdbusimpl.DecodeInt64Value, kdbusimpl.Int64ValueCodec),
	"google.protobuf.UInt64Value": wktOf(kdbusimpl.EncodeUInt64Value, kdbusimpl.DecodeUInt64Value, kdbusimpl.UInt64ValueCodec),
	"google.protobuf.Int32Value":  wktOf(kdbusimpl.EncodeInt32Value, kdbusimpl.DecodeInt32Value, kdbusimpl.Int32ValueCodec),
	"google.protobuf.UInt32Value": wktOf(kdbusimpl.EncodeUInt32Value, kdbusimpl.DecodeUInt32Value, kdbusimpl.UInt32ValueCodec),
	"google.protobuf.BoolValue":   wktOf(kdbusimpl.EncodeBoolValue, kdbusimpl.DecodeBoolValue, kdbusimpl.BoolValueCodec),
	"google.protobuf.StringValue": wktOf(kdbusimpl.EncodeStringValue, kdbusimpl.DecodeStringValue, kdbusimpl.StringValueCodec),
	"google.protobuf.BytesValue":  wktOf(kdbusimpl.EncodeBytesValue, kdbusimpl.DecodeBytesValue, kdbusimpl.BytesValueCodec),
	"google.protobuf.Struct":      wktDepth(kdbusimpl.EncodeStruct, kdbusimpl.DecodeStruct, kdbusimpl.StructCodec),
	"google.protobuf.Value":       wktDepth(kdbusimpl.EncodeValue, kdbusimpl.DecodeValue, kdbusimpl.ValueCodec),
	"google.protobuf.ListValue":   wktDepth(kdbusimpl.EncodeListValue, kdbusimpl.DecodeListValue, kdbusimpl.ListValueCodec),
	"google.protobuf.Any":         wktOf(kdbusimpl.EncodeAny, kdbusimpl.DecodeAny, kdbusimpl.AnyCodec),
	"google.protobuf.FieldMask":   wktOf(kdbusimpl.EncodeFieldMask, kdbusimpl.DecodeFieldMask, kdbusimpl.FieldMaskCodec),
	"kdbus.v1.ObjectRef":          wktOf(kdbusimpl.EncodeObjectRef, kdbusimpl.DecodeObjectRef, kdbusimpl.ObjectRefCodec),
	"kdbus.v1.UnixFD":             wktOf(kdbusimpl.EncodeUnixFD, kdbusimpl.DecodeUnixFD, kdbusimpl.UnixFDCodec),
}
