package fallbackpb

import (
	"fmt"
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
)

func TestRoundTrip(t *testing.T) {
	roundtrip.Service(t, Fallback_IntrospectXML, &Fallback_ServiceDesc)
	roundtrip.Method(t, Fallback_IntrospectXML, &fallback_Inject)
	roundtrip.Method(t, Fallback_IntrospectXML, &fallback_Configure)
	roundtrip.Method(t, Fallback_IntrospectXML, &fallback_Descend)
	roundtrip.Method(t, Fallback_IntrospectXML, &fallback_Choose)
	roundtrip.Stream(t, Fallback_IntrospectXML, &fallback_Follow)
	roundtrip.Codec(t, fallback_signal_WideEvent.Args, "ay", 1)
	roundtrip.Codec(t, fallback_signal_Surge.Args, "aayaays", 3)
}

// full round-trips messages with every field set, to the far end of every chain, through c.
func full[T any](t *testing.T, c kdbusimpl.Codec[T], picks int) {
	t.Helper()
	for pick := range picks {
		for _, order := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
			roundtrip.RoundTrip(t, c, roundtrip.Full[T](pick), order, roundtrip.SigCount(t, string(c.Sig)), fmt.Sprintf("full message %d (%s)", pick, order))
		}
	}
}

// TestRoundTripFull round-trips messages with every field set: the deepest Deep0 chain, all
// 300 fields of Wide, each member of Choice's oneof, all of the assistance data.
func TestRoundTripFull(t *testing.T) {
	full(t, fallback_Inject.In, 1)
	full(t, fallback_Configure.In, 1)
	full(t, fallback_Descend.In, 1)
	full(t, fallback_Choose.In, 3)
	full(t, fallback_Follow.Out, 1)
	full(t, fallback_signal_WideEvent.Args, 1)
	full(t, fallback_signal_Surge.Args, 1)
}

// TestSerializedForm checks what a peer without the generated code sees: each serialized
// argument is the deterministic protobuf serialization of the message its org.kdbusgo.Proto
// annotation names.
func TestSerializedForm(t *testing.T) {
	opts := proto.MarshalOptions{Deterministic: true}
	order := wire.LittleEndian
	encode := func(sig wire.Signature, enc func(e *wire.Encoder)) []any {
		t.Helper()
		var e wire.Encoder
		e.Reset(nil, order)
		enc(&e)
		defer e.Sent()
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		vals, err := wire.Unmarshal(e.Bytes(), order, sig)
		if err != nil {
			t.Fatal(err)
		}
		return vals
	}
	same := func(what string, got any, m proto.Message) {
		t.Helper()
		want, err := opts.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b, ok := got.([]byte)
		if !ok || string(b) != string(want) {
			t.Errorf("%s: the argument is %v, want the serialization of %v", what, got, m)
		}
	}

	// The whole request: one ay.
	wide := roundtrip.Full[Wide](0)
	vals := encode("ay", func(e *wire.Encoder) { fallback_Configure.In.Encode(e, wide) })
	same("Configure", vals[0], wide)

	// Serialized fields: a 0-or-1 element aay where the field has presence.
	gnss := roundtrip.Full[GnssAssistance](0)
	vals = encode(fallback_Inject.In.Sig, func(e *wire.Encoder) { fallback_Inject.In.Encode(e, gnss) })
	for i, m := range []proto.Message{gnss.Gps, gnss.Glonass, gnss.Galileo} {
		l, ok := vals[i].([]any)
		if !ok || len(l) != 1 {
			t.Fatalf("Inject argument %d is %T %v, want one serialized message", i, vals[i], vals[i])
		}
		same(fmt.Sprintf("Inject argument %d", i), l[0], m)
	}

	// A oneof member: the variant holds the ay.
	choice := &Choice{Pick: &Choice_Bulk{Bulk: roundtrip.Full[Bulk](0)}}
	vals = encode(fallback_Choose.In.Sig, func(e *wire.Encoder) { fallback_Choose.In.Encode(e, choice) })
	pick, ok := vals[0].(wire.Struct)
	if !ok || len(pick) != 2 || pick[0] != "bulk" {
		t.Fatalf("Choose's oneof is %v", vals[0])
	}
	v, ok := pick[1].(wire.Variant)
	if !ok || v.Sig != "ay" {
		t.Fatalf("Choose's variant is %#v, want an ay", pick[1])
	}
	same("Choose's variant", v.Value, choice.GetBulk())
}
