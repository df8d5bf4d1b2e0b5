package aidl

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusFiles lists the corpus's .aidl files.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("testdata/corpus", func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".aidl") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	return files
}

func loadCorpus(t *testing.T) *Loader {
	t.Helper()
	l := &Loader{}
	if _, err := l.Load(corpusFiles(t)...); err != nil {
		t.Fatal(err)
	}
	return l
}

func lookup[T Decl](t *testing.T, l *Loader, name string) T {
	t.Helper()
	d, ok := l.Lookup(name).(T)
	if !ok {
		t.Fatalf("%s: got %T", name, l.Lookup(name))
	}
	return d
}

// TestCorpus loads every corpus file and checks what the loader resolved and computed.
func TestCorpus(t *testing.T) {
	l := loadCorpus(t)

	kind := lookup[*Enum](t, l, "kdbus.corpus.Kind")
	var vals []int64
	for _, e := range kind.Enumerators {
		vals = append(vals, e.Value)
	}
	if got := fmt.Sprint(vals); got != "[0 1 11 12]" || kind.Backing != "byte" {
		t.Errorf("Kind values %v backing %s, want 0,1,11,12 byte", vals, kind.Backing)
	}
	if b := lookup[*Enum](t, l, "kdbus.corpus.Big"); b.Backing != "long" || b.Enumerators[1].Value != 1<<40 || b.Enumerators[2].Value != -(1<<33) {
		t.Errorf("Big: %s %d %d", b.Backing, b.Enumerators[1].Value, b.Enumerators[2].Value)
	}

	s := lookup[*Parcelable](t, l, "kdbus.corpus.Settings")
	consts := map[string]*Value{}
	for _, c := range s.Consts {
		consts[c.Name] = c.Value
	}
	if v := consts["PREFIX"]; v.Kind != StringValue || v.Str != "corpus-2" {
		t.Errorf("PREFIX = %+v", v)
	}
	if v := consts["TOP"]; v.Int != -1 {
		t.Errorf("TOP (byte 0xff) = %d, want -1", v.Int)
	}
	if v := consts["HALF"]; v.Kind != FloatValue || v.Float != 0.5 {
		t.Errorf("HALF = %+v", v)
	}
	if v := consts["LETTER"]; v.Kind != CharValue || v.Int != 'k' {
		t.Errorf("LETTER = %+v", v)
	}
	if v := consts["ON"]; v.Kind != BoolValue || !v.Bool || consts["CHOSEN"].Int != 1 {
		t.Errorf("ON = %+v, CHOSEN = %+v", v, consts["CHOSEN"])
	}
	if s.Doc == nil || !s.Doc.Hide || !strings.HasPrefix(s.Doc.Text, "Every kind of field") {
		t.Errorf("Settings doc %+v", s.Doc)
	}
	fields := map[string]*Field{}
	for _, f := range s.Fields {
		fields[f.Name] = f
	}
	if f := fields["kind"]; f.DefaultValue.Int != 11 || f.DefaultValue.Enumerator == nil || f.DefaultValue.Enumerator.Name != "LARGE" {
		t.Errorf("kind default %+v", f.DefaultValue)
	}
	if f := fields["mode"]; f.Type.Decl == nil || f.Type.Decl.Base().QualifiedName() != "kdbus.corpus.Settings.Mode" || f.DefaultValue.Int != 5 {
		t.Errorf("mode: %+v %+v", f.Type, f.DefaultValue)
	}
	if f := fields["numbers"]; f.DefaultValue.Kind != ArrayValue || len(f.DefaultValue.Elems) != 3 || f.DefaultValue.Elems[2].Int != 3 {
		t.Errorf("numbers default %+v", f.DefaultValue)
	}
	if f := fields["count"]; f.DefaultValue.Int != 21 {
		t.Errorf("count default %d, want 21", f.DefaultValue.Int)
	}
	if f := fields["range"]; f.Type.Kind != Declared || f.Type.Decl.Base().QualifiedName() != "kdbus.corpus.common.Range" {
		t.Errorf("range type %+v", f.Type)
	}
	if f := fields["named"]; len(f.Type.Args) != 2 || f.Type.Args[0].Kind != Builtin || f.Type.Args[1].Decl == nil {
		t.Errorf("named type %+v", f.Type)
	}
	if f := fields["note"]; !f.Type.Nullable() {
		t.Error("note is not nullable")
	}
	if f := fields["legacyTotal"]; f.Doc == nil || !f.Doc.Deprecated || f.Doc.DeprecatedNote != "use total" {
		t.Errorf("legacyTotal doc %+v", f.Doc)
	}
	if a := FindAnnotation(s.Annotations, "JavaDerive"); a == nil || a.Param("equals") == nil {
		t.Errorf("JavaDerive annotation %+v", a)
	}

	fixed := lookup[*Parcelable](t, l, "kdbus.corpus.Fixed")
	if d := fixed.Fields[1].Type.Dims; len(d) != 2 || d[0].Size != 2 || d[1].Size != 4 {
		t.Errorf("matrix dims %+v", d)
	}

	store := lookup[*Interface](t, l, "kdbus.corpus.IStore")
	if a := FindAnnotation(store.Annotations, "Descriptor"); a == nil {
		t.Error("no @Descriptor on IStore")
	}
	methods := map[string]*Method{}
	for _, m := range store.Methods {
		methods[m.Name] = m
	}
	fill := methods["fill"]
	if fill.ID != 4 || fill.Args[1].Direction != Out || fill.Args[2].Direction != InOut || !fill.Args[0].ExplicitDirection {
		t.Errorf("fill: %+v", fill)
	}
	if m := methods["touch"]; !m.Oneway {
		t.Error("touch is not oneway")
	}
	if m := methods["stat"]; m.Return.Decl == nil || m.Return.Decl.Base().Parent != Decl(store) {
		t.Errorf("stat returns %+v, want the nested Stat", m.Return)
	}
	if m := methods["listen"]; m.Args[0].Type.Kind != Declared || !m.Args[1].Type.Nullable() || m.Args[1].Type.Kind != Builtin {
		t.Errorf("listen args %+v %+v", m.Args[0].Type, m.Args[1].Type)
	}
	listener := lookup[*Interface](t, l, "kdbus.corpus.IListener")
	if !listener.Oneway || !listener.Methods[0].Oneway {
		t.Error("IListener is not oneway")
	}
	if n := lookup[*Parcelable](t, l, "kdbus.corpus.Native"); !n.Forward || n.CppHeader != "corpus/Native.h" || n.NdkHeader == "" {
		t.Errorf("Native: %+v", n)
	}
	if u := lookup[*Union](t, l, "kdbus.corpus.Value"); len(u.Fields) != 6 || u.Fields[0].DefaultValue.Int != 7 {
		t.Errorf("Value union: %d fields", len(u.Fields))
	}
}

// load loads in-memory files; the first is the one named.
func load(files map[string]string, name string) (*Loader, error) {
	l := &Loader{IncludeDirs: []string{"inc"}, ReadFile: func(p string) ([]byte, error) {
		if s, ok := files[filepath.ToSlash(p)]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}}
	_, err := l.Load(name)
	return l, err
}

// TestErrors checks that bad files are reported with their position and what was expected.
func TestErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"package a;\ninterface I { void f() }", "inc/a/I.aidl:2:24: expected ';' after the method declaration, found '}'"},
		{"package a;\nparcelable P { int x = ; }", "inc/a/P.aidl:2:24: expected a value (a literal, a constant name or a parenthesized expression), found ';'"},
		{"package a;\ninterface I { Foo f(); }", "inc/a/I.aidl:2:15: unknown type Foo: import it, or check its spelling"},
		{"package a;\nimport a.Missing;\ninterface I { void f(); }", "inc/a/I.aidl:2:8: cannot find import a.Missing: looked for [a/Missing.aidl a.aidl] in the include directories [inc]"},
		{"package a;\ninterface I { oneway int f(); }", "inc/a/I.aidl:2:22: oneway method f must return void"},
		{"package a;\ninterface I { void f(out int x); }", "inc/a/I.aidl:2:30: argument x is out, but a int can only be in: use an array, List, Map or parcelable"},
		{"package a;\ninterface I { void f() = 1; void g(); }", "inc/a/I.aidl:2:11: interface I gives transaction ids to 1 of its 2 methods: give all or none"},
		{"package a;\ninterface I { const int X = 1 / 0; }", "inc/a/I.aidl:2:29: division by zero"},
		{"package a;\ninterface I { const int X = Y; const int Y = X; }", "inc/a/I.aidl:2:25: constant X refers to itself"},
		{"package a;\ninterface I { const byte B = 300; }", "inc/a/I.aidl:2:30: 300 does not fit a byte (-128..127, or 0..255 written as hex)"},
		{"package a;\ninterface I { const int X = \"s\"; }", "inc/a/I.aidl:2:29: a string cannot initialize a int"},
		{"package a;\nenum E { A = B, B }", "inc/a/E.aidl:2:14: enumerator B is used before its value is known: refer only to earlier enumerators"},
		{"package a;\n@Backing(type=\"byte\") enum E { A = 300 }", "inc/a/E.aidl:2:36: 300 does not fit a byte (-128..127, or 0..255 written as hex)"},
		{"package a;\nparcelable P { int x; long x; }", "inc/a/P.aidl:2:28: x is declared twice in P (also at inc/a/P.aidl:2:20)"},
		{"package a;\ninterface I { void f(in int[] a); /* open", "inc/a/I.aidl:2:35: unterminated comment: expected '*/' before the end of the file"},
	}
	for _, c := range cases {
		file := "inc/a/" + declName(c.src) + ".aidl"
		_, err := load(map[string]string{file: c.src}, file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}

// declName returns the name declared by src, the word after the declaration keyword.
func declName(src string) string {
	f := strings.FieldsFunc(src, func(r rune) bool { return r == ' ' || r == '\n' || r == '{' || r == '<' || r == ';' })
	for i, w := range f {
		if (w == "interface" || w == "parcelable" || w == "enum" || w == "union") && i+1 < len(f) {
			return f[i+1]
		}
	}
	return "X"
}

// TestExpressions evaluates expressions by their value.
func TestExpressions(t *testing.T) {
	cases := []struct {
		typ, expr string
		want      Value
	}{
		{"int", "1 + 2 * 3", Value{Kind: IntValue, Int: 7}},
		{"int", "(1 + 2) * 3", Value{Kind: IntValue, Int: 9}},
		{"int", "1 << 4 | 1", Value{Kind: IntValue, Int: 17}},
		{"int", "0xffffffff", Value{Kind: IntValue, Int: -1}},
		{"int", "2147483647 + 1", Value{Kind: IntValue, Int: -2147483648}},
		{"long", "2147483647L + 1", Value{Kind: IntValue, Int: 2147483648}},
		{"int", "-7 / 2", Value{Kind: IntValue, Int: -3}},
		{"int", "-7 % 3", Value{Kind: IntValue, Int: -1}},
		{"int", "~0", Value{Kind: IntValue, Int: -1}},
		{"int", "1 > 2 ? 10 : 20", Value{Kind: IntValue, Int: 20}},
		{"boolean", "1 < 2 && 3 >= 3 || false", Value{Kind: BoolValue, Bool: true}},
		{"boolean", "!(1 == 1)", Value{Kind: BoolValue, Bool: false}},
		{"String", "\"a\" + 1 + \"b\"", Value{Kind: StringValue, Str: "a1b"}},
		{"String", "\"tab\\tq\\\"\"", Value{Kind: StringValue, Str: "tab\tq\""}},
		{"double", "1 / 4.0", Value{Kind: FloatValue, Float: 0.25}},
		{"float", "2.5f", Value{Kind: FloatValue, Float: 2.5}},
		{"byte", "0x80", Value{Kind: IntValue, Int: -128}},
		{"byte", "-128", Value{Kind: IntValue, Int: -128}},
		{"char", "'\\u0041'", Value{Kind: CharValue, Int: 'A'}},
		{"long", "0xffffffffffffffffL", Value{Kind: IntValue, Int: -1}},
	}
	for _, c := range cases {
		src := "package a;\ninterface I { const " + c.typ + " X = " + c.expr + "; }"
		l, err := load(map[string]string{"inc/a/I.aidl": src}, "inc/a/I.aidl")
		if err != nil {
			t.Errorf("%s %s: %v", c.typ, c.expr, err)
			continue
		}
		got := l.Lookup("a.I").Base().Consts[0].Value
		if got.Kind != c.want.Kind || got.Int != c.want.Int || got.Float != c.want.Float || got.Str != c.want.Str || got.Bool != c.want.Bool {
			t.Errorf("%s %s = %+v, want %+v", c.typ, c.expr, *got, c.want)
		}
	}
}

// TestAOSPTree loads a tree of real AOSP AIDL files when AIDL_AOSP_DIR names one: a directory
// with a file INCLUDES that lists its include roots, one per line, relative to it.
func TestAOSPTree(t *testing.T) {
	dir := os.Getenv("AIDL_AOSP_DIR")
	if dir == "" {
		t.Skip("set AIDL_AOSP_DIR to a tree of .aidl files with an INCLUDES file to run")
	}
	inc, err := os.Open(filepath.Join(dir, "INCLUDES"))
	if err != nil {
		t.Fatal(err)
	}
	defer inc.Close()
	l := &Loader{}
	sc := bufio.NewScanner(inc)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			l.IncludeDirs = append(l.IncludeDirs, filepath.Join(dir, line))
		}
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".aidl") {
			files = append(files, p)
		}
		return err
	})
	if _, err := l.Load(files...); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d files", len(l.Files()))
}
