package wire_test

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
)

// evolveCases are bodies of one signature with the body a receiver wanting another signature
// must see: the kept values, then zeros.
var evolveCases = []struct {
	name       string
	sent       wire.Signature
	sentVals   []any
	want       wire.Signature
	wantVals   []any
	fdsInPlace bool
}{
	{
		name: "a newer client calls an older server", sent: "ts", sentVals: []any{uint64(7), "new"},
		want: "t", wantVals: []any{uint64(7)},
	},
	{
		name: "an older client calls a newer server", sent: "t", sentVals: []any{uint64(7)},
		want: "tsxdbyqnuogasa{sv}vi", wantVals: []any{uint64(7), "", int64(0), 0.0, false, byte(0), uint16(0), int16(0), uint32(0), wire.ObjectPath("/"), wire.Signature(""), []any{}, []wire.DictEntry{}, wire.Variant{Sig: "ay", Value: []byte{}}, int32(0)},
	},
	{
		name: "a struct gains members, alignment moves", sent: "y(ys)t", sentVals: []any{byte(1), wire.Struct{byte(2), "a"}, uint64(3)},
		want: "y(ysx(ad))t", wantVals: []any{byte(1), wire.Struct{byte(2), "a", int64(0), wire.Struct{[]any{}}}, uint64(3)},
	},
	{
		name: "a struct loses members", sent: "(sa(xx)i)y", sentVals: []any{wire.Struct{"n", []any{wire.Struct{int64(1), int64(2)}}, int32(5)}, byte(9)},
		want: "(s)y", wantVals: []any{wire.Struct{"n"}, byte(9)},
	},
	{
		name: "repeated nested messages gain members", sent: "ya(sy)", sentVals: []any{byte(1), []any{wire.Struct{"a", byte(1)}, wire.Struct{"b", byte(2)}}},
		want: "ya(syta(u))", wantVals: []any{byte(1), []any{wire.Struct{"a", byte(1), uint64(0), []any{}}, wire.Struct{"b", byte(2), uint64(0), []any{}}}},
	},
	{
		name: "dict values evolve, nested arrays move", sent: "ya{s(yat)}", sentVals: []any{byte(1), []wire.DictEntry{{Key: "k", Value: wire.Struct{byte(1), []any{uint64(4)}}}}},
		want: "ya{s(y)}", wantVals: []any{byte(1), []wire.DictEntry{{Key: "k", Value: wire.Struct{byte(1)}}}},
	},
	{
		name: "presence arrays of messages", sent: "a(xi)", sentVals: []any{[]any{wire.Struct{int64(-1), int32(2)}}},
		want: "a(xis)", wantVals: []any{[]any{wire.Struct{int64(-1), int32(2), ""}}},
	},
	{
		name: "variants and descriptors are kept", sent: "yvhh", sentVals: []any{byte(1), wire.Variant{Sig: "(yt)", Value: wire.Struct{byte(1), uint64(2)}}, wire.UnixFD(0), wire.UnixFD(1)},
		want: "yvh", wantVals: []any{byte(1), wire.Variant{Sig: "(yt)", Value: wire.Struct{byte(1), uint64(2)}}, wire.UnixFD(0)},
	},
	{
		name: "a missing h inside an array is an empty array", sent: "y", sentVals: []any{byte(1)},
		want: "yah(sah)", wantVals: []any{byte(1), []any{}, wire.Struct{"", []any{}}},
	},
	{
		name: "oneof gains a sibling field", sent: "(sv)", sentVals: []any{wire.Struct{"text", wire.Variant{Sig: "s", Value: "x"}}},
		want: "(sv)(sv)", wantVals: []any{wire.Struct{"text", wire.Variant{Sig: "s", Value: "x"}}, wire.Struct{"", wire.Variant{Sig: "ay", Value: []byte{}}}},
	},
	{
		name: "stream frames", sent: "uua((ts))", sentVals: []any{uint32(1), uint32(0), []any{wire.Struct{wire.Struct{uint64(1), "x"}}, wire.Struct{wire.Struct{uint64(2), "y"}}}},
		want: "uua((t))", wantVals: []any{uint32(1), uint32(0), []any{wire.Struct{wire.Struct{uint64(1)}}, wire.Struct{wire.Struct{uint64(2)}}}},
	},
}

// TestEvolveAdapt checks that an adapted body is exactly the body the receiver's own side
// would have encoded with the kept values and zeros, in both byte orders.
func TestEvolveAdapt(t *testing.T) {
	for _, tt := range evolveCases {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := wire.Evolve(tt.sent, tt.want)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range orders {
				body := mustMarshal(t, o, tt.sent, tt.sentVals...)
				want := mustMarshal(t, o, tt.want, tt.wantVals...)
				got, err := ev.Adapt(nil, body, o)
				if err != nil {
					t.Fatalf("%c: Adapt: %v", o, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%c: Adapt(%x) = %x, want %x", o, body, got, want)
				}
				// As a value inside another, after a byte that misaligns it.
				var e wire.Encoder
				e.Reset(nil, o)
				e.Byte(0xff)
				outer := append(e.Bytes(), mustMarshalAt(t, o, 1, tt.sent, tt.sentVals...)...)
				d := wire.NewDecoder(outer, o)
				d.Byte()
				got = ev.AdaptValue(d, nil)
				if err := d.Done(); err != nil {
					t.Fatalf("%c: AdaptValue: %v", o, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%c: AdaptValue = %x, want %x", o, got, want)
				}
			}
		})
	}
}

// mustMarshalAt encodes vals as sig starting at offset at of a body, and returns the bytes
// from that offset on.
func mustMarshalAt(t *testing.T, o wire.ByteOrder, at int, sig wire.Signature, vals ...any) []byte {
	t.Helper()
	types, err := wire.ParseSignature(string(sig))
	if err != nil {
		t.Fatal(err)
	}
	e := wire.NewEncoder(make([]byte, 0, 64), o)
	for i := 0; i < at; i++ {
		e.Byte(0xff)
	}
	for i, tp := range types {
		if err := wire.EncodeValue(e, tp, vals[i]); err != nil {
			t.Fatal(err)
		}
	}
	return e.Bytes()[at:]
}

// TestEvolveRefuses checks the pairs that are not evolutions, and that the error says where.
func TestEvolveRefuses(t *testing.T) {
	for _, tt := range []struct {
		sent, want wire.Signature
		where      string
	}{
		{"t", "s", "argument 0"},
		{"ts", "tt", "argument 1"},
		{"y(ts)", "y(tt)", "argument 1, member 1"},
		{"a(ts)", "a(tx)", "argument 0, element, member 1"},
		{"a{s(y)}", "a{o(y)}", "argument 0, element: dict key"},
		{"a{s(y)}", "a{s(s)}", "argument 0, element, value, member 0"},
		{"y", "yh", "argument 1"},
		{"y", "y(sh)", "argument 1"},
		{"(t)", "b", "argument 0"},
		{"s", "v", "argument 0"},
		{"ay", "as", "argument 0, element"},
	} {
		_, err := wire.Evolve(tt.sent, tt.want)
		var ee *wire.EvolutionError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), tt.where) {
			t.Errorf("Evolve(%q, %q) = %v, want an EvolutionError at %s", tt.sent, tt.want, err, tt.where)
		}
	}
	for _, tt := range [][2]wire.Signature{{"(", "y"}, {"y", "a"}, {"y", wire.Signature(strings.Repeat("y", 256))}} {
		_, err := wire.Evolve(tt[0], tt[1])
		var se *wire.SignatureError
		if !errors.As(err, &se) {
			t.Errorf("Evolve(%q, %q) = %v, want a SignatureError", tt[0], tt[1], err)
		}
	}
}

// TestEvolveRejectsBadBodies checks that Adapt reports bodies that do not decode as their
// signature, including bytes past the end and bad values in the members it skips.
func TestEvolveRejectsBadBodies(t *testing.T) {
	ev, err := wire.Evolve("ts", "t")
	if err != nil {
		t.Fatal(err)
	}
	good := mustMarshal(t, wire.LittleEndian, "ts", uint64(1), "x")
	for name, body := range map[string][]byte{
		"truncated":     good[:len(good)-1],
		"trailing byte": append(append([]byte{}, good...), 0),
		"bad string":    append(append([]byte{}, good[:len(good)-2]...), 0xff, 0),
	} {
		if _, err := ev.Adapt(nil, body, wire.LittleEndian); err == nil {
			t.Errorf("%s: Adapt(%x) accepted it", name, body)
		}
	}
	deep, err := wire.Evolve("v", "vy")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := nestedVariants(wire.LittleEndian, wire.MaxTotalDepth+1)
	if _, err := deep.Adapt(nil, body, wire.LittleEndian); err == nil {
		t.Errorf("Adapt accepted variants nested %d deep", wire.MaxTotalDepth+1)
	}
}

// FuzzEvolve checks that adapting never panics and that every body it produces is a valid
// body of the wanted signature whose descriptors are among the sent body's.
func FuzzEvolve(f *testing.F) {
	for _, tt := range evolveCases {
		for _, o := range orders {
			f.Add(string(tt.sent), string(tt.want), o == wire.BigEndian, mustMarshal(f, o, tt.sent, tt.sentVals...))
		}
	}
	for _, b := range fuzzBodies() {
		f.Add(string(b.sig), string(b.sig)+"s", b.o == wire.BigEndian, b.body)
	}
	f.Fuzz(func(t *testing.T, sent, want string, big bool, body []byte) {
		o := wire.LittleEndian
		if big {
			o = wire.BigEndian
		}
		ev, err := wire.Evolve(wire.Signature(sent), wire.Signature(want))
		if err != nil {
			return
		}
		out, err := ev.Adapt(nil, body, o)
		d := wire.NewDecoder(body, o)
		value := ev.AdaptValue(d, nil)
		if derr := d.Done(); (derr == nil) != (err == nil) || err == nil && !bytes.Equal(value, out) {
			t.Fatalf("Adapt(%x) = %x, %v but AdaptValue = %x, %v", body, out, err, value, derr)
		}
		if err != nil {
			var de *wire.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Adapt error %v (%T) is not a DecodeError", err, err)
			}
			return
		}
		nfds := math.MaxInt
		if wire.ValidateBody(body, o, wire.Signature(sent), 0) == nil {
			nfds = 0 // a body without h values adapts to one without
		}
		if err := wire.ValidateBody(out, o, wire.Signature(want), nfds); err != nil {
			t.Fatalf("Adapt(%x) from %q to %q gave %x, not a valid body: %v", body, sent, want, out, err)
		}
		if sent == want {
			// Arrays are copied element by element, so a valid body comes out unchanged.
			if wire.ValidateBody(body, o, wire.Signature(sent), math.MaxInt) == nil && !bytes.Equal(out, body) {
				t.Fatalf("Adapt changed %x into %x with equal signatures", body, out)
			}
		}
	})
}
