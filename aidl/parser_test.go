package aidl

import (
	"fmt"
	"strings"
	"testing"
)

// dump prints a parsed file in a compact, exact form: one line per declaration, member and
// enumerator, indented by nesting, with every expression fully parenthesized.
func dump(f *File) string {
	var b strings.Builder
	if f.Package != "" {
		fmt.Fprintf(&b, "package %s\n", f.Package)
	}
	for _, im := range f.Imports {
		fmt.Fprintf(&b, "import %s\n", im.Name)
	}
	for _, d := range f.Decls {
		dumpDecl(&b, d, "")
	}
	return b.String()
}

func dumpDoc(d *Doc) string {
	if d == nil {
		return ""
	}
	s := fmt.Sprintf(" doc=%q", d.Text)
	if d.Hide {
		s += " hide"
	}
	if d.Deprecated {
		s += fmt.Sprintf(" deprecated=%q", d.DeprecatedNote)
	}
	return s
}

func dumpAnnots(as []*Annotation) string {
	var s string
	for _, a := range as {
		s += "@" + a.Name
		if len(a.Params) > 0 {
			var ps []string
			for _, p := range a.Params {
				ps = append(ps, p.Name+"="+dumpExpr(p.Value))
			}
			s += "(" + strings.Join(ps, ", ") + ")"
		}
		s += " "
	}
	return s
}

func dumpType(t *Type) string {
	s := dumpAnnots(t.Annotations) + t.Name
	if len(t.Args) > 0 {
		var as []string
		for _, a := range t.Args {
			as = append(as, dumpType(a))
		}
		s += "<" + strings.Join(as, ", ") + ">"
	}
	for _, d := range t.Dims {
		if d.SizeExpr != nil {
			s += "[" + dumpExpr(d.SizeExpr) + "]"
		} else {
			s += "[]"
		}
	}
	return s
}

func dumpExpr(x Expr) string {
	switch x := x.(type) {
	case *Literal:
		return x.Text
	case *Ref:
		return x.Name
	case *Unary:
		return "(" + x.Op + dumpExpr(x.X) + ")"
	case *Binary:
		return "(" + dumpExpr(x.X) + " " + x.Op + " " + dumpExpr(x.Y) + ")"
	case *Ternary:
		return "(" + dumpExpr(x.Cond) + " ? " + dumpExpr(x.Then) + " : " + dumpExpr(x.Else) + ")"
	case *ArrayLit:
		var es []string
		for _, e := range x.Elems {
			es = append(es, dumpExpr(e))
		}
		return "{" + strings.Join(es, ", ") + "}"
	}
	return "?"
}

func dumpDecl(b *strings.Builder, d Decl, indent string) {
	base := d.Base()
	head := indent + dumpAnnots(base.Annotations)
	switch d := d.(type) {
	case *Interface:
		if d.Oneway {
			head += "oneway "
		}
		head += "interface " + d.Name
	case *Parcelable:
		head += "parcelable " + d.Name
		if len(d.TypeParams) > 0 {
			head += "<" + strings.Join(d.TypeParams, ", ") + ">"
		}
		if d.Forward {
			head += " forward"
		}
		if d.CppHeader != "" {
			head += fmt.Sprintf(" cpp=%q", d.CppHeader)
		}
		if d.NdkHeader != "" {
			head += fmt.Sprintf(" ndk=%q", d.NdkHeader)
		}
		if d.RustType != "" {
			head += fmt.Sprintf(" rust=%q", d.RustType)
		}
	case *Union:
		head += "union " + d.Name
		if len(d.TypeParams) > 0 {
			head += "<" + strings.Join(d.TypeParams, ", ") + ">"
		}
	case *Enum:
		head += "enum " + d.Name + " " + d.Backing
	}
	fmt.Fprintf(b, "%s%s\n", head, dumpDoc(base.Doc))
	in := indent + "  "
	for _, c := range base.Consts {
		fmt.Fprintf(b, "%s%sconst %s %s = %s%s\n", in, dumpAnnots(c.Annotations), dumpType(c.Type), c.Name, dumpExpr(c.Expr), dumpDoc(c.Doc))
	}
	switch d := d.(type) {
	case *Interface:
		for _, m := range d.Methods {
			var as []string
			for _, a := range m.Args {
				dir := ""
				if a.ExplicitDirection {
					dir = a.Direction.String() + " "
				}
				as = append(as, dir+dumpType(a.Type)+" "+a.Name)
			}
			s := in + dumpAnnots(m.Annotations)
			if m.Oneway {
				s += "oneway "
			}
			ret := *m.Return
			if len(ret.Annotations) > 0 && len(m.Annotations) > 0 && ret.Annotations[0] == FindAnnotation(m.Annotations, "nullable") {
				ret.Annotations = ret.Annotations[1:] // the method's @nullable, shown with the method's
			}
			s += dumpType(&ret) + " " + m.Name + "(" + strings.Join(as, ", ") + ")"
			if m.ID >= 0 {
				s += fmt.Sprintf(" = %d", m.ID)
			}
			fmt.Fprintf(b, "%s%s\n", s, dumpDoc(m.Doc))
		}
	case *Parcelable:
		dumpFields(b, d.Fields, in)
	case *Union:
		dumpFields(b, d.Fields, in)
	case *Enum:
		for _, e := range d.Enumerators {
			s := in + dumpAnnots(e.Annotations) + e.Name
			if e.Expr != nil {
				s += " = " + dumpExpr(e.Expr)
			}
			fmt.Fprintf(b, "%s%s\n", s, dumpDoc(e.Doc))
		}
	}
	for _, n := range base.Nested {
		dumpDecl(b, n, in)
	}
}

func dumpFields(b *strings.Builder, fs []*Field, in string) {
	for _, f := range fs {
		s := in + dumpType(f.Type) + " " + f.Name
		if f.Default != nil {
			s += " = " + dumpExpr(f.Default)
		}
		fmt.Fprintf(b, "%s%s\n", s, dumpDoc(f.Doc))
	}
}

// TestParse checks the tree of each construct exactly.
func TestParse(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"package and imports", `package a.b.c; import x.y.Z; import x.y.Z.Nested; parcelable P {}`,
			"package a.b.c\nimport x.y.Z\nimport x.y.Z.Nested\nparcelable P\n"},
		{"no package", `interface I {}`, "interface I\n"},
		{"interface methods", `package p;
interface I {
    void a();
    int b(int x, in String s, out int[] o, inout List<String> l);
    oneway void c(in IBinder b);
    @nullable String d(in @nullable String s, @nullable in Foo f);
    @PropagateAllowBlocking IFoo e();
}`, "package p\ninterface I\n" +
			"  void a()\n" +
			"  int b(int x, in String s, out int[] o, inout List<String> l)\n" +
			"  oneway void c(in IBinder b)\n" +
			"  @nullable String d(in @nullable String s, in @nullable Foo f)\n" +
			"  @PropagateAllowBlocking IFoo e()\n"},
		{"explicit ids", `interface I { void a() = 0; int b() = 0x10; }`,
			"interface I\n  void a() = 0\n  int b() = 16\n"},
		{"oneway interface", `oneway interface ICb { void on(int x); }`,
			"oneway interface ICb\n  oneway void on(int x)\n"},
		{"parcelable fields and defaults", `parcelable P {
    int a;
    int b = 3;
    long c = 1L << 40;
    String s = "x\ty";
    char ch = 'q';
    float f = 1.5f;
    double d = -2.5e3;
    boolean z = !false;
    int[] arr = {1, 2, 3,};
    @nullable String n = null;
}`, "parcelable P\n" +
			"  int a\n  int b = 3\n  long c = (1L << 40)\n  String s = \"x\\ty\"\n  char ch = 'q'\n" +
			"  float f = 1.5f\n  double d = (-2.5e3)\n  boolean z = (!false)\n  int[] arr = {1, 2, 3}\n" +
			"  @nullable String n = null\n"},
		{"forward parcelables", `parcelable F; parcelable G cpp_header "g.h" ndk_header "ndk/g.h" rust_type "g::G";`,
			"parcelable F forward\nparcelable G forward cpp=\"g.h\" ndk=\"ndk/g.h\" rust=\"g::G\"\n"},
		{"generics", `parcelable Pair<A, B> { A a; B b; List<List<String>> ll; Map<String, List<A>> m; Pair<String, Pair<A,B>> p; List bare; Map bareMap; }`,
			"parcelable Pair<A, B>\n  A a\n  B b\n  List<List<String>> ll\n  Map<String, List<A>> m\n" +
				"  Pair<String, Pair<A, B>> p\n  List bare\n  Map bareMap\n"},
		{"arrays", `@FixedSize parcelable P { int[3] a; byte[2][4] m; long[N + 1] n; String[][] s; android.os.Foo[] q; }`,
			"@FixedSize parcelable P\n  int[3] a\n  byte[2][4] m\n  long[(N + 1)] n\n  String[][] s\n  android.os.Foo[] q\n"},
		{"enum", `@Backing(type="int") enum E { A, B = 3, C, D = B | (1 << 4), }`,
			"@Backing(type=\"int\") enum E int\n  A\n  B = 3\n  C\n  D = (B | (1 << 4))\n"},
		{"enum without trailing comma", `enum E { A = -1, B }`, "enum E byte\n  A = (-1)\n  B\n"},
		{"union", `union U<T> { int n = 7; T t; String[] s; List<String> l; const int K = 2; }`,
			"union U<T>\n  const int K = 2\n  int n = 7\n  T t\n  String[] s\n  List<String> l\n"},
		{"nested types", `interface I {
    parcelable In { int x; enum Deep { X } }
    @Backing(type="long") enum E { A }
    union U { int a; }
    oneway interface ICb { void f(); }
    In get();
}`, "interface I\n  In get()\n" +
			"  parcelable In\n    int x\n    enum Deep byte\n      X\n" +
			"  @Backing(type=\"long\") enum E long\n    A\n" +
			"  union U\n    int a\n" +
			"  oneway interface ICb\n    oneway void f()\n"},
		{"constants", `interface I { const int A = 1 + 2 * 3; const String S = "a" + "b"; const boolean B = A > 3 ? true : false; const long L = ~0L ^ 5 & 3 | 1; }`,
			"interface I\n  const int A = (1 + (2 * 3))\n  const String S = (\"a\" + \"b\")\n" +
				"  const boolean B = ((A > 3) ? true : false)\n  const long L = (((~0L) ^ (5 & 3)) | 1)\n"},
		{"precedence", `interface I { const boolean X = 1 + 2 << 3 < 4 == 5 & 6 ^ 7 | 8 && 9 || 10; const int Y = a.B.C - -1 % 2; }`,
			"interface I\n  const boolean X = (((((((((1 + 2) << 3) < 4) == 5) & 6) ^ 7) | 8) && 9) || 10)\n" +
				"  const int Y = (a.B.C - ((-1) % 2))\n"},
		{"right-associative ternary", `interface I { const int X = a ? b : c ? d : e; }`,
			"interface I\n  const int X = (a ? b : (c ? d : e))\n"},
		{"annotations", `@VintfStability
@Descriptor(value="android.foo.IBar")
@JavaDerive(equals=true, toString=true)
@RustDerive(Clone=true, PartialEq=true)
@SuppressWarnings(value={"inout-parameter", "out-array"})
@JavaPassthrough(annotation="@android.annotation.SystemApi")
@SensitiveData
interface I {
    @EnforcePermission("READ") void a();
    @EnforcePermission(allOf={"A", "B"}) void b();
    @JavaPassthrough("@x.Y") void c(in @nullable(heap=true) Foo f);
}`, "@VintfStability @Descriptor(value=\"android.foo.IBar\") @JavaDerive(equals=true, toString=true) " +
			"@RustDerive(Clone=true, PartialEq=true) @SuppressWarnings(value={\"inout-parameter\", \"out-array\"}) " +
			"@JavaPassthrough(annotation=\"@android.annotation.SystemApi\") @SensitiveData interface I\n" +
			"  @EnforcePermission(value=\"READ\") void a()\n" +
			"  @EnforcePermission(allOf={\"A\", \"B\"}) void b()\n" +
			"  @JavaPassthrough(value=\"@x.Y\") void c(in @nullable(heap=true) Foo f)\n"},
		{"type annotations on fields", `parcelable P { @nullable @utf8InCpp String s; List<@nullable String> l; }`,
			"parcelable P\n  @nullable @utf8InCpp String s\n  List<@nullable String> l\n"},
		{"literals", `interface I { const int H = 0xFF; const long HL = 0x7fffffffffL; const byte U = 0xffu8; const double D = .5; const float F = 3f; const char C = '\''; const String E = "q\"q"; }`,
			"interface I\n  const int H = 0xFF\n  const long HL = 0x7fffffffffL\n  const byte U = 0xffu8\n" +
				"  const double D = .5\n  const float F = 3f\n  const char C = '\\''\n  const String E = \"q\\\"q\"\n"},
		{"several declarations", `parcelable A {} ; enum B { X } union C { int c; }`,
			"parcelable A\nenum B byte\n  X\nunion C\n  int c\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Parse("t.aidl", []byte(c.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := dump(f); got != c.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, c.want)
			}
		})
	}
}

// TestParseStructure checks what the dump does not show: positions, parents, files, packages,
// directions and ids.
func TestParseStructure(t *testing.T) {
	src := `package p.q;

interface I {
    parcelable In {
        enum E { A }
    }
    void f(out In[] x, int y) = 7;
}
`
	f, err := Parse("dir/I.aidl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	it := f.Decls[0].(*Interface)
	in := it.Nested[0].(*Parcelable)
	e := in.Nested[0].(*Enum)
	if it.Pos != (Pos{"dir/I.aidl", 3, 11}) || in.Pos.Line != 4 || e.Pos != (Pos{"dir/I.aidl", 5, 14}) {
		t.Errorf("positions %v %v %v", it.Pos, in.Pos, e.Pos)
	}
	if it.Parent != nil || in.Parent != Decl(it) || e.Parent != Decl(in) {
		t.Error("wrong parents")
	}
	for _, d := range []Decl{it, in, e} {
		if d.Base().File != f || d.Base().Package != "p.q" {
			t.Errorf("%s: file %p package %q", d.Base().Name, d.Base().File, d.Base().Package)
		}
	}
	if q := e.QualifiedName(); q != "p.q.I.In.E" {
		t.Errorf("qualified name %s", q)
	}
	m := it.Methods[0]
	if m.ID != 7 || m.Pos != (Pos{"dir/I.aidl", 7, 10}) || m.Oneway {
		t.Errorf("method %+v", m)
	}
	x, y := m.Args[0], m.Args[1]
	if x.Direction != Out || !x.ExplicitDirection || x.Type.Dims[0].Size != -1 || x.Pos != (Pos{"dir/I.aidl", 7, 21}) {
		t.Errorf("arg x %+v", x)
	}
	if y.Direction != In || y.ExplicitDirection {
		t.Errorf("arg y %+v", y)
	}
	if f.Decls[0].(*Interface).Methods[0].Return.Pos != (Pos{"dir/I.aidl", 7, 5}) {
		t.Error("return type position")
	}
}

// TestDoc checks which comment documents what, and how it is cleaned.
func TestDoc(t *testing.T) {
	src := `/* license header */
package p;

/**
 * The interface.
 *
 *   indented line
 * @hide
 */
@VintfStability
interface I {
    // first line
    // second line
    void lineDoc();

    /* not a doc */
    /** the doc */
    void lastWins();

    @Annot
    /** after annotations */
    void afterAnnot();

    void trailing(); // belongs to trailing
    void none();

    /** @deprecated use something else */
    const int K = 1;
}

/** Choices. */
enum E {
    /** First. */
    A,
    B, // about B
    C,
}
`
	f, err := Parse("d.aidl", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := `package p
@VintfStability interface I doc="The interface.\n\n  indented line\n@hide" hide
  const int K = 1 doc="@deprecated use something else" deprecated="use something else"
  void lineDoc() doc="first line\nsecond line"
  void lastWins() doc="the doc"
  @Annot void afterAnnot() doc="after annotations"
  void trailing()
  void none()
enum E byte doc="Choices."
  A doc="First."
  B
  C
`
	if got := dump(f); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestParseErrors checks syntax errors: position, what was expected and what was found, and
// that the parser goes on after a broken member to report the next one.
func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"interface I { void f() void g(); }", "e.aidl:1:24: expected ';' after method declaration, found 'void'"},
		{"interface I { void f(int x }", "e.aidl:1:28: expected ')' to close argument list, found '}'"},
		{"parcelable P { int x = ; }", "e.aidl:1:24: expected a value (a literal, a constant name or a parenthesized expression), found ';'"},
		{"parcelable P { int; }", "e.aidl:1:19: expected a field name, found ';'"},
		{"package a.b", "e.aidl:1:12: expected ';' after package name, found end of file"},
		{"import ;\nparcelable P {}", "e.aidl:1:8: expected a type name to import, found ';'"},
		{"struct S {}", "e.aidl:1:1: expected interface, parcelable, enum or union, found 'struct'"},
		{"", "e.aidl:1:1: expected a declaration (interface, parcelable, enum or union), found end of file"},
		{"interface I {", "e.aidl:1:14: expected '}' to close interface I, found end of file"},
		{"enum E { A B }", "e.aidl:1:12: expected '}' to close enum body, found 'B'"},
		{"interface I { void f() = x; }", "e.aidl:1:26: expected a transaction id (an integer) after '=', found 'x'"},
		{"interface I { void f() = 16777215; }", "e.aidl:1:26: transaction id 16777215 is out of range: give 0 to 16777214"},
		{"parcelable P { List<String x; }", "e.aidl:1:28: expected '>' to close type arguments of List, found 'x'"},
		{"parcelable P { int[3 x; }", "e.aidl:1:22: expected ']' to close array size, found 'x'"},
		{"parcelable P { String s = \"open\n; }", "e.aidl:1:27: unterminated literal: expected \" before end of line"},
		{"parcelable P { int x = 1; } /* open", "e.aidl:1:29: unterminated comment: expected '*/' before end of file"},
		{"parcelable P { int x = 1 # 2; }", "e.aidl:1:26: unexpected character '#'"},
		{"parcelable P { int é; }", "e.aidl:1:20: unexpected character 'é'"},
		{"@Foo(a=1, a=2) parcelable P {}", "e.aidl:1:11: annotation parameter a is given twice"},
		{"parcelable P<T, T> {}", "e.aidl:1:17: type parameter T is declared twice"},
		{"parcelable P { int x; } package a;", "e.aidl:1:25: expected a declaration, found 'package': package and imports come first"},
	}
	for _, c := range cases {
		_, err := Parse("e.aidl", []byte(c.src))
		if err == nil {
			t.Errorf("%q: no error, want %s", c.src, c.want)
			continue
		}
		if first := strings.Split(err.Error(), "\n")[0]; first != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.src, err, c.want)
		}
	}
}

// TestParseRecovery checks that one parse reports the problems of several members, in order.
func TestParseRecovery(t *testing.T) {
	src := `package p;
interface I {
    void a() void b();
    int c(in int x;
    void d(in String s);
    const int K = ;
    parcelable Inner { int x = ; long y; }
}
parcelable P {
    int[] a = {1, 2 3};
    String s;
}
enum E { A = , B }
`
	f, err := Parse("r.aidl", []byte(src))
	want := `r.aidl:3:14: expected ';' after method declaration, found 'void'
r.aidl:4:19: expected ')' to close argument list, found ';'
r.aidl:6:19: expected a value (a literal, a constant name or a parenthesized expression), found ';'
r.aidl:7:32: expected a value (a literal, a constant name or a parenthesized expression), found ';'
r.aidl:10:21: expected '}' to close array, found '3'
r.aidl:13:14: expected a value (a literal, a constant name or a parenthesized expression), found ','`
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
	// What could be read is kept.
	it := f.Decls[0].(*Interface)
	var names []string
	for _, m := range it.Methods {
		names = append(names, m.Name)
	}
	if fmt.Sprint(names) != "[d]" || len(it.Nested) != 1 || len(it.Nested[0].(*Parcelable).Fields) != 1 {
		t.Errorf("methods %v, nested %d", names, len(it.Nested))
	}
	if p := f.Decls[1].(*Parcelable); len(p.Fields) != 1 || p.Fields[0].Name != "s" {
		t.Errorf("parcelable P fields %v", p.Fields)
	}
}

// TestParseErrorCap checks that a file full of errors reports ten and says there were more.
func TestParseErrorCap(t *testing.T) {
	src := "parcelable P {\n" + strings.Repeat("int = 1;\n", 30) + "}\n"
	_, err := Parse("c.aidl", []byte(src))
	el, ok := err.(ErrorList)
	if !ok || len(el) != maxErrors+1 || el[maxErrors].Msg != "too many errors" || el[0].Pos.Line != 2 || el[9].Pos.Line != 11 {
		t.Fatalf("got %d errors: %v", len(el), err)
	}
}

// TestParseDepth checks that deep nesting is an error, not a stack overflow.
func TestParseDepth(t *testing.T) {
	for _, src := range []string{
		"interface I { const int X = " + strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000) + "; }",
		"interface I { const int X = " + strings.Repeat("-", 1000) + "1; }",
		"parcelable P { " + strings.Repeat("List<", 1000) + "int" + strings.Repeat(">", 1000) + " x; }",
		strings.Repeat("parcelable P { ", 1000) + strings.Repeat("}", 1000),
		"interface I { const int[] X = " + strings.Repeat("{", 1000) + strings.Repeat("}", 1000) + "; }",
	} {
		_, err := Parse("deep.aidl", []byte(src))
		if err == nil || !strings.Contains(err.Error(), "nesting deeper than 200 levels") {
			t.Errorf("%.40s…: %v", src, err)
		}
	}
}
