package aidl

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// memLoader returns a Loader over in-memory files with the include directory "inc".
func memLoader(files map[string]string) *Loader {
	return &Loader{IncludeDirs: []string{"inc"}, ReadFile: func(p string) ([]byte, error) {
		if s, ok := files[filepath.ToSlash(p)]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}}
}

// load loads in-memory files and names those at names.
func load(files map[string]string, names ...string) (*Loader, error) {
	l := memLoader(files)
	_, err := l.Load(names...)
	return l, err
}

// constValue evaluates "const typ X = expr;" in an interface, with extra declarations in
// the interface body.
func constValue(t *testing.T, typ, expr, extra string) (*Value, error) {
	t.Helper()
	src := "package a;\ninterface I { " + extra + " const " + typ + " X = " + expr + "; }"
	l, err := load(map[string]string{"inc/a/I.aidl": src}, "inc/a/I.aidl")
	if err != nil {
		return nil, err
	}
	for _, c := range l.Lookup("a.I").Base().Consts {
		if c.Name == "X" {
			return c.Value, nil
		}
	}
	t.Fatal("no X")
	return nil, nil
}

// TestEval checks the values of constant expressions, converted to the declared type.
func TestEval(t *testing.T) {
	cases := []struct {
		typ, expr string
		want      Value
	}{
		// Precedence and associativity.
		{"int", "1 + 2 * 3", Value{Kind: IntValue, Int: 7}},
		{"int", "(1 + 2) * 3", Value{Kind: IntValue, Int: 9}},
		{"int", "10 - 4 - 3", Value{Kind: IntValue, Int: 3}},
		{"int", "100 / 10 / 5", Value{Kind: IntValue, Int: 2}},
		{"int", "1 << 4 | 1", Value{Kind: IntValue, Int: 17}},
		{"int", "1 | 6 & 3 ^ 1", Value{Kind: IntValue, Int: 3}},
		{"int", "-7 / 2", Value{Kind: IntValue, Int: -3}},
		{"int", "-7 % 3", Value{Kind: IntValue, Int: -1}},
		{"int", "~0", Value{Kind: IntValue, Int: -1}},
		{"int", "- -5", Value{Kind: IntValue, Int: 5}},
		{"int", "+5", Value{Kind: IntValue, Int: 5}},
		{"int", "1 > 2 ? 10 : 20", Value{Kind: IntValue, Int: 20}},
		{"int", "true ? 1 : false ? 2 : 3", Value{Kind: IntValue, Int: 1}},
		{"boolean", "1 < 2 && 3 >= 3 || false", Value{Kind: BoolValue, Bool: true}},
		{"boolean", "!(1 == 1)", Value{Kind: BoolValue, Bool: false}},
		{"boolean", "1 != 2 == true", Value{Kind: BoolValue, Bool: true}},
		{"boolean", "\"a\" == \"a\"", Value{Kind: BoolValue, Bool: true}},
		// Hex and limits.
		{"int", "0xffffffff", Value{Kind: IntValue, Int: -1}},
		{"int", "0x80000000", Value{Kind: IntValue, Int: -2147483648}},
		{"int", "0xffffffff & 0xff", Value{Kind: IntValue, Int: 255}},
		{"int", "-2147483648", Value{Kind: IntValue, Int: -2147483648}},
		{"int", "2147483647", Value{Kind: IntValue, Int: 2147483647}},
		{"int", "1 << 31", Value{Kind: IntValue, Int: -2147483648}},
		{"int", "-8 >> 1", Value{Kind: IntValue, Int: -4}},
		{"int", "1 << -1 + 2", Value{Kind: IntValue, Int: 2}},
		{"int", "16 >> -2", Value{Kind: IntValue, Int: 64}},
		{"long", "2147483647L + 1", Value{Kind: IntValue, Int: 2147483648}},
		{"long", "2147483647 + 1L", Value{Kind: IntValue, Int: 2147483648}},
		{"long", "1L << 40", Value{Kind: IntValue, Int: 1 << 40}},
		{"long", "1L << 63", Value{Kind: IntValue, Int: -1 << 63}},
		{"long", "0xffffffffffffffffL", Value{Kind: IntValue, Int: -1}},
		{"long", "0xffffffff", Value{Kind: IntValue, Int: -1}},
		{"long", "0x100000000", Value{Kind: IntValue, Int: 1 << 32}},
		{"long", "9223372036854775807", Value{Kind: IntValue, Int: 1<<63 - 1}},
		{"long", "-9223372036854775807 - 1", Value{Kind: IntValue, Int: -1 << 63}},
		{"long", "3", Value{Kind: IntValue, Int: 3}},
		{"byte", "0x80", Value{Kind: IntValue, Int: -128}},
		{"byte", "0xff", Value{Kind: IntValue, Int: -1}},
		{"byte", "0xffu8", Value{Kind: IntValue, Int: -1}},
		{"byte", "-128", Value{Kind: IntValue, Int: -128}},
		{"byte", "127", Value{Kind: IntValue, Int: 127}},
		// Floating point.
		{"double", "1 / 4.0", Value{Kind: FloatValue, Float: 0.25}},
		{"double", "1e3", Value{Kind: FloatValue, Float: 1000}},
		{"double", "-2.5", Value{Kind: FloatValue, Float: -2.5}},
		{"double", "3", Value{Kind: FloatValue, Float: 3}},
		{"float", "2.5f", Value{Kind: FloatValue, Float: 2.5}},
		{"float", "0.1f", Value{Kind: FloatValue, Float: float64(float32(0.1))}},
		{"boolean", "0.5 < 1", Value{Kind: BoolValue, Bool: true}},
		// Strings and chars.
		{"String", "\"a\" + \"b\" + \"c\"", Value{Kind: StringValue, Str: "abc"}},
		{"String", "\"a\" + 1 + \"b\"", Value{Kind: StringValue, Str: "a1b"}},
		{"String", "\"tab\\tq\\\"\\\\\"", Value{Kind: StringValue, Str: "tab\tq\"\\"}},
		{"String", "\"\\u00e9\"", Value{Kind: StringValue, Str: "é"}},
		{"String", "null", Value{Kind: NullValue}},
		{"char", "'\\u0041'", Value{Kind: CharValue, Int: 'A'}},
		{"char", "'z'", Value{Kind: CharValue, Int: 'z'}},
		{"char", "'\\n'", Value{Kind: CharValue, Int: '\n'}},
		{"int", "'a' + 1", Value{Kind: IntValue, Int: 98}},
		// Booleans are numbers (0 or 1) and numbers booleans (not 0), as in the aidl compiler.
		{"int", "(~(-1)) == 0", Value{Kind: IntValue, Int: 1}},
		{"int", "-0xfffffffffff < 0", Value{Kind: IntValue, Int: 1}},
		{"byte", "0xffu8 + 1 == 0", Value{Kind: IntValue, Int: 1}},
		{"byte", "255u8 + 1 == 0", Value{Kind: IntValue, Int: 1}},
		{"boolean", "0x80u8 == -128", Value{Kind: BoolValue, Bool: true}},
		{"boolean", "0x80u8 / 2 == -0x40u8", Value{Kind: BoolValue, Bool: true}},
		{"long", "true + 1", Value{Kind: IntValue, Int: 2}},
		{"boolean", "1 && true", Value{Kind: BoolValue, Bool: true}},
		{"boolean", "5", Value{Kind: BoolValue, Bool: true}},
		{"boolean", "!5", Value{Kind: BoolValue, Bool: false}},
		{"int", "!0", Value{Kind: IntValue, Int: 1}},
		{"int", "1 ? 2 : 3", Value{Kind: IntValue, Int: 2}},
		{"int", "-true", Value{Kind: IntValue, Int: 1}},
		// Suffixes u32 and u64: an unsigned number's bits, read as an int or a long.
		{"int", "0xFFFFFFFFu32", Value{Kind: IntValue, Int: -1}},
		{"int", "4294967295u32", Value{Kind: IntValue, Int: -1}},
		{"long", "0xC000000000000000u64", Value{Kind: IntValue, Int: -1 << 62}},
		{"long", "0xFFFFFFFFu32 + 0xC000000000000000u64", Value{Kind: IntValue, Int: -1<<62 - 1}},
		{"boolean", "0xFFFFFFFFu32 == -1", Value{Kind: BoolValue, Bool: true}},
		// Digit separators.
		{"int", "0x8000_0000", Value{Kind: IntValue, Int: -1 << 31}},
		{"int", "2_147_483_647", Value{Kind: IntValue, Int: 1<<31 - 1}},
		{"long", "1_0L", Value{Kind: IntValue, Int: 10}},
		{"long", "10_000_000_000L", Value{Kind: IntValue, Int: 10_000_000_000}},
		{"long", "10__000", Value{Kind: IntValue, Int: 10000}},
		{"double", "1_000.5", Value{Kind: FloatValue, Float: 1000.5}},
		{"float", "1e-9f", Value{Kind: FloatValue, Float: float64(float32(1e-9))}},
		// Literal types: a decimal literal is a byte, an int or a long, whichever first holds it;
		// operations compute in int at least.
		{"int", "100 + 100", Value{Kind: IntValue, Int: 200}},
		{"long", "3000000000 * 2", Value{Kind: IntValue, Int: 6000000000}},
	}
	for _, c := range cases {
		got, err := constValue(t, c.typ, c.expr, "")
		if err != nil {
			t.Errorf("%s %s: %v", c.typ, c.expr, err)
			continue
		}
		if got.Kind != c.want.Kind || got.Int != c.want.Int || got.Float != c.want.Float || got.Str != c.want.Str || got.Bool != c.want.Bool {
			t.Errorf("%s %s = %+v, want %+v", c.typ, c.expr, *got, c.want)
		}
	}
}

// TestEvalArrays checks array values and their element conversion.
func TestEvalArrays(t *testing.T) {
	v, err := constValue(t, "byte[]", "{1, 0xff, -1 + 2 * 3}", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind != ArrayValue || len(v.Elems) != 3 || v.Elems[1].Int != -1 || v.Elems[2].Int != 5 {
		t.Errorf("%+v", v)
	}
	v, err = constValue(t, "String[]", `{"a", "b" + "c"}`, "")
	if err != nil || v.Elems[1].Str != "bc" {
		t.Errorf("%+v %v", v, err)
	}
	v, err = constValue(t, "int[]", "{}", "")
	if err != nil || v.Kind != ArrayValue || len(v.Elems) != 0 {
		t.Errorf("%+v %v", v, err)
	}
}

// TestEvalRefs checks references to constants in the same declaration, its parents and other
// files, and to enumerators.
func TestEvalRefs(t *testing.T) {
	files := map[string]string{
		"inc/a/IFoo.aidl": `package a;
import b.Effect;
interface IFoo {
    const int BASE = 10;
    const int NEXT = BASE + 1;
    const int LATER = EARLIER * 2;
    const int EARLIER = 3;
    const String NAME = "foo";
    parcelable Inner {
        const int DEEP = BASE * 100;
        Effect e = Effect.CLICK;
        int n = DEEP + IFoo.NEXT;
    }
}`,
		"inc/b/Effect.aidl": `package b;
@Backing(type="int")
enum Effect { CLICK = 1 << 3, DOUBLE, TICK = DOUBLE * 2, }`,
		"inc/c/P.aidl": `package c;
import a.IFoo;
import b.Effect;
parcelable P {
    const String FULL = IFoo.NAME + "/" + a.IFoo.BASE;
    int x = IFoo.Inner.DEEP;
    Effect[] effects = {Effect.TICK, Effect.CLICK};
    int asInt = Effect.DOUBLE;
}`,
	}
	l, err := load(files, "inc/c/P.aidl")
	if err != nil {
		t.Fatal(err)
	}
	consts := func(name string) map[string]int64 {
		m := map[string]int64{}
		for _, c := range l.Lookup(name).Base().Consts {
			m[c.Name] = c.Value.Int
		}
		return m
	}
	if c := consts("a.IFoo"); c["NEXT"] != 11 || c["LATER"] != 6 {
		t.Errorf("IFoo consts %v", c)
	}
	inner := l.Lookup("a.IFoo.Inner").(*Parcelable)
	if inner.Consts[0].Value.Int != 1000 || inner.Fields[1].DefaultValue.Int != 1011 {
		t.Errorf("Inner: %d %d", inner.Consts[0].Value.Int, inner.Fields[1].DefaultValue.Int)
	}
	e := inner.Fields[0].DefaultValue
	if e.Kind != IntValue || e.Int != 8 || e.Enumerator == nil || e.Enumerator.Name != "CLICK" {
		t.Errorf("Effect default %+v", e)
	}
	effect := l.Lookup("b.Effect").(*Enum)
	if effect.Enumerators[1].Value != 9 || effect.Enumerators[2].Value != 18 {
		t.Errorf("Effect values %d %d", effect.Enumerators[1].Value, effect.Enumerators[2].Value)
	}
	p := l.Lookup("c.P").(*Parcelable)
	if v := p.Consts[0].Value; v.Str != "foo/10" {
		t.Errorf("FULL = %q", v.Str)
	}
	if v := p.Fields[0].DefaultValue; v.Int != 1000 {
		t.Errorf("x = %d", v.Int)
	}
	if v := p.Fields[1].DefaultValue; len(v.Elems) != 2 || v.Elems[0].Int != 18 || v.Elems[0].Enumerator != effect.Enumerators[2] {
		t.Errorf("effects = %+v", v)
	}
	if v := p.Fields[2].DefaultValue; v.Int != 9 {
		t.Errorf("asInt = %+v", v)
	}
}

// TestEvalErrors checks the problems the evaluator reports, with their position.
func TestEvalErrors(t *testing.T) {
	cases := []struct{ typ, expr, extra, want string }{
		{"int", "1 / 0", "", "inc/a/I.aidl:2:30: division by zero"},
		{"int", "1 % (2 - 2)", "", "inc/a/I.aidl:2:30: division by zero"},
		{"int", "2147483647 + 1", "", "inc/a/I.aidl:2:30: constant expression overflows int: 2147483647 + 1 (an L suffix on an operand computes in 64 bits)"},
		{"int", "65536 * 65536", "", "inc/a/I.aidl:2:30: constant expression overflows int: 65536 * 65536 (an L suffix on an operand computes in 64 bits)"},
		{"long", "9223372036854775807L + 1", "", "inc/a/I.aidl:2:31: constant expression overflows long: 9223372036854775807 + 1"},
		{"long", "-(-9223372036854775807L - 1)", "", "inc/a/I.aidl:2:31: constant expression overflows long: -(-9223372036854775808)"},
		{"int", "1 << 32", "", "inc/a/I.aidl:2:30: shift count 32 is out of range for int: give 0 to 31"},
		{"int", "3 << 31", "", "inc/a/I.aidl:2:30: constant expression overflows int: 3 << 31 (an L suffix on an operand computes in 64 bits)"},
		{"int", "2147483648", "", "inc/a/I.aidl:2:30: 2147483648 does not fit an int (-2147483648..2147483647)"},
		{"int", "99999999999999999999", "", "inc/a/I.aidl:2:30: integer literal 99999999999999999999 does not fit 64 bits"},
		{"byte", "300", "", "inc/a/I.aidl:2:31: 300 does not fit a byte (-128..127, or 0..255 written as hex)"},
		{"byte", "-129", "", "inc/a/I.aidl:2:31: -129 does not fit a byte (-128..127, or 0..255 written as hex)"},
		{"byte", "256u8", "", "inc/a/I.aidl:2:31: byte literal 256u8 is out of range 0..255"},
		{"int", "\"s\"", "", "inc/a/I.aidl:2:30: a string cannot initialize an int"},
		{"String", "1", "", "inc/a/I.aidl:2:33: an int cannot initialize a String"},
		{"int", "1.5", "", "inc/a/I.aidl:2:30: a floating-point number cannot initialize an int"},
		{"int[]", "3", "", "inc/a/I.aidl:2:32: an int cannot initialize an int[]"},
		{"int", "{1}", "", "inc/a/I.aidl:2:30: an array cannot initialize an int"},
		{"int", "~true", "", "inc/a/I.aidl:2:30: operator ~ does not apply to a boolean"},
		{"boolean", "\"a\" && true", "", "inc/a/I.aidl:2:34: operator && needs booleans, found a string and a boolean"},
		{"int", "\"a\" ? 2 : 3", "", "inc/a/I.aidl:2:30: the condition of ?: must be a boolean, found a string"},
		{"long", "1u32 << 40", "", "inc/a/I.aidl:2:31: shift count 40 is out of range for int: give 0 to 31"},
		{"double", "1_.5", "", "inc/a/I.aidl:2:33: bad floating-point literal 1_.5"},
		{"byte", "-0x80u8", "", "inc/a/I.aidl:2:31: constant expression overflows byte: -(-128)"},
		{"int", "0x1_0000_0000u32", "", "inc/a/I.aidl:2:30: u32 literal 0x1_0000_0000u32 is out of range 0..4294967295"},
		{"long", "0x1_0000_0000_0000_0000u64", "", "inc/a/I.aidl:2:31: integer literal 0x1_0000_0000_0000_0000u64 does not fit 64 bits"},
		{"int", "1_", "", "inc/a/I.aidl:2:30: bad integer literal 1_: give digits, an underscore only between two of them, and one suffix (L, u8, u32 or u64)"},
		{"int", "0x_ff", "", "inc/a/I.aidl:2:30: bad integer literal 0x_ff: give digits, an underscore only between two of them, and one suffix (L, u8, u32 or u64)"},
		{"long", "1_L", "", "inc/a/I.aidl:2:31: bad integer literal 1_L: give digits, an underscore only between two of them, and one suffix (L, u8, u32 or u64)"},
		{"long", "1u8L", "", "inc/a/I.aidl:2:31: bad integer literal 1u8L: give digits, an underscore only between two of them, and one suffix (L, u8, u32 or u64)"},
		{"int", "0x7fffffffu32 + 1", "", "inc/a/I.aidl:2:30: constant expression overflows int: 2147483647 + 1 (an L suffix on an operand computes in 64 bits)"},
		{"int", "-\"s\"", "", "inc/a/I.aidl:2:30: operator - does not apply to a string"},
		{"int", "Y", "const int Y = X;", "inc/a/I.aidl:2:25: constant Y refers to itself"},
		{"int", "X + 1", "", "inc/a/I.aidl:2:26: constant X refers to itself"},
		{"int", "MISSING", "", "inc/a/I.aidl:2:30: unknown constant MISSING"},
		{"int", "Nope.A", "", "inc/a/I.aidl:2:30: unknown constant Nope.A: Nope is not a type in scope"},
		{"int", "I.NOPE", "", "inc/a/I.aidl:2:30: I has no constant or enumerator NOPE"},
		{"char", "'ab'", "", "inc/a/I.aidl:2:31: bad char literal 'ab': give one UTF-16 code unit"},
		{"String", "\"\\q\"", "", "inc/a/I.aidl:2:33: literal \"\\q\" has an unknown escape \\q"},
		{"int", "12abc", "", "inc/a/I.aidl:2:30: bad integer literal 12abc"},
	}
	for _, c := range cases {
		_, err := constValue(t, c.typ, c.expr, c.extra)
		if err == nil || strings.Split(err.Error(), "\n")[0] != c.want {
			t.Errorf("%s %s:\n got %v\nwant %s", c.typ, c.expr, err, c.want)
		}
	}
}

// TestEnumValues checks auto-increment, expressions over earlier enumerators, and the fit to
// the backing type.
func TestEnumValues(t *testing.T) {
	cases := []struct{ src, want string }{
		{`enum E { A, B, C = 10, D, E = A + C, F }`, "[0 1 10 11 10 11]"},
		{`@Backing(type="byte") enum E { A = -128, B, C = 0x7f }`, "[-128 -127 127]"},
		{`@Backing(type="int") enum E { A = 0x7ffffffe, B, C = -1 }`, "[2147483646 2147483647 -1]"},
		{`@Backing(type="long") enum E { A = 1L << 40, B, C = 0xffffffff }`, "[1099511627776 1099511627777 -1]"},
		{`@Backing(type="int") enum E { A = 0xffffffff, B }`, "[-1 0]"},
	}
	for _, c := range cases {
		l, err := load(map[string]string{"inc/a/E.aidl": "package a;\n" + c.src}, "inc/a/E.aidl")
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		var got []int64
		for _, e := range l.Lookup("a.E").(*Enum).Enumerators {
			got = append(got, e.Value)
		}
		if s := fmtInts(got); s != c.want {
			t.Errorf("%s = %s, want %s", c.src, s, c.want)
		}
	}
	errs := []struct{ src, want string }{
		{`enum E { A = 127, B }`, "inc/a/E.aidl:2:19: enumerator B: 128 does not fit the backing type byte"},
		{`enum E { A = 300 }`, "inc/a/E.aidl:2:14: 300 does not fit a byte (-128..127, or 0..255 written as hex)"},
		{`@Backing(type="int") enum E { A = 1L << 40 }`, "inc/a/E.aidl:2:35: 1099511627776 does not fit an int (-2147483648..2147483647)"},
		{`enum E { A = B, B }`, "inc/a/E.aidl:2:14: enumerator B is used before its value is known: refer only to earlier enumerators"},
		{`@Backing(type="short") enum E { A }`, "inc/a/E.aidl:2:15: @Backing type \"short\" is not \"byte\", \"int\" or \"long\""},
		{`@Backing enum E { A }`, "inc/a/E.aidl:2:1: @Backing needs a type: @Backing(type=\"byte\"), \"int\" or \"long\""},
		{`enum E { A = "x" }`, "inc/a/E.aidl:2:14: a string cannot initialize a byte"},
		{`enum E { }`, "inc/a/E.aidl:2:6: enum E has no enumerators"},
		{`enum E { A, A }`, "inc/a/E.aidl:2:13: A is declared twice in E (also at inc/a/E.aidl:2:10)"},
	}
	for _, c := range errs {
		_, err := load(map[string]string{"inc/a/E.aidl": "package a;\n" + c.src}, "inc/a/E.aidl")
		if err == nil || strings.Split(err.Error(), "\n")[0] != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}

func fmtInts(v []int64) string { return fmt.Sprint(v) }

// TestEvalChain checks that a long chain of constants, each naming the next, evaluates up to a
// bound and is an error beyond it, rather than exhausting the stack.
func TestEvalChain(t *testing.T) {
	chain := func(n int) string {
		var b strings.Builder
		b.WriteString("package a;\ninterface I {\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "const int C%d = C%d + 1;\n", i, i+1)
		}
		fmt.Fprintf(&b, "const int C%d = 0;\n}\n", n)
		return b.String()
	}
	l, err := load(map[string]string{"inc/a/I.aidl": chain(900)}, "inc/a/I.aidl")
	if err != nil {
		t.Fatal(err)
	}
	if v := l.Lookup("a.I").Base().Consts[0].Value.Int; v != 900 {
		t.Errorf("C0 = %d", v)
	}
	_, err = load(map[string]string{"inc/a/I.aidl": chain(5000)}, "inc/a/I.aidl")
	if err == nil || !strings.Contains(err.Error(), "more than 1000 constants refer one to the next") {
		t.Errorf("got %v", err)
	}
}
