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

// layoutTests are bodies whose exact bytes the specification fixes, in both byte orders.
var layoutTests = []struct {
	name   string
	sig    wire.Signature
	vals   []any
	le, be string
}{
	{"empty at keeps its padding", "at", []any{[]any{}},
		"00000000 00000000", "00000000 00000000"},
	{"empty at after u needs no padding", "uat", []any{uint32(1), []any{}},
		"01000000 00000000", "00000001 00000000"},
	{"empty a(x) followed by a value", "a(x)y", []any{[]any{}, byte(7)},
		"00000000 00000000 07", "00000000 00000000 07"},
	{"empty a(x) after y", "ya(x)y", []any{byte(1), []any{}, byte(9)},
		"01000000 00000000 09", "01000000 00000000 09"},
	{"empty ai has no element padding", "ai", []any{[]any{}},
		"00000000", "00000000"},
	{"empty a{sv} keeps its padding", "a{sv}", []any{[]wire.DictEntry{}},
		"00000000 00000000", "00000000 00000000"},
	{"array length excludes the padding before the first element", "a(y)", []any{[]any{wire.Struct{byte(5)}}},
		"01000000 00000000 05", "00000001 00000000 05"},
	{"array length includes padding between elements", "a(yy)", []any{[]any{wire.Struct{byte(1), byte(2)}, wire.Struct{byte(3), byte(4)}}},
		"0a000000 00000000 0102 000000000000 0304", "0000000a 00000000 0102 000000000000 0304"},
	{"at after y", "yat", []any{byte(1), []any{uint64(math.MaxUint64)}},
		"01000000 08000000 ffffffffffffffff", "01000000 00000008 ffffffffffffffff"},
	{"ax", "ax", []any{[]any{int64(1)}},
		"08000000 00000000 0100000000000000", "00000008 00000000 0000000000000001"},
	{"dict entry with a variant", "a{yv}", []any{[]wire.DictEntry{{Key: byte(1), Value: wire.Variant{Sig: "s", Value: "hi"}}}},
		"0b000000 00000000 01 017300 02000000 686900", "0000000b 00000000 01 017300 00000002 686900"},
	{"struct aligns to 8", "y(y)", []any{byte(1), wire.Struct{byte(2)}},
		"01 00000000000000 02", "01 00000000000000 02"},
	{"variant holding ax aligns its value after the signature", "v", []any{wire.Variant{Sig: "ax", Value: []any{int64(1)}}},
		"02617800 08000000 0100000000000000", "02617800 00000008 0000000000000001"},
	{"variant holding an empty a(x)", "yv", []any{byte(1), wire.Variant{Sig: "a(x)", Value: []any{}}},
		"01 04 61287829 00 00 00000000 00000000", "01 04 61287829 00 00 00000000 00000000"},
	{"boolean, int16, double", "bnd", []any{true, int16(-2), 1.0},
		"01000000 feff 0000 000000000000f03f", "00000001 fffe 0000 3ff0000000000000"},
	{"string and signature", "sg", []any{"hi", wire.Signature("a{sv}")},
		"02000000 686900 05617b73767d00", "00000002 686900 05617b73767d00"},
	{"object path", "o", []any{wire.ObjectPath("/a")},
		"02000000 2f6100", "00000002 2f6100"},
	{"unix fd index", "yh", []any{byte(1), wire.UnixFD(3)},
		"01000000 03000000", "01000000 00000003"},
	{"uint16 and uint64 extremes", "qt", []any{uint16(math.MaxUint16), uint64(math.MaxUint64)},
		"ffff 000000000000 ffffffffffffffff", "ffff 000000000000 ffffffffffffffff"},
	{"multibyte UTF-8 string", "s", []any{"é漢😀"},
		"09000000 c3a9e6bca2f09f9880 00", "00000009 c3a9e6bca2f09f9880 00"},
	{"array of byte arrays", "aay", []any{[]any{[]byte{1, 2}, []byte{}}},
		"0c000000 02000000 0102 0000 00000000", "0000000c 00000002 0102 0000 00000000"},
}

func TestLayout(t *testing.T) {
	for _, tt := range layoutTests {
		for _, o := range orders {
			want := unhex(tt.le)
			if o == wire.BigEndian {
				want = unhex(tt.be)
			}
			t.Run(tt.name+"/"+o.String(), func(t *testing.T) {
				got, err := wire.Marshal(o, tt.sig, tt.vals...)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("Marshal(%q) = %x, %v; want %x", tt.sig, got, err, want)
				}
				vals, err := wire.Unmarshal(want, o, tt.sig)
				if err != nil || !reflect.DeepEqual(vals, tt.vals) {
					t.Fatalf("Unmarshal(%x, %q) = %#v, %v; want %#v", want, tt.sig, vals, err, tt.vals)
				}
				if err := wire.ValidateBody(want, o, tt.sig, wire.MaxUnixFDs); err != nil {
					t.Fatalf("ValidateBody(%x, %q) = %v", want, tt.sig, err)
				}
			})
		}
	}
}

// invalidBodies are bodies that Unmarshal and ValidateBody must both refuse, with an error
// that wraps ErrTruncated exactly when truncated is set.
var invalidBodies = []struct {
	name      string
	sig       wire.Signature
	order     wire.ByteOrder
	body      string
	truncated bool
}{
	{"boolean 2", "b", wire.LittleEndian, "02000000", false},
	{"boolean 2 big-endian", "b", wire.BigEndian, "00000002", false},
	{"boolean 1 in the wrong byte order", "b", wire.BigEndian, "01000000", false},
	{"invalid UTF-8", "s", wire.LittleEndian, "02000000 c328 00", false},
	{"UTF-16 surrogate in UTF-8", "s", wire.BigEndian, "00000003 eda080 00", false},
	{"overlong UTF-8", "s", wire.LittleEndian, "02000000 c0af 00", false},
	{"embedded NUL", "s", wire.LittleEndian, "03000000 610062 00", false},
	{"missing NUL terminator", "s", wire.LittleEndian, "02000000 6162 01", false},
	{"string longer than the body", "s", wire.LittleEndian, "05000000 6162 00", true},
	{"string without room for its NUL", "s", wire.BigEndian, "00000002 6162", true},
	{"non-zero padding before u", "yu", wire.LittleEndian, "01 010000 05000000", false},
	{"non-zero padding before x", "yx", wire.BigEndian, "01 00000000000001 0000000000000005", false},
	{"non-zero padding of an empty at", "at", wire.LittleEndian, "00000000 00000001", false},
	{"non-zero padding before a struct", "y(y)", wire.LittleEndian, "01 00000000000100 02", false},
	{"non-zero padding after a variant signature", "v", wire.LittleEndian, "01 75 00 01 05000000", false},
	{"missing padding of an empty at", "at", wire.LittleEndian, "00000000", true},
	{"missing padding of an empty a{sv}", "a{sv}", wire.BigEndian, "00000000", true},
	{"array length not a multiple of the element size", "ai", wire.LittleEndian, "06000000 01020304 0506 0000", false},
	{"array elements overrun the declared length", "a(x)", wire.LittleEndian, "04000000 00000000 0100000000000000", false},
	{"oversize ai", "ai", wire.LittleEndian, "01000004", false},
	{"oversize ay", "ay", wire.BigEndian, "04000001", false},
	{"oversize a{sv}", "a{sv}", wire.LittleEndian, "ffffffff", false},
	{"64 MiB ai cut short", "ai", wire.LittleEndian, "00000004 00000000", true},
	{"unknown type code in a variant", "v", wire.LittleEndian, "01 7a 00", false},
	{"empty variant signature", "v", wire.LittleEndian, "00 00", false},
	{"two types in a variant signature", "v", wire.LittleEndian, "02 7979 00 01 02", false},
	{"variant signature without NUL", "v", wire.LittleEndian, "01 79 01 05", false},
	{"invalid signature value", "g", wire.LittleEndian, "01 61 00", false},
	{"signature value longer than the body", "g", wire.LittleEndian, "05 6100", true},
	{"invalid object path", "o", wire.LittleEndian, "03000000 2f612f 00", false},
	{"empty object path", "o", wire.BigEndian, "00000000 00", false},
	{"body longer than its signature", "y", wire.LittleEndian, "01 02", false},
	{"bytes for an empty signature", "", wire.LittleEndian, "00", false},
	{"truncated x", "x", wire.LittleEndian, "01020304", true},
	{"truncated u", "u", wire.BigEndian, "010203", true},
	{"empty body for y", "y", wire.LittleEndian, "", true},
	{"truncated struct", "(yy)", wire.LittleEndian, "01", true},
	{"truncated array", "ai", wire.LittleEndian, "08000000 01000000", true},
}

func TestInvalidBodies(t *testing.T) {
	for _, tt := range invalidBodies {
		t.Run(tt.name, func(t *testing.T) {
			body := unhex(tt.body)
			_, uerr := wire.Unmarshal(body, tt.order, tt.sig)
			verr := wire.ValidateBody(body, tt.order, tt.sig, wire.MaxUnixFDs)
			for _, err := range []error{uerr, verr} {
				var de *wire.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("got %v, want a *DecodeError (Unmarshal: %v, ValidateBody: %v)", err, uerr, verr)
				}
				if errors.Is(err, wire.ErrTruncated) != tt.truncated {
					t.Errorf("%v: wraps ErrTruncated = %t, want %t", err, !tt.truncated, tt.truncated)
				}
			}
		})
	}
}

// appendVariants appends n nested variants around an int32, by hand.
func appendVariants(r *raw, n int) {
	for range n - 1 {
		r.sig("v")
	}
	r.sig("i").u32(7)
}

// nestedVariants returns a body of signature v holding n nested variants around an int32,
// and the same value for Marshal.
func nestedVariants(o wire.ByteOrder, n int) ([]byte, wire.Variant) {
	r := newRaw(o)
	appendVariants(r, n)
	var v any = int32(7)
	sig := wire.Signature("i")
	for range n {
		v = wire.Variant{Sig: sig, Value: v}
		sig = "v"
	}
	return r.b, v.(wire.Variant)
}

func TestVariantNesting(t *testing.T) {
	for _, o := range orders {
		body, v := nestedVariants(o, wire.MaxTotalDepth)
		if err := wire.ValidateBody(body, o, "v", 0); err != nil {
			t.Errorf("%s: ValidateBody of %d nested variants: %v", o, wire.MaxTotalDepth, err)
		}
		got, err := wire.Unmarshal(body, o, "v")
		if err != nil || !reflect.DeepEqual(got, []any{v}) {
			t.Errorf("%s: Unmarshal of %d nested variants = %v, %v", o, wire.MaxTotalDepth, got, err)
		}
		if enc, err := wire.Marshal(o, "v", v); err != nil || !bytes.Equal(enc, body) {
			t.Errorf("%s: Marshal of %d nested variants = %x, %v; want %x", o, wire.MaxTotalDepth, enc, err, body)
		}

		body, v = nestedVariants(o, wire.MaxTotalDepth+1)
		if err := wire.ValidateBody(body, o, "v", 0); err == nil {
			t.Errorf("%s: ValidateBody accepted %d nested variants", o, wire.MaxTotalDepth+1)
		}
		if _, err := wire.Unmarshal(body, o, "v"); err == nil {
			t.Errorf("%s: Unmarshal accepted %d nested variants", o, wire.MaxTotalDepth+1)
		}
		if _, err := wire.Marshal(o, "v", v); err == nil {
			t.Errorf("%s: Marshal accepted %d nested variants", o, wire.MaxTotalDepth+1)
		}
	}

	// Containers of the signature count too. In av the variants start at depth 2, in a{yv}
	// at depth 3 (array, dict entry).
	for _, tt := range []struct {
		sig      wire.Signature
		variants int
		ok       bool
	}{
		{"av", wire.MaxTotalDepth - 1, true},
		{"av", wire.MaxTotalDepth, false},
		{"a{yv}", wire.MaxTotalDepth - 2, true},
		{"a{yv}", wire.MaxTotalDepth - 1, false},
	} {
		for _, o := range orders {
			r := newRaw(o).u32(0)
			dict := tt.sig == "a{yv}"
			if dict {
				r.pad(8)
			}
			start := len(r.b)
			if dict {
				r.bytes(1)
			}
			appendVariants(r, tt.variants)
			r.order.PutUint32(r.b, uint32(len(r.b)-start))
			verr := wire.ValidateBody(r.b, o, tt.sig, 0)
			_, uerr := wire.Unmarshal(r.b, o, tt.sig)
			if (verr == nil) != tt.ok || (uerr == nil) != tt.ok {
				t.Errorf("%s %q holding %d nested variants: ValidateBody %v, Unmarshal %v; want success %t", o, tt.sig, tt.variants, verr, uerr, tt.ok)
			}
		}
	}
}

func TestSignatureNesting(t *testing.T) {
	deep := func(arrays, structs int) string {
		return strings.Repeat("a", arrays) + strings.Repeat("(", structs) + "y" + strings.Repeat(")", structs)
	}
	dicts := func(n int) string {
		return strings.Repeat("a{s", n) + "y" + strings.Repeat("}", n)
	}
	for _, tt := range []struct {
		sig string
		ok  bool
	}{
		{deep(32, 0), true},
		{deep(33, 0), false},
		{deep(0, 32), true},
		{deep(0, 33), false},
		{deep(32, 32), true},
		{deep(32, 33), false},
		{deep(33, 32), false},
		{dicts(32), true},
		{dicts(33), false},
		{"(" + dicts(32) + ")", false},
		{"a" + dicts(31) + "", true},
		{"a" + dicts(32), false},
	} {
		err := wire.ValidateSignature(tt.sig)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateSignature(%q) = %v, want success %t", tt.sig, err, tt.ok)
		}
	}

	// A value at the deepest nesting the signature allows round-trips: 32 arrays and 32
	// structs put the innermost byte inside 64 containers.
	sig := deep(wire.MaxArrayDepth, wire.MaxStructDepth)
	var v any = byte(7)
	for range wire.MaxStructDepth {
		v = wire.Struct{v}
	}
	for range wire.MaxArrayDepth {
		v = []any{v}
	}
	for _, o := range orders {
		body, err := wire.Marshal(o, wire.Signature(sig), v)
		if err != nil {
			t.Fatalf("%s: Marshal of the deepest value: %v", o, err)
		}
		got, err := wire.Unmarshal(body, o, wire.Signature(sig))
		if err != nil || !reflect.DeepEqual(got, []any{v}) {
			t.Fatalf("%s: Unmarshal of the deepest value = %v, %v", o, got, err)
		}
	}
}

func TestSignatures(t *testing.T) {
	valid := []string{
		"", "y", "ybnqiuxtdsoghv", strings.Repeat("i", wire.MaxSignatureLength), "a{sv}", "a{yv}",
		"a{bs}", "a{ns}", "a{qs}", "a{is}", "a{us}", "a{xs}", "a{ts}", "a{ds}", "a{os}", "a{gs}", "a{hs}",
		"(i)", "((i))", "aai", "a(a{sv}as)", "a{s(ii)}", "a{sa{sv}}", "aa{sv}", "(yv)a(yv)",
	}
	for _, s := range valid {
		if err := wire.ValidateSignature(s); err != nil {
			t.Errorf("ValidateSignature(%q) = %v", s, err)
		}
	}
	invalid := []struct{ sig, reason string }{
		{strings.Repeat("i", wire.MaxSignatureLength+1), "longer than 255"},
		{"()", "empty struct"},
		{"a", "ends where a complete type is required"},
		{"aa", "ends where a complete type is required"},
		{"a{vs}", "key must be a basic type"},
		{"a{(s)s}", "key must be a basic type"},
		{"a{ass}", "key must be a basic type"},
		{"{ss}", "outside an array"},
		{"a{s}", "needs a value type"},
		{"a{}", "key must be a basic type"},
		{"a{", "not closed"},
		{"a{sss}", "exactly a key and a value"},
		{"a{sv", "exactly a key and a value"},
		{"(s", "not closed"},
		{"s)", "unbalanced"},
		{"}", "unbalanced"},
		{"(ss))", "unbalanced"},
		{"z", "unknown type code"},
		{"r", "unknown type code"},
		{"e", "unknown type code"},
		{"(i\x00)", "unknown type code"},
		{"a{sa}", "unbalanced"},
	}
	for _, tt := range invalid {
		err := wire.ValidateSignature(tt.sig)
		var se *wire.SignatureError
		if !errors.As(err, &se) || !strings.Contains(se.Reason, tt.reason) {
			t.Errorf("ValidateSignature(%q) = %v, want a SignatureError about %q", tt.sig, err, tt.reason)
			continue
		}
		if _, err := wire.ParseSignature(tt.sig); err == nil {
			t.Errorf("ParseSignature(%q) accepted an invalid signature", tt.sig)
		}
		if _, err := wire.SplitSignature(tt.sig); err == nil {
			t.Errorf("SplitSignature(%q) accepted an invalid signature", tt.sig)
		}
		if _, err := wire.Unmarshal(nil, wire.LittleEndian, wire.Signature(tt.sig)); err == nil {
			t.Errorf("Unmarshal with signature %q accepted it", tt.sig)
		}
	}

	for _, tt := range []struct {
		sig string
		ok  bool
	}{
		{"", false}, {"ss", false}, {"a{sv}", true}, {"(ss)", true}, {"v", true}, {"a", false},
		{"(" + strings.Repeat("i", wire.MaxSignatureLength-2) + ")", true},
		{"(" + strings.Repeat("i", wire.MaxSignatureLength-1) + ")", false},
	} {
		if err := wire.ValidateSingle(tt.sig); (err == nil) != tt.ok {
			t.Errorf("ValidateSingle(%q) = %v, want success %t", tt.sig, err, tt.ok)
		}
	}
}

func TestParseSignature(t *testing.T) {
	types, err := wire.ParseSignature("sa{sv}(ia(yv))aay")
	if err != nil {
		t.Fatal(err)
	}
	var sigs []string
	for _, tp := range types {
		sigs = append(sigs, tp.String())
	}
	if want := []string{"s", "a{sv}", "(ia(yv))", "aay"}; !reflect.DeepEqual(sigs, want) {
		t.Fatalf("ParseSignature gave %q, want %q", sigs, want)
	}
	dict := types[1]
	if !dict.IsDict() || dict.Elem.Code != wire.TypeDictEntry || len(dict.Elem.Fields) != 2 ||
		dict.Elem.Fields[0].Code != wire.TypeString || dict.Elem.Fields[1].Code != wire.TypeVariant || dict.Align() != 4 {
		t.Errorf("a{sv} parsed as %+v", dict)
	}
	st := types[2]
	if st.Code != wire.TypeStruct || len(st.Fields) != 2 || st.Fields[1].Sig != "a(yv)" || st.Align() != 8 || st.IsDict() {
		t.Errorf("(ia(yv)) parsed as %+v", st)
	}
	if got := wire.JoinTypes(types); got != "sa{sv}(ia(yv))aay" {
		t.Errorf("JoinTypes = %q", got)
	}
	if _, err := wire.ParseType("ss"); err == nil {
		t.Error("ParseType accepted two types")
	}
}

// headerTests are hand-built messages for DecodeMessage; err is a substring of the error it
// must give, or empty if it must accept the message.
func headerTests() []struct {
	name string
	buf  func(wire.ByteOrder) []byte
	err  string
} {
	call := func(extra ...field) []field {
		return append([]field{pathField("/a/b"), strField(wire.FieldMember, "M")}, extra...)
	}
	msg := func(typ wire.MessageType, serial uint32, fields []field, body []byte) func(wire.ByteOrder) []byte {
		return func(o wire.ByteOrder) []byte { return rawMessage(o, typ, serial, fields, body) }
	}
	patched := func(at int, b byte, typ wire.MessageType, fields []field) func(wire.ByteOrder) []byte {
		return func(o wire.ByteOrder) []byte {
			buf := rawMessage(o, typ, 1, fields, nil)
			buf[at] = b
			return buf
		}
	}
	return []struct {
		name string
		buf  func(wire.ByteOrder) []byte
		err  string
	}{
		{"method call", msg(wire.MethodCall, 1, call(), nil), ""},
		{"method return", msg(wire.MethodReturn, 2, []field{u32Field(wire.FieldReplySerial, 1)}, nil), ""},
		{"error", msg(wire.Error, 3, []field{strField(wire.FieldErrorName, "org.example.Failed"), u32Field(wire.FieldReplySerial, 1)}, nil), ""},
		{"signal", msg(wire.Signal, 4, call(strField(wire.FieldInterface, "org.example.I")), nil), ""},
		{"unknown message type", msg(7, 5, nil, nil), ""},
		{"all fields", msg(wire.MethodCall, math.MaxUint32, call(
			strField(wire.FieldInterface, "org.example.I"), strField(wire.FieldDestination, "org.example.S"),
			strField(wire.FieldSender, ":1.42"), sigField("u"), u32Field(wire.FieldUnixFDs, 1),
			u32Field(wire.FieldReplySerial, 9), strField(wire.FieldErrorName, "a.b")), []byte{0, 0, 0, 0}), ""},
		{"unknown field ignored", msg(wire.MethodCall, 1, call(strField(10, "whatever")), nil), ""},
		{"unknown field with a container value ignored", msg(wire.MethodCall, 1, call(field{200, "a{sv}", func(r *raw) {
			lenAt := len(r.pad(4).b)
			r.u32(0).pad(8)
			start := len(r.b)
			r.str("k").sig("y").bytes(1)
			r.order.PutUint32(r.b[lenAt:], uint32(len(r.b)-start))
		}}), nil), ""},
		{"unknown field with an invalid value", msg(wire.MethodCall, 1, call(field{10, "s", func(r *raw) { r.str("\xff") }}), nil), "UTF-8"},
		{"unknown field with an invalid signature", msg(wire.MethodCall, 1, call(field{10, "ii", func(r *raw) { r.u32(1).u32(2) }}), nil), "header field 10"},
		{"field code 0", msg(wire.MethodCall, 1, call(strField(0, "x")), nil), "code 0"},
		{"serial 0", msg(wire.MethodCall, 0, call(), nil), "serial"},
		{"message type 0", msg(0, 1, call(), nil), "type 0"},
		{"call without PATH", msg(wire.MethodCall, 1, []field{strField(wire.FieldMember, "M")}, nil), "PATH"},
		{"call without MEMBER", msg(wire.MethodCall, 1, []field{pathField("/")}, nil), "MEMBER"},
		{"return without REPLY_SERIAL", msg(wire.MethodReturn, 1, nil, nil), "REPLY_SERIAL"},
		{"error without ERROR_NAME", msg(wire.Error, 1, []field{u32Field(wire.FieldReplySerial, 1)}, nil), "ERROR_NAME"},
		{"error without REPLY_SERIAL", msg(wire.Error, 1, []field{strField(wire.FieldErrorName, "a.b")}, nil), "REPLY_SERIAL"},
		{"signal without INTERFACE", msg(wire.Signal, 1, call(), nil), "INTERFACE"},
		{"signal without PATH", msg(wire.Signal, 1, []field{strField(wire.FieldMember, "M"), strField(wire.FieldInterface, "a.b")}, nil), "PATH"},
		{"signal without MEMBER", msg(wire.Signal, 1, []field{pathField("/"), strField(wire.FieldInterface, "a.b")}, nil), "MEMBER"},
		{"REPLY_SERIAL 0", msg(wire.MethodReturn, 1, []field{u32Field(wire.FieldReplySerial, 0)}, nil), "REPLY_SERIAL is 0"},
		{"PATH as a string", msg(wire.MethodCall, 1, []field{strField(wire.FieldPath, "/a"), strField(wire.FieldMember, "M")}, nil), "type \"s\", must be 'o'"},
		{"MEMBER as an object path", msg(wire.MethodCall, 1, []field{pathField("/a"), {wire.FieldMember, "o", func(r *raw) { r.str("/M") }}}, nil), "must be 's'"},
		{"REPLY_SERIAL as int32", msg(wire.MethodReturn, 1, []field{{wire.FieldReplySerial, "i", func(r *raw) { r.u32(1) }}}, nil), "must be 'u'"},
		{"SIGNATURE as a string", msg(wire.MethodCall, 1, call(strField(wire.FieldSignature, "")), nil), "must be 'g'"},
		{"UNIX_FDS as a variant", msg(wire.MethodCall, 1, call(field{wire.FieldUnixFDs, "v", func(r *raw) { r.sig("u").u32(1) }}), nil), "must be 'u'"},
		{"duplicate MEMBER", msg(wire.MethodCall, 1, call(strField(wire.FieldMember, "M")), nil), "appears twice"},
		{"duplicate SIGNATURE", msg(wire.MethodCall, 1, call(sigField(""), sigField("")), nil), "appears twice"},
		{"invalid path", msg(wire.MethodCall, 1, []field{pathField("/a/"), strField(wire.FieldMember, "M")}, nil), "object path"},
		{"invalid member", msg(wire.MethodCall, 1, []field{pathField("/a"), strField(wire.FieldMember, "1M")}, nil), "member name"},
		{"invalid interface", msg(wire.MethodCall, 1, call(strField(wire.FieldInterface, "noDots")), nil), "interface name"},
		{"invalid error name", msg(wire.Error, 1, []field{strField(wire.FieldErrorName, "a..b"), u32Field(wire.FieldReplySerial, 1)}, nil), "error name"},
		{"invalid destination", msg(wire.MethodCall, 1, call(strField(wire.FieldDestination, "org.1x")), nil), "bus name"},
		{"invalid sender", msg(wire.MethodCall, 1, call(strField(wire.FieldSender, ":1")), nil), "unique name"},
		{"invalid signature field", msg(wire.MethodCall, 1, call(sigField("a")), nil), "signature"},
		{"local path", msg(wire.MethodCall, 1, []field{pathField(wire.LocalPath), strField(wire.FieldMember, "M")}, nil), "reserved"},
		{"local interface", msg(wire.Signal, 1, call(strField(wire.FieldInterface, wire.LocalInterface)), nil), "reserved"},
		{"body without SIGNATURE", msg(wire.MethodCall, 1, call(), []byte{1}), "no SIGNATURE"},
		{"unknown byte order", patched(0, 'x', wire.MethodCall, call()), "byte order"},
		{"lower-case byte order B", patched(0, 'b', wire.MethodCall, call()), "byte order"},
		{"protocol version 0", patched(3, 0, wire.MethodCall, call()), "protocol version"},
		{"protocol version 2", patched(3, 2, wire.MethodCall, call()), "protocol version"},
		{"non-zero padding before the body", func(o wire.ByteOrder) []byte {
			buf := rawMessage(o, wire.MethodCall, 1, call(sigField("y")), []byte{5})
			buf[len(buf)-2] = 1
			return buf
		}, "padding"},
	}
}

func TestDecodeMessageHeader(t *testing.T) {
	for _, tt := range headerTests() {
		for _, o := range orders {
			t.Run(tt.name+"/"+o.String(), func(t *testing.T) {
				buf := tt.buf(o)
				m, err := wire.DecodeMessage(buf)
				if tt.err == "" {
					if err != nil {
						t.Fatalf("DecodeMessage(%x): %v", buf, err)
					}
					if m.Order != o {
						t.Errorf("Order = %v, want %v", m.Order, o)
					}
					// The message encodes again, to a message that decodes the same.
					again, err := m.AppendTo(nil)
					if err != nil {
						t.Fatalf("AppendTo: %v", err)
					}
					m2, err := wire.DecodeMessage(again)
					if err != nil || !reflect.DeepEqual(m, m2) {
						t.Fatalf("re-encoded message decodes as %+v, %v; want %+v", m2, err, m)
					}
					return
				}
				if err == nil {
					t.Fatalf("DecodeMessage(%x) accepted the message: %v", buf, m)
				}
				if !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("DecodeMessage(%x) = %v, want an error about %q", buf, err, tt.err)
				}
			})
		}
	}
}

func TestDecodeMessageFields(t *testing.T) {
	for _, o := range orders {
		body := newRaw(o).str("hi").u32(0).b
		buf := rawMessage(o, wire.Signal, 77, []field{
			strField(wire.FieldSender, ":1.9"), strField(wire.FieldMember, "Changed"), pathField("/org/x"),
			u32Field(wire.FieldUnixFDs, 1), strField(wire.FieldInterface, "org.x.Y"), sigField("sh"),
			strField(wire.FieldDestination, "org.x"),
		}, body)
		buf[2] = byte(wire.FlagNoAutoStart | wire.FlagNoReplyExpected)
		m, err := wire.DecodeMessage(buf)
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		want := &wire.Message{
			Order: o, Type: wire.Signal, Flags: wire.FlagNoAutoStart | wire.FlagNoReplyExpected, Serial: 77,
			Path: "/org/x", Interface: "org.x.Y", Member: "Changed", Destination: "org.x", Sender: ":1.9",
			Signature: "sh", UnixFDs: 1, Body: body,
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("%s: decoded %+v, want %+v", o, m, want)
		}
		if &m.Body[0] != &buf[len(buf)-len(body)] {
			t.Errorf("%s: Body does not alias the decoded buffer", o)
		}
		if err := m.ValidateBody(); err != nil {
			t.Errorf("%s: ValidateBody: %v", o, err)
		}
		// The header's strings are copies: reusing the buffer does not change them.
		clear(buf[:len(buf)-len(body)])
		if m.Path != "/org/x" || m.Member != "Changed" || m.Sender != ":1.9" || m.Signature != "sh" {
			t.Errorf("%s: the header's strings changed with the buffer: %+v", o, m)
		}
		if got := m.String(); got != "signal serial=77 sender=:1.9 destination=org.x path=/org/x interface=org.x.Y member=Changed signature=sh unix_fds=1" {
			t.Errorf("String() = %q", got)
		}
	}
}

func TestMessageSizeLimits(t *testing.T) {
	for _, o := range orders {
		base := rawMessage(o, wire.MethodCall, 1, []field{pathField("/"), strField(wire.FieldMember, "M"), sigField("ay")}, nil)
		r := newRaw(o)
		withLengths := func(body, fields uint32) []byte {
			buf := bytes.Clone(base)
			r.order.PutUint32(buf[4:], body)
			if fields != 0 {
				r.order.PutUint32(buf[12:], fields)
			}
			return buf
		}
		header := uint32(len(base))
		if n, err := wire.MessageLength(withLengths(wire.MaxMessageSize-header, 0)); err != nil || n != wire.MaxMessageSize {
			t.Errorf("%s: MessageLength of a message of exactly the maximum size = %d, %v", o, n, err)
		}
		for _, tt := range []struct {
			name string
			buf  []byte
			err  string
		}{
			{"one byte over 128 MiB", withLengths(wire.MaxMessageSize-header+1, 0), "exceeds the limit"},
			{"4 GiB body", withLengths(math.MaxUint32, 0), "exceeds the limit"},
			{"header fields over 64 MiB", withLengths(0, wire.MaxArraySize+1), "exceeds the array limit"},
		} {
			_, err := wire.MessageLength(tt.buf)
			var de *wire.DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.err) || errors.Is(err, wire.ErrTruncated) {
				t.Errorf("%s %s: MessageLength = %v, want a DecodeError about %q", o, tt.name, err, tt.err)
			}
			if _, err := wire.DecodeMessage(tt.buf); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s %s: DecodeMessage = %v, want an error about %q", o, tt.name, err, tt.err)
			}
		}
	}

	// The encoder refuses to build an oversized message.
	m := &wire.Message{Order: wire.LittleEndian, Type: wire.MethodReturn, Serial: 1, ReplySerial: 1, Signature: "ay"}
	if _, err := m.AppendHeader(nil, wire.MaxMessageSize); err == nil {
		t.Error("AppendHeader accepted a body of 128 MiB")
	}
}

// truncationMessage returns a valid message with a body that exercises every kind of value.
func truncationMessage(t *testing.T, o wire.ByteOrder) []byte {
	t.Helper()
	const sig = "sa{sv}ai(xs)ya(x)vgohbnqtdaay"
	body, err := wire.Marshal(o, sig,
		"héllo",
		[]wire.DictEntry{{Key: "a", Value: wire.Variant{Sig: "u", Value: uint32(1)}}, {Key: "b", Value: wire.Variant{Sig: "as", Value: []any{"x", "yz"}}}},
		[]any{int32(1), int32(-2)},
		wire.Struct{int64(-3), "st"},
		byte(9),
		[]any{},
		wire.Variant{Sig: "(yv)", Value: wire.Struct{byte(1), wire.Variant{Sig: "d", Value: 2.5}}},
		wire.Signature("a{sv}"),
		wire.ObjectPath("/p/q"),
		wire.UnixFD(0),
		true, int16(-1), uint16(2), uint64(3), 4.5,
		[]any{[]byte{1, 2, 3}, []byte{}},
	)
	if err != nil {
		t.Fatal(err)
	}
	m := &wire.Message{
		Order: o, Type: wire.MethodCall, Serial: 5, Path: "/org/example", Interface: "org.example.I",
		Member: "Do", Destination: "org.example", Signature: sig, UnixFDs: 1, Body: body,
	}
	buf, err := m.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return buf
}

func TestTruncation(t *testing.T) {
	for _, o := range orders {
		buf := truncationMessage(t, o)
		m, err := wire.DecodeMessage(buf)
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if err := m.ValidateBody(); err != nil {
			t.Fatalf("%s: ValidateBody: %v", o, err)
		}
		for n := range len(buf) {
			_, err := wire.DecodeMessage(buf[:n])
			var de *wire.DecodeError
			if !errors.Is(err, wire.ErrTruncated) || !errors.As(err, &de) {
				t.Fatalf("%s: DecodeMessage of the first %d of %d bytes = %v, want a DecodeError wrapping ErrTruncated", o, n, len(buf), err)
			}
			if n >= wire.FixedHeaderSize {
				if l, err := wire.MessageLength(buf[:n]); err != nil || l != len(buf) {
					t.Fatalf("%s: MessageLength of %d bytes = %d, %v; want %d", o, n, l, err, len(buf))
				}
			}
		}
		if _, err := wire.DecodeMessage(append(bytes.Clone(buf), 0)); err == nil || errors.Is(err, wire.ErrTruncated) {
			t.Errorf("%s: DecodeMessage of the message plus one byte = %v, want a non-truncation error", o, err)
		}
		body := m.Body
		for n := range len(body) {
			_, uerr := wire.Unmarshal(body[:n], o, m.Signature)
			verr := wire.ValidateBody(body[:n], o, m.Signature, 1)
			for _, err := range []error{uerr, verr} {
				var de *wire.DecodeError
				if !errors.Is(err, wire.ErrTruncated) || !errors.As(err, &de) {
					t.Fatalf("%s: body cut to %d of %d bytes: %v, want a DecodeError wrapping ErrTruncated", o, n, len(body), err)
				}
			}
		}
	}
}

func TestUnixFDIndex(t *testing.T) {
	for _, o := range orders {
		for _, tt := range []struct {
			sig  wire.Signature
			val  func(wire.UnixFD) any
			nfds int
		}{
			{"h", func(h wire.UnixFD) any { return h }, 2},
			{"ah", func(h wire.UnixFD) any { return []any{wire.UnixFD(0), h} }, 2},
			{"(yh)", func(h wire.UnixFD) any { return wire.Struct{byte(0), h} }, 3},
			{"v", func(h wire.UnixFD) any { return wire.Variant{Sig: "h", Value: h} }, 1},
			{"a{hs}", func(h wire.UnixFD) any { return []wire.DictEntry{{Key: h, Value: ""}} }, 4},
		} {
			for _, h := range []wire.UnixFD{wire.UnixFD(tt.nfds - 1), wire.UnixFD(tt.nfds), math.MaxUint32} {
				body, err := wire.Marshal(o, tt.sig, tt.val(h))
				if err != nil {
					t.Fatal(err)
				}
				err = wire.ValidateBody(body, o, tt.sig, tt.nfds)
				if ok := int(h) < tt.nfds; (err == nil) != ok {
					t.Errorf("%s: ValidateBody(%q with h=%d, %d descriptors) = %v, want success %t", o, tt.sig, h, tt.nfds, err, ok)
				}
				if _, err := wire.Unmarshal(body, o, tt.sig); err != nil {
					t.Errorf("%s: Unmarshal(%q with h=%d) = %v: Unmarshal does not check indexes", o, tt.sig, h, err)
				}
				m := &wire.Message{Order: o, Type: wire.MethodReturn, Serial: 1, ReplySerial: 1, Signature: tt.sig, UnixFDs: uint32(tt.nfds), Body: body}
				if err := m.ValidateBody(); (err == nil) != (int(h) < tt.nfds) {
					t.Errorf("%s: Message.ValidateBody with h=%d and UNIX_FDS=%d = %v", o, h, tt.nfds, err)
				}
			}
		}
	}
}

func TestBodyLongerThanSignature(t *testing.T) {
	for _, o := range orders {
		body := append(newRaw(o).str("x").b, 0)
		_, uerr := wire.Unmarshal(body, o, "s")
		verr := wire.ValidateBody(body, o, "s", 0)
		d := wire.NewDecoder(body, o)
		d.StringBytes()
		derr := d.Done()
		for _, err := range []error{uerr, verr, derr} {
			var de *wire.DecodeError
			if !errors.As(err, &de) || errors.Is(err, wire.ErrTruncated) || !strings.Contains(de.Reason, "longer than its signature") {
				t.Errorf("%s: got %v, want a DecodeError about data longer than its signature", o, err)
			}
		}
	}
}

func TestObjectPaths(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/b", "/org/freedesktop/DBus", "/_", "/0", "/A_z9/x", "/" + strings.Repeat("a", 1000)} {
		if err := wire.ValidateObjectPath(p); err != nil || !wire.ObjectPath(p).IsValid() {
			t.Errorf("ValidateObjectPath(%q) = %v", p, err)
		}
	}
	for _, tt := range []struct{ path, reason string }{
		{"", "must start with '/'"},
		{"a", "must start with '/'"},
		{"a/b", "must start with '/'"},
		{"/a/", "must not end with '/'"},
		{"//", "must not end with '/'"},
		{"//a", "empty element"},
		{"/a//b", "empty element"},
		{"/a-b", "only [A-Za-z0-9_]"},
		{"/a.b", "only [A-Za-z0-9_]"},
		{"/é", "only [A-Za-z0-9_]"},
		{"/a b", "only [A-Za-z0-9_]"},
		{"/a\x00", "only [A-Za-z0-9_]"},
	} {
		checkNameError(t, "ValidateObjectPath", wire.ValidateObjectPath, tt.path, "object path", tt.reason)
		if wire.ObjectPath(tt.path).IsValid() {
			t.Errorf("ObjectPath(%q).IsValid() = true", tt.path)
		}
	}
}

// checkNameError checks that validate refuses name with a NameError of the given kind whose
// reason mentions reason.
func checkNameError(t *testing.T, fn string, validate func(string) error, name, kind, reason string) {
	t.Helper()
	err := validate(name)
	var ne *wire.NameError
	if !errors.As(err, &ne) || ne.Kind != kind || !strings.Contains(ne.Reason, reason) {
		t.Errorf("%s(%q) = %v, want a %s error about %q", fn, name, err, kind, reason)
	}
}

func TestNames(t *testing.T) {
	long := func(n int) string { return "a." + strings.Repeat("b", n-2) }
	validators := map[string]func(string) error{
		"member":     wire.ValidateMemberName,
		"interface":  wire.ValidateInterfaceName,
		"error":      wire.ValidateErrorName,
		"bus":        wire.ValidateBusName,
		"unique":     wire.ValidateUniqueName,
		"well-known": wire.ValidateWellKnownName,
	}
	for _, tt := range []struct {
		which []string
		name  string
	}{
		{[]string{"member"}, "Get"},
		{[]string{"member"}, "_0"},
		{[]string{"member"}, "a"},
		{[]string{"member"}, strings.Repeat("m", wire.MaxNameLength)},
		{[]string{"interface", "error", "bus", "well-known"}, "org.freedesktop.DBus"},
		{[]string{"interface", "error", "bus", "well-known"}, "a.b"},
		{[]string{"interface", "error", "bus", "well-known"}, "_a._0"},
		{[]string{"interface", "error", "bus", "well-known"}, long(wire.MaxNameLength)},
		{[]string{"bus", "well-known"}, "org.example-name.Service-1"},
		{[]string{"bus", "unique"}, ":1.42"},
		{[]string{"bus", "unique"}, ":1.0.x-y"},
		{[]string{"bus", "unique"}, ":a.b"},
		{[]string{"bus", "unique"}, ":" + long(wire.MaxNameLength-1)},
	} {
		for _, w := range tt.which {
			if err := validators[w](tt.name); err != nil {
				t.Errorf("%s name %q refused: %v", w, tt.name, err)
			}
		}
	}

	for _, tt := range []struct {
		which, name, kind, reason string
	}{
		{"member", "", "member name", "must not be empty"},
		{"member", "1a", "member name", "must not start with a digit"},
		{"member", "a.b", "member name", "only [A-Za-z0-9_]"},
		{"member", "a-b", "member name", "only [A-Za-z0-9_]"},
		{"member", "é", "member name", "only [A-Za-z0-9_]"},
		{"member", strings.Repeat("m", wire.MaxNameLength+1), "member name", "longer than 255"},
		{"interface", "", "interface name", "at least two"},
		{"interface", "org", "interface name", "at least two"},
		{"interface", ".a.b", "interface name", "element 1 is empty"},
		{"interface", "a.b.", "interface name", "element 3 is empty"},
		{"interface", "a..b", "interface name", "element 2 is empty"},
		{"interface", "a.1b", "interface name", "starts with a digit"},
		{"interface", "a.b-c", "interface name", "only [A-Za-z0-9_]"},
		{"interface", long(wire.MaxNameLength + 1), "interface name", "longer than 255"},
		{"error", "Failed", "error name", "at least two"},
		{"error", "a.b c", "error name", "only [A-Za-z0-9_]"},
		{"bus", "", "bus name", "at least two"},
		{"bus", "org", "bus name", "at least two"},
		{"bus", "org.1x", "bus name", "starts with a digit"},
		{"bus", "org..x", "bus name", "element 2 is empty"},
		{"bus", "org.x!", "bus name", "only [A-Za-z0-9_-]"},
		{"bus", ":1", "unique name", "at least two"},
		{"bus", long(wire.MaxNameLength + 1), "bus name", "longer than 255"},
		{"unique", "1.42", "unique name", "must start with ':'"},
		{"unique", ":1..2", "unique name", "element 2 is empty"},
		{"unique", ":.1", "unique name", "element 1 is empty"},
		{"unique", ":1.é", "unique name", "only [A-Za-z0-9_-]"},
		{"unique", ":" + long(wire.MaxNameLength), "unique name", "longer than 255"},
		{"well-known", ":1.42", "well-known name", "must not start with ':'"},
		{"well-known", "a", "well-known name", "at least two"},
		{"well-known", "a.0", "well-known name", "starts with a digit"},
	} {
		checkNameError(t, "Validate "+tt.which, validators[tt.which], tt.name, tt.kind, tt.reason)
	}
}

func TestEncoderAlignsRelativeToItsStart(t *testing.T) {
	for _, o := range orders {
		prefix := []byte{0xaa, 0xbb, 0xcc}
		e := wire.NewEncoder(bytes.Clone(prefix), o)
		e.Byte(1)
		e.Uint32(2)
		e.Int16(-3)
		e.Uint64(4)
		e.String("s")
		want, err := wire.Marshal(o, "yunts", byte(1), uint32(2), int16(-3), uint64(4), "s")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		got := e.Bytes()
		if !bytes.Equal(got[:3], prefix) || !bytes.Equal(got[3:], want) || e.Len() != len(want) {
			t.Errorf("%s: encoding after 3 bytes gave %x (Len %d), want %x then %x", o, got, e.Len(), prefix, want)
		}
		if e.Order() != o {
			t.Errorf("Order() = %v, want %v", e.Order(), o)
		}

		// Reset moves the origin to the end of the new buffer.
		e.Reset(make([]byte, 5, 64), o)
		e.Uint32(7)
		if e.Len() != 4 || len(e.Bytes()) != 9 {
			t.Errorf("%s: after Reset with 5 bytes, Uint32 gave Len %d, %d bytes; want 4 and 9", o, e.Len(), len(e.Bytes()))
		}
	}
}

func TestEncoderArrays(t *testing.T) {
	for _, o := range orders {
		// a(ai)x with two structs, the second holding an empty array, then an empty a(x).
		e := wire.NewEncoder(nil, o)
		outer := e.BeginArray(8)
		e.BeginStruct()
		inner := e.BeginArray(4)
		e.Int32(1)
		e.Int32(2)
		e.EndArray(inner)
		e.BeginStruct()
		e.EndArray(e.BeginArray(4))
		e.EndArray(outer)
		e.Byte(9)
		e.EndArray(e.BeginArray(8))
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		r := newRaw(o)
		r.u32(20).pad(8)              // outer length: 8..28
		r.u32(8).u32(1).u32(2).pad(8) // first struct at 8: length, two elements
		r.u32(0)                      // second struct at 24: empty array
		r.bytes(9)                    // at 28
		r.u32(0).pad(8)               // empty a(x) at 32, padded to 40
		if !bytes.Equal(e.Bytes(), r.b) {
			t.Errorf("%s: got  %x\nwant %x", o, e.Bytes(), r.b)
		}
		vals, err := wire.Unmarshal(e.Bytes(), o, "a(ai)ya(x)")
		want := []any{[]any{wire.Struct{[]any{int32(1), int32(2)}}, wire.Struct{[]any{}}}, byte(9), []any{}}
		if err != nil || !reflect.DeepEqual(vals, want) {
			t.Errorf("%s: Unmarshal = %#v, %v", o, vals, err)
		}

		// The same with the Decoder, as generated code reads it.
		d := wire.NewDecoder(e.Bytes(), o)
		var sums []int32
		for end := d.BeginArray(8); d.More(end); {
			d.BeginStruct()
			var sum int32
			for end := d.BeginArray(4); d.More(end); {
				sum += d.Int32()
			}
			sums = append(sums, sum)
		}
		y := d.Byte()
		n := 0
		for end := d.BeginArray(8); d.More(end); {
			n++
		}
		if err := d.Done(); err != nil || !reflect.DeepEqual(sums, []int32{3, 0}) || y != 9 || n != 0 {
			t.Errorf("%s: Decoder read %v, %d, %d elements, %v", o, sums, y, n, err)
		}
	}

	// A mark from another, longer buffer.
	long := wire.NewEncoder(make([]byte, 0, 64), wire.LittleEndian)
	long.Uint64(0)
	m := long.BeginArray(8)
	short := wire.NewEncoder(nil, wire.LittleEndian)
	short.EndArray(m)
	if short.Err() == nil {
		t.Error("EndArray accepted a mark from another encoder")
	}
}

func TestEncoderErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		op   func(*wire.Encoder)
	}{
		{"invalid UTF-8 string", func(e *wire.Encoder) { e.String("a\xffb") }},
		{"string with NUL", func(e *wire.Encoder) { e.String("a\x00b") }},
		{"relative object path", func(e *wire.Encoder) { e.ObjectPath("a/b") }},
		{"object path with trailing slash", func(e *wire.Encoder) { e.ObjectPath("/a/") }},
		{"empty object path", func(e *wire.Encoder) { e.ObjectPath("") }},
		{"incomplete signature", func(e *wire.Encoder) { e.Signature("a") }},
		{"signature too long", func(e *wire.Encoder) { e.Signature(wire.Signature(strings.Repeat("y", 256))) }},
		{"empty variant signature", func(e *wire.Encoder) { e.Variant("") }},
		{"variant signature of two types", func(e *wire.Encoder) { e.Variant("ss") }},
		{"invalid variant signature", func(e *wire.Encoder) { e.Variant("a{vs}") }},
		{"byte array over 64 MiB", func(e *wire.Encoder) { e.ByteArray(make([]byte, wire.MaxArraySize+1)) }},
		{"array over 64 MiB", func(e *wire.Encoder) {
			m := e.BeginArray(1)
			e.ByteArray(make([]byte, wire.MaxArraySize))
			e.EndArray(m)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := wire.NewEncoder(nil, wire.LittleEndian)
			e.Byte(1)
			before := len(e.Bytes())
			tt.op(e)
			err := e.Err()
			if err == nil {
				t.Fatal("no error")
			}
			if tt.name != "array over 64 MiB" && len(e.Bytes()) != before {
				t.Errorf("the failed call appended %d bytes", len(e.Bytes())-before)
			}
			// Later calls do nothing and the first error stays.
			after := len(e.Bytes())
			e.Uint32(1)
			e.String("ok")
			e.EndArray(e.BeginArray(8))
			e.Variant("i")
			e.SetErr(errors.New("second"))
			if len(e.Bytes()) != after || e.Err() != err {
				t.Errorf("after the error, calls appended %d bytes and the error became %v", len(e.Bytes())-after, e.Err())
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	type pair struct {
		A int32
		B string
	}
	for _, tt := range []struct {
		name string
		sig  wire.Signature
		vals []any
	}{
		{"too few values", "ii", []any{1}},
		{"too many values", "i", []any{1, 2}},
		{"invalid signature", "a", []any{nil}},
		{"nil", "i", []any{nil}},
		{"string for i", "i", []any{"1"}},
		{"int for s", "s", []any{1}},
		{"float for i", "i", []any{1.0}},
		{"int for d", "d", []any{1}},
		{"bool for u", "u", []any{true}},
		{"int for b", "b", []any{1}},
		{"int for v", "v", []any{1}},
		{"variant with an invalid signature", "v", []any{wire.Variant{Sig: "ii", Value: 1}}},
		{"variant value mismatch", "v", []any{wire.Variant{Sig: "s", Value: 1}}},
		{"struct with too few fields", "(is)", []any{wire.Struct{int32(1)}}},
		{"Go struct with too many fields", "(i)", []any{pair{1, "x"}}},
		{"Go struct field mismatch", "(ii)", []any{pair{1, "x"}}},
		{"map for a plain array", "ai", []any{map[int32]int32{1: 1}}},
		{"slice of non-entries for a dict", "a{ii}", []any{[]any{int32(1)}}},
		{"dict key mismatch", "a{is}", []any{map[string]string{"a": "b"}}},
		{"int for an array", "ai", []any{1}},
		{"invalid string", "s", []any{"\xff"}},
		{"invalid object path", "o", []any{"x"}},
		{"invalid signature value", "g", []any{"(("}},
		{"byte out of range", "y", []any{256}},
		{"negative byte", "y", []any{-1}},
		{"int16 out of range", "n", []any{int32(math.MaxInt16 + 1)}},
		{"int16 below range", "n", []any{int32(math.MinInt16 - 1)}},
		{"negative uint16", "q", []any{int8(-1)}},
		{"uint16 out of range", "q", []any{uint32(math.MaxUint16 + 1)}},
		{"int32 out of range", "i", []any{int64(math.MaxInt32 + 1)}},
		{"int32 below range", "i", []any{int64(math.MinInt32 - 1)}},
		{"uint32 out of range", "u", []any{uint64(math.MaxUint32 + 1)}},
		{"negative uint32", "u", []any{-1}},
		{"negative unix fd", "h", []any{-1}},
		{"int64 out of range", "x", []any{uint64(math.MaxInt64 + 1)}},
		{"negative uint64", "t", []any{int64(-1)}},
		{"range error inside an array", "an", []any{[]int{1, 1 << 20}}},
	} {
		if b, err := wire.Marshal(wire.LittleEndian, tt.sig, tt.vals...); err == nil {
			t.Errorf("%s: Marshal(%q, %#v) = %x, want an error", tt.name, tt.sig, tt.vals, b)
		}
	}
}

func TestMarshalGoValues(t *testing.T) {
	type inner struct {
		X      int8
		hidden int
		S      string
	}
	type myString string
	for _, tt := range []struct {
		sig   wire.Signature
		val   any
		canon any // the same value in Unmarshal's representation
	}{
		{"(ys)", inner{X: 3, hidden: 9, S: "x"}, wire.Struct{byte(3), "x"}},
		{"a{si}", map[string]int{"b": 2, "a": 1, "c": 3}, []wire.DictEntry{{Key: "a", Value: int32(1)}, {Key: "b", Value: int32(2)}, {Key: "c", Value: int32(3)}}},
		{"a{ds}", map[float64]string{2.5: "b", -1: "a"}, []wire.DictEntry{{Key: -1.0, Value: "a"}, {Key: 2.5, Value: "b"}}},
		{"ai", [3]int{1, 2, 3}, []any{int32(1), int32(2), int32(3)}},
		{"ay", [2]byte{1, 2}, []byte{1, 2}},
		{"at", []uint{math.MaxUint32 + 1}, []any{uint64(math.MaxUint32 + 1)}},
		{"d", float32(0.5), 0.5},
		{"s", myString("m"), "m"},
		{"o", "/x", wire.ObjectPath("/x")},
		{"g", "a{sv}", wire.Signature("a{sv}")},
		{"h", 3, wire.UnixFD(3)},
		{"x", int64(math.MinInt64), int64(math.MinInt64)},
		{"t", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"y", 255, byte(255)},
	} {
		got, err := wire.Marshal(wire.BigEndian, tt.sig, tt.val)
		if err != nil {
			t.Errorf("Marshal(%q, %#v): %v", tt.sig, tt.val, err)
			continue
		}
		want, err := wire.Marshal(wire.BigEndian, tt.sig, tt.canon)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Marshal(%q, %#v) = %x, want %x (%v)", tt.sig, tt.val, got, want, err)
		}
	}
}

func TestDecoder(t *testing.T) {
	for _, o := range orders {
		body, err := wire.Marshal(o, "yayso", byte(1), []byte("payload"), "str", wire.ObjectPath("/p"))
		if err != nil {
			t.Fatal(err)
		}
		d := wire.NewDecoder(body, o)
		if d.Byte() != 1 {
			t.Fatal("wrong byte")
		}
		b := d.ByteArray()
		if string(b) != "payload" || &b[0] != &body[8] || cap(b) != len(b) {
			t.Errorf("%s: ByteArray = %q (cap %d), want the payload in place with no spare capacity", o, b, cap(b))
		}
		sb := d.StringBytes()
		if string(sb) != "str" || &sb[0] != &body[20] {
			t.Errorf("%s: StringBytes = %q, want it in place", o, sb)
		}
		if d.Remaining() == 0 || d.Offset() != 24 {
			t.Errorf("%s: Offset %d, Remaining %d", o, d.Offset(), d.Remaining())
		}
		if p := d.ObjectPath(); p != "/p" {
			t.Errorf("%s: ObjectPath = %q", o, p)
		}
		if err := d.Done(); err != nil {
			t.Fatal(err)
		}

		// After an error, reads return zero values and the error stays.
		d.Reset(body[:3], o)
		d.Uint32()
		first := d.Err()
		if first == nil || d.Byte() != 0 || d.Uint64() != 0 || d.String() != "" || d.ByteArray() != nil || d.Err() != first {
			t.Errorf("%s: the decoder did not keep its first error: %v, %v", o, first, d.Err())
		}
	}
	d := wire.NewDecoder([]byte{1}, 'x')
	if d.Byte() != 0 || d.Err() == nil {
		t.Error("a decoder with an invalid byte order read a value")
	}
}

func TestAppendHeaderRefusesInvalidMessages(t *testing.T) {
	valid := wire.Message{Order: wire.LittleEndian, Type: wire.MethodCall, Serial: 1, Path: "/", Member: "M"}
	if _, err := valid.AppendTo(nil); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		edit func(*wire.Message)
	}{
		{"byte order", func(m *wire.Message) { m.Order = 'x' }},
		{"serial 0", func(m *wire.Message) { m.Serial = 0 }},
		{"type 0", func(m *wire.Message) { m.Type = 0 }},
		{"no path", func(m *wire.Message) { m.Path = "" }},
		{"no member", func(m *wire.Message) { m.Member = "" }},
		{"local path", func(m *wire.Message) { m.Path = wire.LocalPath }},
		{"local interface", func(m *wire.Message) { m.Interface = wire.LocalInterface }},
		{"invalid path", func(m *wire.Message) { m.Path = "/a/" }},
		{"invalid member", func(m *wire.Message) { m.Member = "a.b" }},
		{"invalid interface", func(m *wire.Message) { m.Interface = "a" }},
		{"invalid error name", func(m *wire.Message) { m.ErrorName = "a" }},
		{"invalid destination", func(m *wire.Message) { m.Destination = "a" }},
		{"invalid sender", func(m *wire.Message) { m.Sender = ":a" }},
		{"invalid signature", func(m *wire.Message) { m.Signature = "a{" }},
		{"signal without interface", func(m *wire.Message) { m.Type = wire.Signal }},
		{"return without reply serial", func(m *wire.Message) { m.Type = wire.MethodReturn }},
		{"error without error name", func(m *wire.Message) { m.Type, m.ReplySerial = wire.Error, 1 }},
	} {
		m := valid
		tt.edit(&m)
		dst := []byte{1, 2, 3}
		out, err := m.AppendTo(dst)
		if err == nil || len(out) != len(dst) {
			t.Errorf("%s: AppendTo = %d bytes, %v; want an error and dst unchanged", tt.name, len(out), err)
		}
	}
}
