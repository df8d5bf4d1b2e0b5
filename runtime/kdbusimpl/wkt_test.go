package kdbusimpl_test

import (
	"math"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// wktCase is one well-known type's field codec: how to encode and decode a value, and the
// signature it must have.
type wktCase struct {
	name   string
	sig    wire.Signature
	msg    proto.Message
	encode func(e *wire.Encoder, m proto.Message)
	decode func(d *wire.Decoder) proto.Message
}

func sampleStruct(t testing.TB) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(map[string]any{
		"name": "kdbus", "n": 42.5, "ok": true, "none": nil,
		"list":   []any{1.0, "two", false, nil, map[string]any{"deep": []any{}}},
		"nested": map[string]any{"a": map[string]any{}, "b": "c"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wktCases(t testing.TB) []wktCase {
	s := sampleStruct(t)
	list, _ := structpb.NewList([]any{"x", 1.0, nil, []any{true}})
	return []wktCase{
		{"Timestamp", "(xi)", &timestamppb.Timestamp{Seconds: -62135596800, Nanos: 999999999},
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeTimestamp(e, m.(*timestamppb.Timestamp)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeTimestamp(d) }},
		{"Duration", "(xi)", &durationpb.Duration{Seconds: -5, Nanos: -500},
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeDuration(e, m.(*durationpb.Duration)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeDuration(d) }},
		{"Empty", "b", &emptypb.Empty{},
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeEmpty(e, m.(*emptypb.Empty)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeEmpty(d) }},
		{"DoubleValue", "d", wrapperspb.Double(math.Inf(-1)),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeDoubleValue(e, m.(*wrapperspb.DoubleValue)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeDoubleValue(d) }},
		{"FloatValue", "d", wrapperspb.Float(0.1),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeFloatValue(e, m.(*wrapperspb.FloatValue)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeFloatValue(d) }},
		{"Int64Value", "x", wrapperspb.Int64(math.MinInt64),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeInt64Value(e, m.(*wrapperspb.Int64Value)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeInt64Value(d) }},
		{"UInt64Value", "t", wrapperspb.UInt64(math.MaxUint64),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeUInt64Value(e, m.(*wrapperspb.UInt64Value)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeUInt64Value(d) }},
		{"Int32Value", "i", wrapperspb.Int32(-7),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeInt32Value(e, m.(*wrapperspb.Int32Value)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeInt32Value(d) }},
		{"UInt32Value", "u", wrapperspb.UInt32(math.MaxUint32),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeUInt32Value(e, m.(*wrapperspb.UInt32Value)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeUInt32Value(d) }},
		{"BoolValue", "b", wrapperspb.Bool(true),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeBoolValue(e, m.(*wrapperspb.BoolValue)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeBoolValue(d) }},
		{"StringValue", "s", wrapperspb.String("héllo"),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeStringValue(e, m.(*wrapperspb.StringValue)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeStringValue(d) }},
		{"BytesValue", "ay", wrapperspb.Bytes([]byte{0, 1, 255}),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeBytesValue(e, m.(*wrapperspb.BytesValue)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeBytesValue(d) }},
		{"Any", "(say)", &anypb.Any{TypeUrl: "type.googleapis.com/x.Y", Value: []byte{8, 1}},
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeAny(e, m.(*anypb.Any)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeAny(d) }},
		{"FieldMask", "as", &fieldmaskpb.FieldMask{Paths: []string{"a.b", "c"}},
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeFieldMask(e, m.(*fieldmaskpb.FieldMask)) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeFieldMask(d) }},
		{"Struct", "a{sv}", s,
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeStruct(e, m.(*structpb.Struct), 1) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeStruct(d, 1) }},
		{"ListValue", "av", list,
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeListValue(e, m.(*structpb.ListValue), 1) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeListValue(d, 1) }},
		{"Value", "v", structpb.NewStructValue(s),
			func(e *wire.Encoder, m proto.Message) { kdbusimpl.EncodeValue(e, m.(*structpb.Value), 1) },
			func(d *wire.Decoder) proto.Message { return kdbusimpl.DecodeValue(d, 1) }},
	}
}

// TestWKTRoundTrip encodes each well-known type, checks the bytes are a valid value of the
// documented signature, decodes them and expects the same message, in both byte orders.
func TestWKTRoundTrip(t *testing.T) {
	for _, c := range wktCases(t) {
		t.Run(c.name, func(t *testing.T) {
			for _, order := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
				var e wire.Encoder
				e.Reset(nil, order)
				c.encode(&e, c.msg)
				if err := e.Err(); err != nil {
					t.Fatal(err)
				}
				if _, err := wire.Unmarshal(e.Bytes(), order, c.sig); err != nil {
					t.Fatalf("not a valid %q: %v", c.sig, err)
				}
				d := wire.NewDecoder(e.Bytes(), order)
				got := c.decode(d)
				if err := d.Done(); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(got, c.msg) {
					t.Fatalf("got %v, want %v", got, c.msg)
				}
			}
		})
	}
}

// TestWKTNil: a nil message encodes as its zero value.
func TestWKTNil(t *testing.T) {
	for _, c := range wktCases(t) {
		var e, z wire.Encoder
		typed := c.msg.ProtoReflect().Type().Zero().Interface() // a typed nil
		c.encode(&e, typed)
		c.encode(&z, c.msg.ProtoReflect().Type().New().Interface())
		if err := e.Err(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if string(e.Bytes()) != string(z.Bytes()) {
			t.Errorf("%s: nil does not encode as the zero message", c.name)
		}
	}
}

// TestWKTStructKeyOrder: a Struct's entries are written in sorted key order.
func TestWKTStructKeyOrder(t *testing.T) {
	s := sampleStruct(t)
	var e wire.Encoder
	kdbusimpl.EncodeStruct(&e, s, 1)
	vals, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, "a{sv}")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, de := range vals[0].([]wire.DictEntry) {
		keys = append(keys, de.Key.(string))
	}
	if got := strings.Join(keys, ","); got != "list,n,name,nested,none,ok" {
		t.Errorf("keys in order %s", got)
	}
}

// TestWKTValueEncoding checks the variant each kind of Value travels as.
func TestWKTValueEncoding(t *testing.T) {
	for _, c := range []struct {
		v   *structpb.Value
		sig wire.Signature
	}{
		{structpb.NewNumberValue(1.5), "d"},
		{structpb.NewStringValue("s"), "s"},
		{structpb.NewBoolValue(true), "b"},
		{structpb.NewNullValue(), "ay"},
		{&structpb.Value{}, "ay"}, // no kind: null
		{structpb.NewListValue(&structpb.ListValue{}), "av"},
		{structpb.NewStructValue(&structpb.Struct{}), "a{sv}"},
	} {
		var e wire.Encoder
		kdbusimpl.EncodeValue(&e, c.v, 1)
		vals, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, "v")
		if err != nil {
			t.Fatal(err)
		}
		if got := vals[0].(wire.Variant).Sig; got != c.sig {
			t.Errorf("%v travels as %q, want %q", c.v, got, c.sig)
		}
	}
}

// TestWKTValueByHand: Values typed by hand with other basic types decode as numbers and
// strings; other types are errors.
func TestWKTValueByHand(t *testing.T) {
	for _, c := range []struct {
		sig  wire.Signature
		val  any
		want *structpb.Value
	}{
		{"y", byte(7), structpb.NewNumberValue(7)},
		{"n", int16(-3), structpb.NewNumberValue(-3)},
		{"q", uint16(3), structpb.NewNumberValue(3)},
		{"i", int32(-5), structpb.NewNumberValue(-5)},
		{"u", uint32(5), structpb.NewNumberValue(5)},
		{"x", int64(-1 << 40), structpb.NewNumberValue(-1 << 40)},
		{"t", uint64(1 << 40), structpb.NewNumberValue(1 << 40)},
		{"o", "/a/b", structpb.NewStringValue("/a/b")},
		{"g", "a{sv}", structpb.NewStringValue("a{sv}")},
		{"ay", []byte{}, structpb.NewNullValue()},
	} {
		body, err := wire.Marshal(wire.LittleEndian, "v", wire.Variant{Sig: c.sig, Value: c.val})
		if err != nil {
			t.Fatal(err)
		}
		d := wire.NewDecoder(body, wire.LittleEndian)
		got := kdbusimpl.DecodeValue(d, 1)
		if err := d.Done(); err != nil {
			t.Errorf("%q: %v", c.sig, err)
			continue
		}
		if !proto.Equal(got, c.want) {
			t.Errorf("%q: got %v, want %v", c.sig, got, c.want)
		}
	}
	for _, c := range []struct {
		sig wire.Signature
		val any
	}{
		{"ay", []byte{1}},
		{"(ii)", wire.Struct{int32(1), int32(2)}},
		{"as", []any{"a"}},
		{"h", wire.UnixFD(0)},
	} {
		body, err := wire.Marshal(wire.LittleEndian, "v", wire.Variant{Sig: c.sig, Value: c.val})
		if err != nil {
			t.Fatal(err)
		}
		d := wire.NewDecoder(body, wire.LittleEndian)
		kdbusimpl.DecodeValue(d, 1)
		if err := d.Err(); err == nil || !strings.Contains(err.Error(), string(c.sig)) {
			t.Errorf("%q: error %v, want one naming the variant's type", c.sig, err)
		}
	}
}

// nested returns a Value that nests n lists.
func nested(n int) *structpb.Value {
	v := structpb.NewNumberValue(1)
	for range n {
		v = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{v}})
	}
	return v
}

// TestWKTDepthLimit: Values that would nest beyond D-Bus's 64 containers are refused when
// encoding and when decoding, and those within the limit pass.
func TestWKTDepthLimit(t *testing.T) {
	// A top-level v holding n lists: each list is a v and an av, the innermost a v and a d.
	// The containers number 2n+1.
	ok, tooDeep := nested(31), nested(32)
	var e wire.Encoder
	kdbusimpl.EncodeValue(&e, ok, 1)
	if err := e.Err(); err != nil {
		t.Fatalf("63 containers: %v", err)
	}
	if _, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, "v"); err != nil {
		t.Fatalf("63 containers do not unmarshal: %v", err)
	}
	d := wire.NewDecoder(e.Bytes(), wire.LittleEndian)
	if got := kdbusimpl.DecodeValue(d, 1); d.Done() != nil || !proto.Equal(got, ok) {
		t.Fatalf("63 containers: %v", d.Err())
	}

	e.Reset(nil, wire.LittleEndian)
	kdbusimpl.EncodeValue(&e, tooDeep, 1)
	if e.Err() == nil {
		t.Fatal("65 containers encoded without error")
	}
	// The same depth budget applies below the top: 31 lists at depth 3 reach 65.
	e.Reset(nil, wire.LittleEndian)
	kdbusimpl.EncodeValue(&e, ok, 3)
	if e.Err() == nil {
		t.Fatal("a Value of 63 containers at depth 3 encoded without error")
	}

	// Decoding a body nested too deeply (built by hand) fails cleanly.
	var raw wire.Encoder
	raw.Reset(nil, wire.LittleEndian)
	writeNested(&raw, 40)
	d = wire.NewDecoder(raw.Bytes(), wire.LittleEndian)
	kdbusimpl.DecodeValue(d, 1)
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "nests deeper") {
		t.Fatalf("81 containers: error %v, want one about the nesting", err)
	}
}

// writeNested writes a v holding n nested av, bypassing the checks of EncodeValue.
func writeNested(e *wire.Encoder, n int) {
	if n == 0 {
		e.Variant("d")
		e.Double(1)
		return
	}
	e.Variant("av")
	a := e.BeginArray(1)
	writeNested(e, n-1)
	e.EndArray(a)
}

// TestWKTProto: serialized messages round-trip, and bytes that are not the message are an
// error.
func TestWKTProto(t *testing.T) {
	m := &anypb.Any{TypeUrl: "x", Value: []byte{1, 2}}
	var e wire.Encoder
	kdbusimpl.EncodeProto(&e, m)
	kdbusimpl.EncodeProto(&e, (*anypb.Any)(nil))
	vals, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, "ayay")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(m); string(vals[0].([]byte)) != string(want) {
		t.Errorf("the ay is not the deterministic serialization")
	}
	if len(vals[1].([]byte)) != 0 {
		t.Errorf("nil does not encode as an empty array")
	}
	d := wire.NewDecoder(e.Bytes(), wire.LittleEndian)
	got, empty := new(anypb.Any), new(anypb.Any)
	kdbusimpl.DecodeProto(d, got)
	kdbusimpl.DecodeProto(d, empty)
	if err := d.Done(); err != nil || !proto.Equal(got, m) || !proto.Equal(empty, &anypb.Any{}) {
		t.Fatalf("got %v and %v (%v)", got, empty, err)
	}

	body, _ := wire.Marshal(wire.LittleEndian, "ay", []byte{0xff, 0xff, 0xff})
	d = wire.NewDecoder(body, wire.LittleEndian)
	kdbusimpl.DecodeProto(d, new(anypb.Any))
	if d.Err() == nil || !strings.Contains(d.Err().Error(), "google.protobuf.Any") {
		t.Errorf("garbage: error %v, want one naming the type", d.Err())
	}
}

// TestWKTOneofHelpers checks the errors generated decoders report, and that the value of an
// unset oneof is skipped whatever its type.
func TestWKTOneofHelpers(t *testing.T) {
	body, _ := wire.Marshal(wire.LittleEndian, "vs", wire.Variant{Sig: "a{sv}", Value: []wire.DictEntry{{Key: "k", Value: wire.Variant{Sig: "i", Value: int32(1)}}}}, "after")
	d := wire.NewDecoder(body, wire.LittleEndian)
	kdbusimpl.SkipVariantValue(d, d.Variant())
	if s := d.String(); d.Done() != nil || s != "after" {
		t.Fatalf("skipping: %q, %v", s, d.Err())
	}
	for _, c := range []struct {
		f    func(d *wire.Decoder)
		want string
	}{
		{func(d *wire.Decoder) { kdbusimpl.UnknownOneofMember(d, "M.o", "x") }, `oneof M.o has no member "x"`},
		{func(d *wire.Decoder) { kdbusimpl.BadOneofVariant(d, "M.o", "x", "s", "i") }, `member x is of type "i", but the variant holds "s"`},
		{func(d *wire.Decoder) { kdbusimpl.ExtraPresenceElement(d, "M.f") }, "field M.f: the array that carries an optional value holds more than one element"},
	} {
		d := wire.NewDecoder(nil, wire.LittleEndian)
		c.f(d)
		if err := d.Err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %q", err, c.want)
		}
	}
}

// TestWKTCodecs: the codecs of whole requests and responses have the documented signatures
// and round-trip.
func TestWKTCodecs(t *testing.T) {
	s := sampleStruct(t)
	check := func(name string, sig, want wire.Signature, enc func(*wire.Encoder), dec func(*wire.Decoder) proto.Message, m proto.Message) {
		t.Helper()
		if sig != want {
			t.Errorf("%s: signature %q, want %q", name, sig, want)
		}
		var e wire.Encoder
		enc(&e)
		if _, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, sig); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		d := wire.NewDecoder(e.Bytes(), wire.LittleEndian)
		if got := dec(d); d.Done() != nil || !proto.Equal(got, m) {
			t.Errorf("%s: got %v (%v), want %v", name, got, d.Err(), m)
		}
	}
	ts := timestamppb.New(timestamppb.Now().AsTime())
	check("Timestamp", kdbusimpl.TimestampCodec.Sig, "xi", func(e *wire.Encoder) { kdbusimpl.TimestampCodec.Encode(e, ts) },
		func(d *wire.Decoder) proto.Message {
			m := new(timestamppb.Timestamp)
			kdbusimpl.TimestampCodec.Decode(d, m)
			return m
		}, ts)
	du := durationpb.New(-1500)
	check("Duration", kdbusimpl.DurationCodec.Sig, "xi", func(e *wire.Encoder) { kdbusimpl.DurationCodec.Encode(e, du) },
		func(d *wire.Decoder) proto.Message {
			m := new(durationpb.Duration)
			kdbusimpl.DurationCodec.Decode(d, m)
			return m
		}, du)
	an := &anypb.Any{TypeUrl: "u", Value: []byte("v")}
	check("Any", kdbusimpl.AnyCodec.Sig, "say", func(e *wire.Encoder) { kdbusimpl.AnyCodec.Encode(e, an) },
		func(d *wire.Decoder) proto.Message { m := new(anypb.Any); kdbusimpl.AnyCodec.Decode(d, m); return m }, an)
	fm := &fieldmaskpb.FieldMask{Paths: []string{"x"}}
	check("FieldMask", kdbusimpl.FieldMaskCodec.Sig, "as", func(e *wire.Encoder) { kdbusimpl.FieldMaskCodec.Encode(e, fm) },
		func(d *wire.Decoder) proto.Message {
			m := new(fieldmaskpb.FieldMask)
			kdbusimpl.FieldMaskCodec.Decode(d, m)
			return m
		}, fm)
	check("Struct", kdbusimpl.StructCodec.Sig, "a{sv}", func(e *wire.Encoder) { kdbusimpl.StructCodec.Encode(e, s) },
		func(d *wire.Decoder) proto.Message {
			m := new(structpb.Struct)
			kdbusimpl.StructCodec.Decode(d, m)
			return m
		}, s)
	lv := &structpb.ListValue{Values: []*structpb.Value{structpb.NewBoolValue(false)}}
	check("ListValue", kdbusimpl.ListValueCodec.Sig, "av", func(e *wire.Encoder) { kdbusimpl.ListValueCodec.Encode(e, lv) },
		func(d *wire.Decoder) proto.Message {
			m := new(structpb.ListValue)
			kdbusimpl.ListValueCodec.Decode(d, m)
			return m
		}, lv)
	v := structpb.NewStringValue("v")
	check("Value", kdbusimpl.ValueCodec.Sig, "v", func(e *wire.Encoder) { kdbusimpl.ValueCodec.Encode(e, v) },
		func(d *wire.Decoder) proto.Message {
			m := new(structpb.Value)
			kdbusimpl.ValueCodec.Decode(d, m)
			return m
		}, v)
	f := wrapperspb.Float(3.25)
	check("FloatValue", kdbusimpl.FloatValueCodec.Sig, "d", func(e *wire.Encoder) { kdbusimpl.FloatValueCodec.Encode(e, f) },
		func(d *wire.Decoder) proto.Message {
			m := new(wrapperspb.FloatValue)
			kdbusimpl.FloatValueCodec.Decode(d, m)
			return m
		}, f)
	b := wrapperspb.Bytes([]byte("b"))
	check("BytesValue", kdbusimpl.BytesValueCodec.Sig, "ay", func(e *wire.Encoder) { kdbusimpl.BytesValueCodec.Encode(e, b) },
		func(d *wire.Decoder) proto.Message {
			m := new(wrapperspb.BytesValue)
			kdbusimpl.BytesValueCodec.Decode(d, m)
			return m
		}, b)
	for name, c := range map[string]wire.Signature{
		"DoubleValue": kdbusimpl.DoubleValueCodec.Sig, "Int64Value": kdbusimpl.Int64ValueCodec.Sig,
		"UInt64Value": kdbusimpl.UInt64ValueCodec.Sig, "Int32Value": kdbusimpl.Int32ValueCodec.Sig,
		"UInt32Value": kdbusimpl.UInt32ValueCodec.Sig, "BoolValue": kdbusimpl.BoolValueCodec.Sig,
		"StringValue": kdbusimpl.StringValueCodec.Sig,
	} {
		want := map[string]wire.Signature{"DoubleValue": "d", "Int64Value": "x", "UInt64Value": "t", "Int32Value": "i", "UInt32Value": "u", "BoolValue": "b", "StringValue": "s"}[name]
		if c != want {
			t.Errorf("%s: signature %q, want %q", name, c, want)
		}
	}
}
