package match

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/kdbus-go/kdbus/wire"
)

// FuzzParse checks that Parse never panics, that its errors are
// *ParseError values, and that every rule it accepts survives a round trip
// through its canonical form and can be matched.
func FuzzParse(f *testing.F) {
	for _, tt := range validRules {
		f.Add(tt.in)
	}
	for _, tt := range invalidRules {
		f.Add(tt.in)
	}
	m := msg(f, wire.Message{
		Type: wire.Signal, Serial: 1, Sender: ":1.1", Destination: ":1.2", Path: "/a/b",
		Interface: "a.b", Member: "M",
	}, "sos", "a.b.c", wire.ObjectPath("/a/b"), "/a/")
	owner := func(string) string { return ":1.1" }
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %v is a %T, not a *ParseError", s, err, err)
			}
			return
		}
		c := r.String()
		again, err := Parse(c)
		if err != nil {
			t.Fatalf("Parse(%q) = %#v, whose canonical form %q does not parse: %v", s, r, c, err)
		}
		if !again.Equal(r) || !r.Equal(again) {
			t.Fatalf("Parse(%q) = %#v, but its canonical form %q parses to %#v", s, r, c, again)
		}
		if again.String() != c {
			t.Fatalf("canonical form %q is not stable: it becomes %q", c, again.String())
		}
		if len(c) > MaxRuleLength {
			t.Fatalf("canonical form of %q is %d bytes", s, len(c))
		}
		r.Match(m, ArgsOf(m))
		r.MatchOwners(m, Args{}, owner)
	})
}

// FuzzArgs decodes arbitrary bodies with ArgsOf. It must not panic, and
// wherever the reference decoder, wire.Unmarshal, reads a body, ArgsOf
// must find the same string and object path arguments.
func FuzzArgs(f *testing.F) {
	seeds := []struct {
		sig    wire.Signature
		values []any
	}{
		{"s", []any{"a"}},
		{"sa{sv}as", []any{"i", map[string]wire.Variant{"p": {Sig: "i", Value: int32(1)}}, []string{"x"}}},
		{"ya{sv}o", []any{byte(1), map[string]wire.Variant{}, wire.ObjectPath("/p")}},
		{"(xs)vas", []any{wire.Struct{int64(1), "in"}, wire.Variant{Sig: "ay", Value: []byte{1}}, []string{}}},
		{"a(ty)ays", []any{[]wire.Struct{{uint64(1), byte(2)}}, []byte{}, "after"}},
	}
	for i, s := range seeds {
		order := wire.LittleEndian
		if i%2 == 1 {
			order = wire.BigEndian
		}
		body, err := wire.Marshal(order, s.sig, s.values...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(s.sig), body, order == wire.BigEndian)
	}
	f.Add("vs", []byte{1, 'v', 0, 1, 'v', 0, 1, 's', 0}, false)
	f.Fuzz(func(t *testing.T, sig string, body []byte, bigEndian bool) {
		order := wire.LittleEndian
		if bigEndian {
			order = wire.BigEndian
		}
		m := &wire.Message{Order: order, Type: wire.Signal, Serial: 1, Signature: wire.Signature(sig), Body: body}
		args := ArgsOf(m)
		for i := 0; i <= MaxArgIndex+1; i++ {
			v, typ := args.Arg(i)
			if typ == 0 && v != "" || typ != 0 && !utf8.ValidString(v) {
				t.Fatalf("Arg(%d) = %q, %q", i, v, typ)
			}
		}
		values, err := wire.Unmarshal(body, order, wire.Signature(sig))
		if err != nil {
			return
		}
		args = ArgsOf(m)
		for i, want := range values {
			v, typ := args.Arg(i)
			switch w := want.(type) {
			case string:
				if typ != wire.TypeString || v != w {
					t.Fatalf("Arg(%d) = %q, %q; Unmarshal read string %q", i, v, typ, w)
				}
			case wire.ObjectPath:
				if typ != wire.TypeObjectPath || v != string(w) {
					t.Fatalf("Arg(%d) = %q, %q; Unmarshal read object path %q", i, v, typ, w)
				}
			default:
				if typ != 0 {
					t.Fatalf("Arg(%d) = %q, %q; Unmarshal read %T", i, v, typ, want)
				}
			}
		}
	})
}
