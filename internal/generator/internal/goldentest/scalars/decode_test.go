package scalarspb

import (
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/roundtrip"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
)

// unset is the (sv) of an unset oneof.
var unset = wire.Struct{"", wire.Variant{Sig: "s", Value: ""}}

// choiceBody encodes a Choice body by hand: s(sv)u(sv)as(sv).
func choiceBody(t *testing.T, pick, second wire.Struct, maybe []any) []byte {
	t.Helper()
	b, err := wire.Marshal(wire.LittleEndian, "s(sv)u(sv)as(sv)", "before", pick, uint32(7), second, maybe, unset)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeBadInput: values that are valid D-Bus but break the mapping's rules are decoding
// errors that say what was wrong; a server answers a call whose arguments fail to decode with
// org.freedesktop.DBus.Error.InvalidArgs.
func TestDecodeBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"unknown oneof member", choiceBody(t, wire.Struct{"bogus", wire.Variant{Sig: "s", Value: "x"}}, unset, nil), `oneof Choice.pick has no member "bogus"`},
		{"oneof member of the wrong type", choiceBody(t, wire.Struct{"number", wire.Variant{Sig: "s", Value: "12"}}, unset, nil), `member number is of type "x", but the variant holds "s"`},
		{"message member of the wrong type", choiceBody(t, unset, wire.Struct{"point", wire.Variant{Sig: "(x)", Value: wire.Struct{int64(1)}}}, nil), `member point is of type "(xx)"`},
		{"two elements for an optional field", choiceBody(t, unset, unset, []any{"a", "b"}), "field Choice.maybe: the array that carries an optional value holds more than one element"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := roundtrip.Decode(kitchen_Choose.In, tc.body, wire.LittleEndian)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestDecodeByHand: bodies written by hand (as busctl users write them) decode as expected,
// including an unset oneof whose variant holds something other than the conventional "".
func TestDecodeByHand(t *testing.T) {
	body := choiceBody(t,
		wire.Struct{"inner", wire.Variant{Sig: "(sa(xx)i)", Value: wire.Struct{"in", []any{wire.Struct{int64(1), int64(-2)}}, int32(2)}}},
		wire.Struct{"", wire.Variant{Sig: "a{sv}", Value: []wire.DictEntry{{Key: "k", Value: wire.Variant{Sig: "u", Value: uint32(1)}}}}},
		[]any{"m"})
	got, err := roundtrip.Decode(kitchen_Choose.In, body, wire.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	maybe := "m"
	want := &Choice{
		Before: "before",
		Pick:   &Choice_Inner{Inner: &Inner{Name: "in", Where: &Inner_Point{X: 1, Y: -2}, Color: Color_COLOR_GREEN}},
		After:  7,
		Maybe:  &maybe,
	}
	if !proto.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestMapsEncodeInKeyOrder: map entries are written in sorted key order, so equal messages
// give equal bytes.
func TestMapsEncodeInKeyOrder(t *testing.T) {
	m := &Collections{ByName: map[string]int32{"b": 2, "a": 1, "c": 3}, ByBool: map[bool]string{true: "t", false: "f"}}
	var e wire.Encoder
	e.Reset(nil, wire.LittleEndian)
	kitchen_Collect.In.Encode(&e, m)
	vals, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, kitchen_Collect.In.Sig)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, de := range vals[8].([]wire.DictEntry) {
		keys = append(keys, de.Key.(string))
	}
	if strings.Join(keys, ",") != "a,b,c" {
		t.Errorf("by_name keys in order %v, want a,b,c", keys)
	}
	bools := vals[13].([]wire.DictEntry)
	if len(bools) != 2 || bools[0].Key != false || bools[1].Key != true {
		t.Errorf("by_bool entries %v, want false then true", bools)
	}
}

// TestFloatWidening: a float travels as a double and comes back exactly.
func TestFloatWidening(t *testing.T) {
	m := &Everything{F: 0.1}
	var e wire.Encoder
	e.Reset(nil, wire.LittleEndian)
	kitchen_Sink.In.Encode(&e, m)
	vals, err := wire.Unmarshal(e.Bytes(), wire.LittleEndian, kitchen_Sink.In.Sig)
	if err != nil {
		t.Fatal(err)
	}
	if d := vals[12].(float64); d != float64(float32(0.1)) {
		t.Errorf("float field travels as %v, want %v", d, float64(float32(0.1)))
	}
}
