package wire_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
)

// bodySeed is a body with its signature and byte order, to seed FuzzUnmarshal with.
type bodySeed struct {
	sig  wire.Signature
	o    wire.ByteOrder
	body []byte
}

// fuzzBodies are bodies to seed the fuzzers with, valid and invalid.
func fuzzBodies() []bodySeed {
	var out []bodySeed
	for i, tt := range layoutTests {
		if i%3 == 0 {
			out = append(out, bodySeed{tt.sig, wire.LittleEndian, unhex(tt.le)}, bodySeed{tt.sig, wire.BigEndian, unhex(tt.be)})
		}
	}
	for i, tt := range invalidBodies {
		if i%4 == 0 {
			out = append(out, bodySeed{tt.sig, tt.order, unhex(tt.body)})
		}
	}
	body, _ := nestedVariants(wire.BigEndian, 5)
	return append(out, bodySeed{"v", wire.BigEndian, body})
}

// fuzzMessages are messages to seed FuzzDecodeMessage with, valid and invalid.
func fuzzMessages(t testing.TB) [][]byte {
	var out [][]byte
	for _, o := range orders {
		full, err := (&wire.Message{
			Order: o, Type: wire.MethodCall, Serial: 5, Path: "/org/example", Interface: "org.example.I",
			Member: "Do", Destination: "org.example", Signature: "sa{sv}ai(xs)vh", UnixFDs: 1,
			Body: mustMarshal(t, o, "sa{sv}ai(xs)vh", "héllo",
				[]wire.DictEntry{{Key: "k", Value: wire.Variant{Sig: "as", Value: []any{"x"}}}},
				[]any{int32(-1)}, wire.Struct{int64(2), "s"}, wire.Variant{Sig: "a(x)", Value: []any{}}, wire.UnixFD(0)),
		}).AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, full)
	}
	for _, tt := range headerTests() {
		out = append(out, tt.buf(wire.LittleEndian))
	}
	out = append(out, out[0][:len(out[0])-3])
	return out
}

// mustMarshal is Marshal for values known to be valid.
func mustMarshal(t testing.TB, o wire.ByteOrder, sig wire.Signature, vals ...any) []byte {
	t.Helper()
	b, err := wire.Marshal(o, sig, vals...)
	if err != nil {
		t.Fatalf("Marshal(%q): %v", sig, err)
	}
	return b
}

// FuzzDecodeMessage checks that DecodeMessage, ValidateBody and Unmarshal never panic, and
// that a message they accept encodes again to one that decodes the same.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range fuzzMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wire.DecodeMessage(data)
		if err != nil {
			return
		}
		if n, err := wire.MessageLength(data); err != nil || n != len(data) {
			t.Fatalf("DecodeMessage accepted %d bytes but MessageLength says %d, %v", len(data), n, err)
		}
		verr := m.ValidateBody()
		vals, uerr := wire.Unmarshal(m.Body, m.Order, m.Signature)
		if verr == nil && uerr != nil {
			t.Fatalf("ValidateBody accepted the body but Unmarshal refused it: %v", uerr)
		}
		if uerr == nil {
			body, err := wire.Marshal(m.Order, m.Signature, vals...)
			if err != nil || !bytes.Equal(body, m.Body) {
				t.Fatalf("Marshal of the decoded body = %x, %v; want %x", body, err, m.Body)
			}
		}
		again, err := m.AppendTo(nil)
		if err != nil {
			t.Fatalf("AppendTo of a decoded message %v: %v", m, err)
		}
		m2, err := wire.DecodeMessage(again)
		if err != nil {
			t.Fatalf("the re-encoded message %x does not decode: %v", again, err)
		}
		if m2.Order != m.Order || m2.Type != m.Type || m2.Flags != m.Flags || m2.Serial != m.Serial ||
			m2.Path != m.Path || m2.Interface != m.Interface || m2.Member != m.Member ||
			m2.ErrorName != m.ErrorName || m2.ReplySerial != m.ReplySerial ||
			m2.Destination != m.Destination || m2.Sender != m.Sender || m2.Signature != m.Signature ||
			m2.UnixFDs != m.UnixFDs || !bytes.Equal(m2.Body, m.Body) {
			t.Fatalf("re-encoded message decodes as %+v, want %+v", m2, m)
		}
	})
}

// FuzzUnmarshal checks that Unmarshal and ValidateBody agree on every body, and that Marshal
// reproduces the exact bytes of every body they accept.
func FuzzUnmarshal(f *testing.F) {
	for _, b := range fuzzBodies() {
		f.Add(string(b.sig), b.o == wire.BigEndian, b.body)
	}
	f.Fuzz(func(t *testing.T, sig string, big bool, body []byte) {
		o := wire.LittleEndian
		if big {
			o = wire.BigEndian
		}
		vals, uerr := wire.Unmarshal(body, o, wire.Signature(sig))
		verr := wire.ValidateBody(body, o, wire.Signature(sig), math.MaxInt)
		if (uerr == nil) != (verr == nil) {
			t.Fatalf("Unmarshal and ValidateBody disagree on %x as %q: %v / %v", body, sig, uerr, verr)
		}
		if uerr != nil {
			var de *wire.DecodeError
			var se *wire.SignatureError
			if !errors.As(uerr, &de) && !errors.As(uerr, &se) {
				t.Fatalf("Unmarshal error %v (%T) is neither a DecodeError nor a SignatureError", uerr, uerr)
			}
			return
		}
		out, err := wire.Marshal(o, wire.Signature(sig), vals...)
		if err != nil || !bytes.Equal(out, body) {
			t.Fatalf("Marshal of %#v as %q = %x, %v; want %x", vals, sig, out, err, body)
		}
	})
}

// FuzzParseSignature checks that ValidateSignature, ParseSignature and SplitSignature agree,
// and that the parsed types spell the signature.
func FuzzParseSignature(f *testing.F) {
	for _, s := range []string{
		"", "y", "a{sv}", "(ia(yv))aay", "a{vs}", "(s", "a{sss}", "()", strings.Repeat("a", 33) + "y",
		strings.Repeat("(", 32) + "y" + strings.Repeat(")", 32),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		verr := wire.ValidateSignature(s)
		types, perr := wire.ParseSignature(s)
		parts, serr := wire.SplitSignature(s)
		if (verr == nil) != (perr == nil) || (verr == nil) != (serr == nil) {
			t.Fatalf("%q: ValidateSignature %v, ParseSignature %v, SplitSignature %v", s, verr, perr, serr)
		}
		if verr != nil {
			var se *wire.SignatureError
			if !errors.As(verr, &se) || se.Sig != s || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("%q: error %#v", s, verr)
			}
			return
		}
		if len(s) > wire.MaxSignatureLength {
			t.Fatalf("%q: accepted a signature of %d bytes", s, len(s))
		}
		if got := string(wire.JoinTypes(types)); got != s {
			t.Fatalf("%q: the parsed types join to %q", s, got)
		}
		if got := strings.Join(parts, ""); got != s || len(parts) != len(types) {
			t.Fatalf("%q: SplitSignature gave %q", s, parts)
		}
		for i, tp := range types {
			if string(tp.Sig) != parts[i] {
				t.Fatalf("%q: type %d is %q, SplitSignature says %q", s, i, tp.Sig, parts[i])
			}
			checkType(t, tp)
			single, err := wire.ParseType(parts[i])
			if err != nil || !reflect.DeepEqual(single, tp) {
				t.Fatalf("%q: ParseType(%q) = %v, %v", s, parts[i], single, err)
			}
		}
	})
}

// checkType checks that every node of a parsed type spells its signature from its children.
func checkType(t *testing.T, tp *wire.Type) {
	t.Helper()
	var want string
	switch tp.Code {
	case wire.TypeArray:
		checkType(t, tp.Elem)
		want = "a" + string(tp.Elem.Sig)
	case wire.TypeStruct, wire.TypeDictEntry:
		open, closer := "(", ")"
		if tp.Code == wire.TypeDictEntry {
			open, closer = "{", "}"
			if len(tp.Fields) != 2 || !wire.IsBasic(tp.Fields[0].Code) {
				t.Fatalf("dict entry %q has fields %v", tp.Sig, tp.Fields)
			}
		}
		var b strings.Builder
		for _, f := range tp.Fields {
			checkType(t, f)
			b.WriteString(string(f.Sig))
		}
		want = open + b.String() + closer
	default:
		if !wire.IsBasic(tp.Code) && tp.Code != wire.TypeVariant {
			t.Fatalf("type %q has code %q", tp.Sig, tp.Code)
		}
		want = string(tp.Code)
	}
	if string(tp.Sig) != want || tp.Align() == 0 {
		t.Fatalf("type %q (code %q, alignment %d) should spell %q", tp.Sig, tp.Code, tp.Align(), want)
	}
}
