package kdbusimpl

// Codecs that generated code calls for the protobuf well-known types, for messages that travel
// as serialized protobuf (recursive ones), and for the checks a generated decoder makes beyond
// the wire format (oneof members, 0-or-1 element arrays). docs/mapping.md describes the
// mapping these functions implement.
//
// The Encode functions append one D-Bus value; a nil message encodes as the message's zero
// value. The Decode functions read one value and return a new message; on bad input they set
// the decoder's error, and their result must then be discarded. The runtime reports a decoding
// error to the peer that sent the values as InvalidArgument.

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// EncodeTimestamp appends t as (xi): seconds and nanoseconds since the Unix epoch.
func EncodeTimestamp(e *wire.Encoder, t *timestamppb.Timestamp) {
	e.BeginStruct()
	e.Int64(t.GetSeconds())
	e.Int32(t.GetNanos())
}

// DecodeTimestamp reads a Timestamp encoded by EncodeTimestamp.
func DecodeTimestamp(d *wire.Decoder) *timestamppb.Timestamp {
	d.BeginStruct()
	t := new(timestamppb.Timestamp)
	t.Seconds = d.Int64()
	t.Nanos = d.Int32()
	return t
}

// EncodeDuration appends v as (xi): seconds and nanoseconds.
func EncodeDuration(e *wire.Encoder, v *durationpb.Duration) {
	e.BeginStruct()
	e.Int64(v.GetSeconds())
	e.Int32(v.GetNanos())
}

// DecodeDuration reads a Duration encoded by EncodeDuration.
func DecodeDuration(d *wire.Decoder) *durationpb.Duration {
	d.BeginStruct()
	v := new(durationpb.Duration)
	v.Seconds = d.Int64()
	v.Nanos = d.Int32()
	return v
}

// EncodeEmpty appends google.protobuf.Empty as a field value: b, always true, since D-Bus has
// no empty struct.
func EncodeEmpty(e *wire.Encoder, _ *emptypb.Empty) { e.Bool(true) }

// DecodeEmpty reads an Empty encoded by EncodeEmpty; the boolean's value is ignored.
func DecodeEmpty(d *wire.Decoder) *emptypb.Empty {
	d.Bool()
	return new(emptypb.Empty)
}

// EncodeDoubleValue appends the wrapped value as d.
func EncodeDoubleValue(e *wire.Encoder, v *wrapperspb.DoubleValue) { e.Double(v.GetValue()) }

// DecodeDoubleValue reads a d into a DoubleValue.
func DecodeDoubleValue(d *wire.Decoder) *wrapperspb.DoubleValue {
	return wrapperspb.Double(d.Double())
}

// EncodeFloatValue appends the wrapped value widened to d; every float survives the round trip.
func EncodeFloatValue(e *wire.Encoder, v *wrapperspb.FloatValue) {
	e.Double(float64(v.GetValue()))
}

// DecodeFloatValue reads a d into a FloatValue.
func DecodeFloatValue(d *wire.Decoder) *wrapperspb.FloatValue {
	return wrapperspb.Float(float32(d.Double()))
}

// EncodeInt64Value appends the wrapped value as x.
func EncodeInt64Value(e *wire.Encoder, v *wrapperspb.Int64Value) { e.Int64(v.GetValue()) }

// DecodeInt64Value reads an x into an Int64Value.
func DecodeInt64Value(d *wire.Decoder) *wrapperspb.Int64Value { return wrapperspb.Int64(d.Int64()) }

// EncodeUInt64Value appends the wrapped value as t.
func EncodeUInt64Value(e *wire.Encoder, v *wrapperspb.UInt64Value) { e.Uint64(v.GetValue()) }

// DecodeUInt64Value reads a t into a UInt64Value.
func DecodeUInt64Value(d *wire.Decoder) *wrapperspb.UInt64Value {
	return wrapperspb.UInt64(d.Uint64())
}

// EncodeInt32Value appends the wrapped value as i.
func EncodeInt32Value(e *wire.Encoder, v *wrapperspb.Int32Value) { e.Int32(v.GetValue()) }

// DecodeInt32Value reads an i into an Int32Value.
func DecodeInt32Value(d *wire.Decoder) *wrapperspb.Int32Value { return wrapperspb.Int32(d.Int32()) }

// EncodeUInt32Value appends the wrapped value as u.
func EncodeUInt32Value(e *wire.Encoder, v *wrapperspb.UInt32Value) { e.Uint32(v.GetValue()) }

// DecodeUInt32Value reads a u into a UInt32Value.
func DecodeUInt32Value(d *wire.Decoder) *wrapperspb.UInt32Value {
	return wrapperspb.UInt32(d.Uint32())
}

// EncodeBoolValue appends the wrapped value as b.
func EncodeBoolValue(e *wire.Encoder, v *wrapperspb.BoolValue) { e.Bool(v.GetValue()) }

// DecodeBoolValue reads a b into a BoolValue.
func DecodeBoolValue(d *wire.Decoder) *wrapperspb.BoolValue { return wrapperspb.Bool(d.Bool()) }

// EncodeStringValue appends the wrapped value as s.
func EncodeStringValue(e *wire.Encoder, v *wrapperspb.StringValue) { e.String(v.GetValue()) }

// DecodeStringValue reads an s into a StringValue.
func DecodeStringValue(d *wire.Decoder) *wrapperspb.StringValue {
	return wrapperspb.String(d.String())
}

// EncodeBytesValue appends the wrapped value as ay.
func EncodeBytesValue(e *wire.Encoder, v *wrapperspb.BytesValue) { e.ByteArray(v.GetValue()) }

// DecodeBytesValue reads an ay into a BytesValue; the bytes are copied.
func DecodeBytesValue(d *wire.Decoder) *wrapperspb.BytesValue {
	return wrapperspb.Bytes(bytes.Clone(d.ByteArray()))
}

// EncodeAny appends a as (say): the type URL and the serialized message, as they are.
func EncodeAny(e *wire.Encoder, a *anypb.Any) {
	e.BeginStruct()
	e.String(a.GetTypeUrl())
	e.ByteArray(a.GetValue())
}

// DecodeAny reads an Any encoded by EncodeAny.
func DecodeAny(d *wire.Decoder) *anypb.Any {
	d.BeginStruct()
	a := new(anypb.Any)
	a.TypeUrl = d.String()
	a.Value = bytes.Clone(d.ByteArray())
	return a
}

// EncodeFieldMask appends m's paths as as.
func EncodeFieldMask(e *wire.Encoder, m *fieldmaskpb.FieldMask) {
	arr := e.BeginArray(4)
	for _, p := range m.GetPaths() {
		e.String(p)
	}
	e.EndArray(arr)
}

// DecodeFieldMask reads an as into a FieldMask.
func DecodeFieldMask(d *wire.Decoder) *fieldmaskpb.FieldMask {
	m := new(fieldmaskpb.FieldMask)
	decodeFieldMaskInto(d, m)
	return m
}

func decodeFieldMaskInto(d *wire.Decoder, m *fieldmaskpb.FieldMask) {
	for end := d.BeginArray(4); d.More(end); {
		m.Paths = append(m.Paths, d.String())
	}
}

// The dynamic types (Struct, Value, ListValue) nest as deeply as their data does, so their
// codecs take the depth at which their outermost D-Bus container sits, counted as
// wire.MaxTotalDepth counts it: 1 for a method argument, one more for each array, struct, dict
// entry or variant around it. Generated code knows that depth. Encoding data that would nest
// deeper than wire.MaxTotalDepth sets the encoder's error instead of writing a message that
// buses reject; decoding checks the same bound, so hostile input cannot recurse without end.

// EncodeStruct appends s as a{sv}, in sorted key order. depth is the depth of the array.
func EncodeStruct(e *wire.Encoder, s *structpb.Struct, depth int) {
	if !depthOK(e, depth, "google.protobuf.Struct") {
		return
	}
	arr := e.BeginArray(8)
	if fields := s.GetFields(); len(fields) > 0 {
		if !depthOK(e, depth+1, "google.protobuf.Struct") {
			return
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			e.BeginStruct()
			e.String(k)
			EncodeValue(e, fields[k], depth+2)
		}
	}
	e.EndArray(arr)
}

// DecodeStruct reads an a{sv} into a Struct. depth is the depth of the array.
func DecodeStruct(d *wire.Decoder, depth int) *structpb.Struct {
	s := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	decodeStructInto(d, s, depth)
	return s
}

func decodeStructInto(d *wire.Decoder, s *structpb.Struct, depth int) {
	if !decodeDepthOK(d, depth, "google.protobuf.Struct") {
		return
	}
	for end := d.BeginArray(8); d.More(end); {
		if !decodeDepthOK(d, depth+1, "google.protobuf.Struct") {
			return
		}
		d.BeginStruct()
		k := d.String()
		v := DecodeValue(d, depth+2)
		if d.Err() != nil {
			return
		}
		if s.Fields == nil {
			s.Fields = map[string]*structpb.Value{}
		}
		s.Fields[k] = v
	}
}

// EncodeListValue appends l as av. depth is the depth of the array.
func EncodeListValue(e *wire.Encoder, l *structpb.ListValue, depth int) {
	if !depthOK(e, depth, "google.protobuf.ListValue") {
		return
	}
	arr := e.BeginArray(1)
	for _, v := range l.GetValues() {
		EncodeValue(e, v, depth+1)
	}
	e.EndArray(arr)
}

// DecodeListValue reads an av into a ListValue. depth is the depth of the array.
func DecodeListValue(d *wire.Decoder, depth int) *structpb.ListValue {
	l := new(structpb.ListValue)
	decodeListValueInto(d, l, depth)
	return l
}

func decodeListValueInto(d *wire.Decoder, l *structpb.ListValue, depth int) {
	if !decodeDepthOK(d, depth, "google.protobuf.ListValue") {
		return
	}
	for end := d.BeginArray(1); d.More(end); {
		v := DecodeValue(d, depth+1)
		if d.Err() != nil {
			return
		}
		l.Values = append(l.Values, v)
	}
}

// EncodeValue appends v as a variant: a number as d, a string as s, a bool as b, a struct as
// a{sv}, a list as av, and null as an empty ay. A Value with no kind set encodes as null.
// depth is the depth of the variant.
func EncodeValue(e *wire.Encoder, v *structpb.Value, depth int) {
	if !depthOK(e, depth, "google.protobuf.Value") {
		return
	}
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		e.Variant("d")
		e.Double(k.NumberValue)
	case *structpb.Value_StringValue:
		e.Variant("s")
		e.String(k.StringValue)
	case *structpb.Value_BoolValue:
		e.Variant("b")
		e.Bool(k.BoolValue)
	case *structpb.Value_StructValue:
		e.Variant("a{sv}")
		EncodeStruct(e, k.StructValue, depth+1)
	case *structpb.Value_ListValue:
		e.Variant("av")
		EncodeListValue(e, k.ListValue, depth+1)
	default:
		if !depthOK(e, depth+1, "google.protobuf.Value") {
			return
		}
		e.Variant("ay")
		e.ByteArray(nil)
	}
}

// DecodeValue reads a variant into a Value. Besides the types EncodeValue writes, it accepts
// the other numeric types (y, n, q, i, u, x, t: converted to a double, so integers beyond 2^53
// lose precision) and object paths and signatures (as strings), so that a Value can be typed
// by hand with busctl. Any other variant type is an error. depth is the depth
// of the variant.
func DecodeValue(d *wire.Decoder, depth int) *structpb.Value {
	v := new(structpb.Value)
	decodeValueInto(d, v, depth)
	return v
}

func decodeValueInto(d *wire.Decoder, v *structpb.Value, depth int) {
	if !decodeDepthOK(d, depth, "google.protobuf.Value") {
		return
	}
	sig := d.Variant()
	if d.Err() != nil {
		return
	}
	switch sig {
	case "d":
		v.Kind = &structpb.Value_NumberValue{NumberValue: d.Double()}
	case "s":
		v.Kind = &structpb.Value_StringValue{StringValue: d.String()}
	case "b":
		v.Kind = &structpb.Value_BoolValue{BoolValue: d.Bool()}
	case "a{sv}":
		v.Kind = &structpb.Value_StructValue{StructValue: DecodeStruct(d, depth+1)}
	case "av":
		v.Kind = &structpb.Value_ListValue{ListValue: DecodeListValue(d, depth+1)}
	case "ay":
		if !decodeDepthOK(d, depth+1, "google.protobuf.Value") {
			return
		}
		if b := d.ByteArray(); len(b) != 0 {
			d.SetErr(fmt.Errorf("google.protobuf.Value: a null value travels as an empty ay, got %d bytes", len(b)))
			return
		}
		v.Kind = &structpb.Value_NullValue{}
	case "y":
		v.Kind = &structpb.Value_NumberValue{NumberValue: float64(d.Byte())}
	case "n":
		v.Kind = &structpb.Value_NumberValue{NumberValue: float64(d.Int16())}
	case "q":
		v.Kind = &structpb.Value_NumberValue{NumberValue: float64(d.Uint16())}
	case "i":
		v.Kind = &structpb.Value_NumberValue{NumberValue: float64(d.Int32())}
	case "u":
		v.Kind = &structpb.Value_NumberValue{NumberValue: float64(d.Uint32())}
	case "x":
		v.Kind = &structpb.Value_NumberValue{NumberValue: float64(d.Int64())}
	case "t":
		v.Kind = &structpb.Value_NumberValue{NumberValue: float64(d.Uint64())}
	case "o":
		v.Kind = &structpb.Value_StringValue{StringValue: string(d.ObjectPath())}
	case "g":
		v.Kind = &structpb.Value_StringValue{StringValue: string(d.Signature())}
	default:
		d.SetErr(fmt.Errorf("google.protobuf.Value travels as a variant of type d, s, b, a{sv}, av or an empty ay (null), got %q", sig))
	}
}

func depthOK(e *wire.Encoder, depth int, what string) bool {
	if depth > wire.MaxTotalDepth {
		e.SetErr(fmt.Errorf("cannot encode %s: the value nests deeper than the %d containers D-Bus allows", what, wire.MaxTotalDepth))
		return false
	}
	return e.Err() == nil
}

func decodeDepthOK(d *wire.Decoder, depth int, what string) bool {
	if depth > wire.MaxTotalDepth {
		d.SetErr(fmt.Errorf("%s nests deeper than the %d containers D-Bus allows", what, wire.MaxTotalDepth))
		return false
	}
	return d.Err() == nil
}

// EncodeProto appends m serialized with deterministic protobuf marshaling, as ay. Generated
// code uses it for messages that are part of a cycle of message types, which cannot be D-Bus
// structs; the argument says so with the annotation org.kdbusgo.Proto. A nil m encodes as an
// empty array, like an empty message. Like the rest of the mapping, it does not insist on
// proto2 required fields.
func EncodeProto(e *wire.Encoder, m proto.Message) {
	if e.Err() != nil {
		return
	}
	b, err := proto.MarshalOptions{Deterministic: true, AllowPartial: true}.Marshal(m)
	if err != nil {
		e.SetErr(fmt.Errorf("cannot encode %s as serialized protobuf: %w", messageName(m), err))
		return
	}
	e.ByteArray(b)
}

// DecodeProto reads an ay written by EncodeProto and unmarshals it into m. Bytes that are not
// a valid serialization of m's type are an error.
func DecodeProto(d *wire.Decoder, m proto.Message) {
	b := d.ByteArray()
	if d.Err() != nil {
		return
	}
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(b, m); err != nil {
		d.SetErr(fmt.Errorf("%s: the ay does not hold a serialized message of that type: %v", messageName(m), err))
	}
}

func messageName(m proto.Message) protoreflect.FullName {
	if m == nil {
		return "message"
	}
	return m.ProtoReflect().Descriptor().FullName()
}

// UnknownOneofMember records on d that a oneof's (sv) named a member the oneof does not have.
func UnknownOneofMember(d *wire.Decoder, oneof, member string) {
	d.SetErr(fmt.Errorf("oneof %s has no member %q", oneof, member))
}

// BadOneofVariant records on d that a oneof member arrived in a variant of type got where its
// type is want.
func BadOneofVariant(d *wire.Decoder, oneof, member string, got, want wire.Signature) {
	d.SetErr(fmt.Errorf("oneof %s: member %s is of type %q, but the variant holds %q", oneof, member, want, got))
}

// SkipVariantValue reads and discards a value of type sig: the value of an unset oneof,
// whose variant conventionally holds an empty string but may hold anything.
func SkipVariantValue(d *wire.Decoder, sig wire.Signature) {
	if d.Err() != nil {
		return
	}
	t, err := wire.ParseType(string(sig))
	if err != nil {
		d.SetErr(err)
		return
	}
	wire.DecodeValue(d, t)
}

// ExtraPresenceElement records on d that the 0-or-1 element array of a field with presence held
// more than one element.
func ExtraPresenceElement(d *wire.Decoder, field string) {
	d.SetErr(fmt.Errorf("field %s: the array that carries an optional value holds more than one element", field))
}

// Codecs of the well-known types as a whole request or response: the arguments are the
// type's fields, mapped as fields are (a Timestamp is the two arguments x seconds and
// i nanos), except Value, which is one argument of type v. google.protobuf.Empty is
// EmptyCodec.
var (
	TimestampCodec = Codec[timestamppb.Timestamp]{
		Sig: "xi",
		Encode: func(e *wire.Encoder, t *timestamppb.Timestamp) {
			e.Int64(t.GetSeconds())
			e.Int32(t.GetNanos())
		},
		Decode: func(d *wire.Decoder, t *timestamppb.Timestamp) {
			t.Seconds = d.Int64()
			t.Nanos = d.Int32()
		},
	}
	DurationCodec = Codec[durationpb.Duration]{
		Sig: "xi",
		Encode: func(e *wire.Encoder, v *durationpb.Duration) {
			e.Int64(v.GetSeconds())
			e.Int32(v.GetNanos())
		},
		Decode: func(d *wire.Decoder, v *durationpb.Duration) {
			v.Seconds = d.Int64()
			v.Nanos = d.Int32()
		},
	}
	AnyCodec = Codec[anypb.Any]{
		Sig: "say",
		Encode: func(e *wire.Encoder, a *anypb.Any) {
			e.String(a.GetTypeUrl())
			e.ByteArray(a.GetValue())
		},
		Decode: func(d *wire.Decoder, a *anypb.Any) {
			a.TypeUrl = d.String()
			a.Value = bytes.Clone(d.ByteArray())
		},
	}
	FieldMaskCodec = Codec[fieldmaskpb.FieldMask]{
		Sig:    "as",
		Encode: EncodeFieldMask,
		Decode: decodeFieldMaskInto,
	}
	StructCodec = Codec[structpb.Struct]{
		Sig:    "a{sv}",
		Encode: func(e *wire.Encoder, s *structpb.Struct) { EncodeStruct(e, s, 1) },
		Decode: func(d *wire.Decoder, s *structpb.Struct) { decodeStructInto(d, s, 1) },
	}
	ListValueCodec = Codec[structpb.ListValue]{
		Sig:    "av",
		Encode: func(e *wire.Encoder, l *structpb.ListValue) { EncodeListValue(e, l, 1) },
		Decode: func(d *wire.Decoder, l *structpb.ListValue) { decodeListValueInto(d, l, 1) },
	}
	ValueCodec = Codec[structpb.Value]{
		Sig:    "v",
		Encode: func(e *wire.Encoder, v *structpb.Value) { EncodeValue(e, v, 1) },
		Decode: func(d *wire.Decoder, v *structpb.Value) { decodeValueInto(d, v, 1) },
	}
	DoubleValueCodec = Codec[wrapperspb.DoubleValue]{
		Sig:    "d",
		Encode: EncodeDoubleValue,
		Decode: func(d *wire.Decoder, v *wrapperspb.DoubleValue) { v.Value = d.Double() },
	}
	FloatValueCodec = Codec[wrapperspb.FloatValue]{
		Sig:    "d",
		Encode: EncodeFloatValue,
		Decode: func(d *wire.Decoder, v *wrapperspb.FloatValue) { v.Value = float32(d.Double()) },
	}
	Int64ValueCodec = Codec[wrapperspb.Int64Value]{
		Sig:    "x",
		Encode: EncodeInt64Value,
		Decode: func(d *wire.Decoder, v *wrapperspb.Int64Value) { v.Value = d.Int64() },
	}
	UInt64ValueCodec = Codec[wrapperspb.UInt64Value]{
		Sig:    "t",
		Encode: EncodeUInt64Value,
		Decode: func(d *wire.Decoder, v *wrapperspb.UInt64Value) { v.Value = d.Uint64() },
	}
	Int32ValueCodec = Codec[wrapperspb.Int32Value]{
		Sig:    "i",
		Encode: EncodeInt32Value,
		Decode: func(d *wire.Decoder, v *wrapperspb.Int32Value) { v.Value = d.Int32() },
	}
	UInt32ValueCodec = Codec[wrapperspb.UInt32Value]{
		Sig:    "u",
		Encode: EncodeUInt32Value,
		Decode: func(d *wire.Decoder, v *wrapperspb.UInt32Value) { v.Value = d.Uint32() },
	}
	BoolValueCodec = Codec[wrapperspb.BoolValue]{
		Sig:    "b",
		Encode: EncodeBoolValue,
		Decode: func(d *wire.Decoder, v *wrapperspb.BoolValue) { v.Value = d.Bool() },
	}
	StringValueCodec = Codec[wrapperspb.StringValue]{
		Sig:    "s",
		Encode: EncodeStringValue,
		Decode: func(d *wire.Decoder, v *wrapperspb.StringValue) { v.Value = d.String() },
	}
	BytesValueCodec = Codec[wrapperspb.BytesValue]{
		Sig:    "ay",
		Encode: EncodeBytesValue,
		Decode: func(d *wire.Decoder, v *wrapperspb.BytesValue) { v.Value = bytes.Clone(d.ByteArray()) },
	}
)
