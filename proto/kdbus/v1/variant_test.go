package kdbusv1_test

import (
	"reflect"
	"strings"
	"testing"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
)

func TestVariantRoundTrip(t *testing.T) {
	type pair struct {
		Name string
		IDs  []int32
	}
	cases := []struct {
		in      any
		sig     string
		natural any
	}{
		{uint32(7), "u", uint32(7)},
		{true, "b", true},
		{byte(200), "y", byte(200)},
		{int16(-3), "n", int16(-3)},
		{uint16(9), "q", uint16(9)},
		{int64(-1) << 40, "x", int64(-1) << 40},
		{1.5, "d", 1.5},
		{"héllo", "s", "héllo"},
		{wire.ObjectPath("/a/b"), "o", wire.ObjectPath("/a/b")},
		{wire.Signature("a{sv}"), "g", wire.Signature("a{sv}")},
		{[]uint32{1, 2, 1000}, "au", []uint32{1, 2, 1000}},
		{[]byte{1, 2}, "ay", []byte{1, 2}},
		{[][]string{{"a"}, {}}, "aas", [][]string{{"a"}, {}}},
		{map[string]any{"u": uint32(1), "as": []string{"x"}}, "a{sv}", map[string]any{"u": uint32(1), "as": []string{"x"}}},
		{map[uint32]string{2: "b", 1: "a"}, "a{us}", map[uint32]string{1: "a", 2: "b"}},
		{pair{"n", []int32{-1}}, "(sai)", []any{"n", []int32{-1}}},
		{kdbusv1.MustVariant(uint64(5)), "t", uint64(5)},
	}
	for _, c := range cases {
		v, err := kdbusv1.NewVariant(c.in)
		if err != nil {
			t.Fatalf("NewVariant(%#v): %v", c.in, err)
		}
		if string(v.Signature()) != c.sig {
			t.Errorf("NewVariant(%#v): signature %q, want %q", c.in, v.Signature(), c.sig)
		}
		got, err := v.Decode()
		if err != nil {
			t.Fatalf("%q: Decode: %v", c.sig, err)
		}
		if !reflect.DeepEqual(got, c.natural) {
			t.Errorf("%q: Value() = %#v, want %#v", c.sig, got, c.natural)
		}
	}
}

func TestVariantStore(t *testing.T) {
	creds := kdbusv1.MustVariant(map[string]any{
		"UnixUserID":   uint32(1000),
		"UnixGroupIDs": []uint32{1000, 27},
		"ProcessID":    uint32(42),
	})
	m, err := kdbusv1.As[map[string]*kdbusv1.Variant](creds)
	if err != nil {
		t.Fatal(err)
	}
	uid, err := kdbusv1.As[uint32](m["UnixUserID"])
	if err != nil || uid != 1000 {
		t.Fatalf("UnixUserID = %d, %v", uid, err)
	}
	gids, err := kdbusv1.As[[]uint32](m["UnixGroupIDs"])
	if err != nil || !reflect.DeepEqual(gids, []uint32{1000, 27}) {
		t.Fatalf("UnixGroupIDs = %v, %v", gids, err)
	}
	// Wider integer types take values that fit; narrower ones refuse those that do not.
	if wide, err := kdbusv1.As[int64](m["UnixUserID"]); err != nil || wide != 1000 {
		t.Fatalf("As[int64] = %d, %v", wide, err)
	}
	if _, err := kdbusv1.As[uint8](m["UnixUserID"]); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Fatalf("As[uint8](1000): %v, want a range error", err)
	}
	if _, err := kdbusv1.As[string](m["UnixUserID"]); err == nil {
		t.Fatal("As[string] of a u: no error")
	}
	var s struct {
		A string
		B []int16
	}
	if err := kdbusv1.MustVariant([]any{"x", []int16{1}}).Store(&s); err == nil {
		t.Fatal("an av stored into a struct without error")
	}
	v, err := kdbusv1.NewVariantOf("(san)", []any{"x", []int16{1, -2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Store(&s); err != nil || s.A != "x" || !reflect.DeepEqual(s.B, []int16{1, -2}) {
		t.Fatalf("Store: %+v, %v", s, err)
	}
}

func TestVariantErrors(t *testing.T) {
	for _, x := range []any{nil, make(chan int), map[[2]int]string{}, struct{ a int }{}} {
		if _, err := kdbusv1.NewVariant(x); err == nil {
			t.Errorf("NewVariant(%T): no error", x)
		}
	}
	for _, c := range []struct {
		sig string
		x   any
	}{{"y", 256}, {"s", "\xff"}, {"o", "not/a/path"}, {"h", -1}, {"h", "x"}, {"u", "x"}, {"(ss)", []any{"a"}}} {
		if _, err := kdbusv1.NewVariantOf(wire.Signature(c.sig), c.x); err == nil {
			t.Errorf("NewVariantOf(%q, %#v): no error", c.sig, c.x)
		}
	}
	bad := &kdbusv1.Variant{Sig: "s", Data: []byte{9, 0, 0, 0, 'a'}}
	if bad.Value() != nil {
		t.Error("Value of truncated data is not nil")
	}
	if _, err := bad.Decode(); err == nil {
		t.Error("Decode of truncated data: no error")
	}
	if _, err := (&kdbusv1.Variant{}).Decode(); err == nil {
		t.Error("Decode of an empty Variant: no error")
	}
}
