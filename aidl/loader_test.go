package aidl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes files (slash-separated paths relative to dir) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoaderIncludeDirs resolves types across two include directories on disk: imports,
// nested imports, same-package types without an import, qualified names, nested types of
// the declaration and its parents, and type parameters.
func TestLoaderIncludeDirs(t *testing.T) {
	root := t.TempDir()
	src, dep := filepath.Join(root, "src"), filepath.Join(root, "dep")
	writeTree(t, dep, map[string]string{
		"x/hal/Effect.aidl": "package x.hal;\n@Backing(type=\"int\") enum Effect { CLICK, TICK }\n",
		"x/hal/Box.aidl":    "package x.hal;\nparcelable Box { parcelable Inner { int v; } enum Color { RED } }\n",
		"x/hal/Pair.aidl":   "package x.hal;\nparcelable Pair<A, B> { A a; B b; }\n",
	})
	writeTree(t, src, map[string]string{
		"app/IApp.aidl": `package app;
import x.hal.Effect;
import x.hal.Box.Inner;
import x.hal.Pair;
import x.hal.Box;
interface IApp {
    parcelable Local { Local[] children; Helper h; }
    Effect play(in Effect e);
    Inner inner();
    Box.Color color();
    x.hal.Box qualified();
    Helper helper();
    Local local();
    Pair<String, Local> pair();
    void take(in List<Map<String, Effect>> l, in IApp self);
}`,
		"app/Helper.aidl": "package app;\nparcelable Helper { IApp.Local back; }\n",
	})
	l := &Loader{IncludeDirs: []string{dep}}
	files, err := l.Load(filepath.Join(src, "app", "IApp.aidl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Fatalf("%d files returned", len(files))
	}
	it := l.Lookup("app.IApp").(*Interface)
	want := map[string]string{
		"play":      "x.hal.Effect",
		"inner":     "x.hal.Box.Inner",
		"color":     "x.hal.Box.Color",
		"qualified": "x.hal.Box",
		"helper":    "app.Helper",
		"local":     "app.IApp.Local",
		"pair":      "x.hal.Pair",
	}
	for _, m := range it.Methods {
		if w, ok := want[m.Name]; ok {
			if m.Return.Kind != Declared || m.Return.Decl.Base().QualifiedName() != w {
				t.Errorf("%s returns %v, want %s", m.Name, m.Return.Decl, w)
			}
		}
	}
	take := it.Methods[len(it.Methods)-1]
	if a := take.Args[0].Type; a.Kind != Builtin || a.Args[0].Args[1].Decl != l.Lookup("x.hal.Effect") {
		t.Errorf("take's list %+v", a)
	}
	if a := take.Args[1].Type; a.Decl != Decl(it) {
		t.Error("self reference not resolved")
	}
	helper := l.Lookup("app.Helper").(*Parcelable)
	if helper.Fields[0].Type.Decl != it.Nested[0] {
		t.Error("Helper's IApp.Local not resolved")
	}
	pairDecl := l.Lookup("x.hal.Pair").(*Parcelable)
	if pairDecl.Fields[0].Type.Kind != TypeParam {
		t.Error("type parameter not resolved")
	}
	// The root file's directory implies the include root src: Helper was found there.
	var paths []string
	for _, f := range l.Files() {
		rel, _ := filepath.Rel(root, f.Path)
		paths = append(paths, filepath.ToSlash(rel))
	}
	if got := strings.Join(paths, " "); got != "src/app/IApp.aidl dep/x/hal/Effect.aidl dep/x/hal/Box.aidl dep/x/hal/Pair.aidl src/app/Helper.aidl" {
		t.Errorf("files in load order: %s", got)
	}
	if im := l.Files()[0].Imports[1]; im.Decl == nil || im.Decl.Base().Name != "Inner" {
		t.Errorf("nested import resolved to %v", im.Decl)
	}
}

// TestLoaderErrors checks what the loader reports, with positions, and that it reports
// problems of several files at once.
func TestLoaderErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"package a;\ninterface I { Foo f(); }", `inc/a/I.aidl:2:15: unknown type "Foo": import it, or declare it in this package`},
		{"package a;\nenum Effect { A }\n", ""},
		{"package a;\nimport a.Effect;\ninterface I { Efect f(); }", `inc/a/I.aidl:3:15: unknown type "Efect" (did you mean "Effect"?)`},
		{"package a;\ninterface I { Strin f(); }", `inc/a/I.aidl:2:15: unknown type "Strin" (did you mean "String"?)`},
		{"package a;\nimport a.Missing;\ninterface I { void f(); }", "inc/a/I.aidl:2:8: cannot find import a.Missing: looked for a/Missing.aidl in include directories [inc]"},
		{"package a;\nimport a.Missing.Inner;\ninterface I { void f(); }", "inc/a/I.aidl:2:8: cannot find import a.Missing.Inner: looked for a/Missing/Inner.aidl and a/Missing.aidl in include directories [inc]"},
		{"package a;\ninterface I { oneway int f(); }", "inc/a/I.aidl:2:22: oneway method f must return void"},
		{"package a;\noneway interface I { void f(out int[] x); }", "inc/a/I.aidl:2:39: oneway method f cannot have out argument x"},
		{"package a;\ninterface I { void f(out int x); }", "inc/a/I.aidl:2:30: out argument x: an int can only be in (out and inout take arrays, List, Map, parcelables, unions and ParcelFileDescriptor)"},
		{"package a;\ninterface I { void f(inout String x); }", "inc/a/I.aidl:2:35: inout argument x: a String can only be in (out and inout take arrays, List, Map, parcelables, unions and ParcelFileDescriptor)"},
		{"package a;\ninterface I { void f(out I x); }", "inc/a/I.aidl:2:28: out argument x: an I can only be in (out and inout take arrays, List, Map, parcelables, unions and ParcelFileDescriptor)"},
		{"package a;\ninterface I { enum E { A } void f(out E x); }", "inc/a/I.aidl:2:41: out argument x: an E can only be in (out and inout take arrays, List, Map, parcelables, unions and ParcelFileDescriptor)"},
		{"package a;\ninterface I { void f(int[] x); }", "inc/a/I.aidl:2:28: argument x needs a direction: an int[] can be in, out or inout"},
		{"package a;\ninterface I { void f(in void x); }", "inc/a/I.aidl:2:25: argument x cannot be void"},
		{"package a;\ninterface I { void f() = 1; void g(); }", "inc/a/I.aidl:2:11: interface I gives transaction ids to 1 of its 2 methods: give all or none"},
		{"package a;\ninterface I { void f() = 1; void g() = 1; }", "inc/a/I.aidl:2:34: transaction id 1 of g is taken by f"},
		{"package a;\ninterface I { void f(); void f(int x); }", "inc/a/I.aidl:2:30: f is declared twice in I (also at inc/a/I.aidl:2:20)"},
		{"package a;\nparcelable P { int x; long x; }", "inc/a/P.aidl:2:28: x is declared twice in P (also at inc/a/P.aidl:2:20)"},
		{"package a;\nparcelable P { const int X = 1; int X; }", "inc/a/P.aidl:2:37: X is declared twice in P (also at inc/a/P.aidl:2:26)"},
		{"package a;\nparcelable P { enum E { A } parcelable E {} }", "inc/a/P.aidl:2:40: a.P.E is declared twice (also at inc/a/P.aidl:2:21)"},
		{"package a;\nparcelable P { void v; }", "inc/a/P.aidl:2:16: field v cannot be void"},
		{"package a;\nunion U { }", "inc/a/U.aidl:2:7: union U has no members"},
		{"package a;\nparcelable P { List<int, int> l; }", "inc/a/P.aidl:2:16: List takes one type arguments, found 2"},
		{"package a;\nparcelable P { String<int> s; }", "inc/a/P.aidl:2:16: String takes no type arguments"},
		{"package a;\nparcelable P<T> { P<String, String> p; }", "inc/a/P.aidl:2:19: P takes 1 type arguments, found 2"},
		{"package a;\nparcelable P { int[0] x; }", "inc/a/P.aidl:2:20: an array size must be a positive int, found 0"},
		{"package a;\nparcelable P { int[2] x = {1, 2, 3}; }", "inc/a/P.aidl:2:27: expected an array of 2 elements, found 3"},
		{"package a;\nparcelable P { enum E { A } E e = 0; }", "inc/a/P.aidl:2:35: an int cannot initialize an E: name one of its enumerators (E.NAME)"},
		{"package a;\nparcelable P { enum E { A } enum F { B } E e = F.B; }", "inc/a/P.aidl:2:48: an int cannot initialize an E: name one of its enumerators (E.NAME)"},
		{"package a;\nparcelable P { parcelable Q {} Q q = 1; }", "inc/a/P.aidl:2:38: a Q cannot be a constant or have a default value"},
		{"package a;\nparcelable P { const IBinder B = 1; }", "inc/a/P.aidl:2:34: an IBinder cannot be a constant or have a default value"},
	}
	for _, c := range cases {
		if c.want == "" {
			continue
		}
		file := "inc/a/" + declName(c.src) + ".aidl"
		files := map[string]string{file: c.src, "inc/a/Effect.aidl": "package a;\nenum Effect { A }\n"}
		_, err := load(files, file)
		if err == nil || strings.Split(err.Error(), "\n")[0] != c.want {
			t.Errorf("%q:\n got %v\nwant %s", c.src, err, c.want)
		}
	}

	// Several files, several problems, sorted by file and position.
	files := map[string]string{
		"inc/a/A.aidl": "package a;\nparcelable A { Nope x; B b; }",
		"inc/a/B.aidl": "package a;\nparcelable B { int y = \"s\"; Gone g; }",
	}
	want := `inc/a/A.aidl:2:16: unknown type "Nope": import it, or declare it in this package
inc/a/B.aidl:2:29: unknown type "Gone" (did you mean "Done"?)`
	files["inc/a/Done.aidl"] = "package a;\nparcelable Done {}"
	_, err := load(files, "inc/a/A.aidl", "inc/a/Done.aidl")
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
	// Syntax errors of several named files are reported together.
	files = map[string]string{
		"inc/a/A.aidl": "package a;\nparcelable A { int x }",
		"inc/a/B.aidl": "package a;\nparcelable B { int y = ; }",
	}
	_, err = load(files, "inc/a/A.aidl", "inc/a/B.aidl")
	want = `inc/a/A.aidl:2:22: expected ';' after field x, found '}'
inc/a/B.aidl:2:24: expected a value (a literal, a constant name or a parenthesized expression), found ';'`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
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

// TestLoaderMissingFile checks that a named file that does not exist is an error.
func TestLoaderMissingFile(t *testing.T) {
	l := &Loader{}
	if _, err := l.Load(filepath.Join(t.TempDir(), "None.aidl")); err == nil || !strings.Contains(err.Error(), "None.aidl") {
		t.Errorf("got %v", err)
	}
}

// TestLoaderDuplicate checks that one type declared in two files is an error.
func TestLoaderDuplicate(t *testing.T) {
	files := map[string]string{
		"inc/a/P.aidl":   "package a;\nparcelable P {}",
		"other/a/P.aidl": "package a;\nparcelable P {}",
	}
	_, err := load(files, "inc/a/P.aidl", "other/a/P.aidl")
	want := "other/a/P.aidl:2:12: a.P is declared twice (also at inc/a/P.aidl:2:12)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestImpliedRoot checks which include directory a file's path and package imply.
func TestImpliedRoot(t *testing.T) {
	cases := []struct{ path, pkg, want string }{
		{"src/a/b/C.aidl", "a.b", "src"},
		{"a/b/C.aidl", "a.b", "."},
		{"/x/a/b/C.aidl", "a.b", "/x"},
		{"/a/b/C.aidl", "a.b", "/"},
		{"src/xa/b/C.aidl", "a.b", ""},
		{"src/C.aidl", "a.b", ""},
		{"src/C.aidl", "", ""},
	}
	for _, c := range cases {
		got, ok := impliedRoot(filepath.FromSlash(c.path), c.pkg)
		if filepath.ToSlash(got) != c.want || ok != (c.want != "") {
			t.Errorf("impliedRoot(%s, %s) = %q, %v; want %q", c.path, c.pkg, got, ok, c.want)
		}
	}
}

// TestUnionTag checks the Tag enum every union implicitly declares.
func TestUnionTag(t *testing.T) {
	files := map[string]string{
		"inc/a/U.aidl": `package a;
union U {
    int number;
    String text;
    parcelable Id { U.Tag tag; Tag again; }
    const int T = 1;
}`,
		"inc/a/P.aidl": `package a;
import a.U;
parcelable P {
    U.Tag which = U.Tag.text;
    const int N = U.Tag.text + 1;
}`,
		"inc/a/Own.aidl": "package a;\nunion Own { int x; enum Tag { MINE } Tag t; }",
	}
	l, err := load(files, "inc/a/P.aidl", "inc/a/Own.aidl")
	if err != nil {
		t.Fatal(err)
	}
	u := l.Lookup("a.U").(*Union)
	if u.Tag == nil || u.Tag.Backing != "int" || len(u.Tag.Enumerators) != 2 || u.Tag.Enumerators[1].Name != "text" || u.Tag.Enumerators[1].Value != 1 {
		t.Fatalf("U.Tag %+v", u.Tag)
	}
	if len(u.Nested) != 1 || l.Lookup("a.U.Tag") != Decl(u.Tag) || u.Tag.Parent != Decl(u) {
		t.Error("Tag is not looked up by name, or became nested")
	}
	id := u.Nested[0].(*Parcelable)
	if id.Fields[0].Type.Decl != Decl(u.Tag) || id.Fields[1].Type.Decl != Decl(u.Tag) {
		t.Error("Tag not resolved inside the union")
	}
	p := l.Lookup("a.P").(*Parcelable)
	if v := p.Fields[0].DefaultValue; v.Int != 1 || v.Enumerator != u.Tag.Enumerators[1] || p.Consts[0].Value.Int != 2 {
		t.Errorf("P: %+v %+v", v, p.Consts[0].Value)
	}
	own := l.Lookup("a.Own").(*Union)
	if own.Fields[1].Type.Decl != own.Nested[0] || own.Tag != nil {
		t.Error("a union's own Tag must win over the implicit one")
	}
}
