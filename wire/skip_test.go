package wire_test

import (
	"testing"

	"github.com/kdbus-go/kdbus/wire"
)

// TestSkip skips each value of a body and checks that the next value still decodes, in both
// byte orders: padding before 8-aligned array elements, empty arrays, structs and variants.
func TestSkip(t *testing.T) {
	const sig = "yat(xs)a(y)va{sv}ai(ybs)gs"
	values := []any{
		byte(1), []uint64{}, wire.Struct{int64(-2), "x"}, []any{wire.Struct{byte(3)}},
		wire.Variant{Sig: "a(ts)", Value: []any{wire.Struct{uint64(4), "y"}}},
		map[string]wire.Variant{"k": {Sig: "av", Value: []any{wire.Variant{Sig: "s", Value: "deep"}}}},
		[]int32{5, 6}, wire.Struct{byte(7), true, "z"}, wire.Signature("a{sv}"), "last",
	}
	types, _ := wire.SplitSignature(sig)
	for _, o := range []wire.ByteOrder{wire.LittleEndian, wire.BigEndian} {
		body, err := wire.Marshal(o, sig, values...)
		if err != nil {
			t.Fatal(err)
		}
		for skip := range types {
			d := wire.NewDecoder(body, o)
			for _, ty := range types[:skip+1] {
				d.Skip(ty)
			}
			for _, ty := range types[skip+1:] {
				wire.DecodeValue(d, wire.MustParseType(ty))
			}
			if err := d.Done(); err != nil {
				t.Fatalf("%s: skipping the first %d values: %v", o, skip+1, err)
			}
		}
	}
	d := wire.NewDecoder([]byte{1, 2}, wire.LittleEndian)
	d.Skip("u")
	if d.Err() == nil {
		t.Fatal("skipping past the end did not fail")
	}
}
