package aidl

import (
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are hand-written files that reach the corners of the grammar and the evaluator.
var fuzzSeeds = []string{
	"package a;\nenum E { A = 1 << 62L, B }",
	"package a;\nparcelable P<T> { List<List<T>> x; T[2][3] y; Map<String, T[]> m; }",
	"package a;\n@Backing(type=\"long\") enum E { A = 0x7fffffffffffffffL, B }",
	"package a;\ninterface I { const int X = Y; const int Y = X; }",
	"package a;\ninterface I { const String S = \"a\" + 1 + 'c' + 2.5 + true; const int Z = 1 ? 2 : 3; }",
	"package a;\ninterface I { const long L = -9223372036854775807L - 1; const long M = -L; }",
	"package a;\ninterface I { const int S = 1 << -33; const int T = -1 >> 40; const int U = 5 / 0; }",
	"package a;\nimport a.I.Missing;\ninterface I { parcelable N { I.N n; } I.N f(in I.N[] a, out List<I.N> b) = 1; }",
	"package a;\n@FixedSize parcelable P { int[N] a; const int N = 2; byte[2][N * 2] m = {{1, 2, 3, 4}, {5, 6, 7, 8}}; }",
	"package a;\nunion U { @nullable(heap=true) U u; int[] n = {1,}; }",
	"package a;\n/** @hide @deprecated x */ oneway interface I { /* */ void f(in int[] a) = 0; }",
	"parcelable P cpp_header \"p.h\";\nparcelable Q;",
	"package a;\ninterface I { void f( ",
	"package a;\nparcelable P { int x = 1 +; }\n}}}\n;;;\n@@@\nenum",
}

// FuzzParse parses arbitrary text as an AIDL file and, when it parses, loads it with a Loader
// over memory (so that imports of the same package resolve to other seeds' names): neither may
// panic or hang, whatever the input.
func FuzzParse(f *testing.F) {
	for _, p := range corpusFiles(f) {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("inc/a/In.aidl", src)
		if err != nil {
			if el, ok := err.(ErrorList); !ok || len(el) == 0 || len(el) > maxErrors+1 {
				t.Fatalf("Parse error %T with %d entries", err, len(el))
			}
			return
		}
		if file == nil {
			t.Fatal("no file and no error")
		}
		// Name the file after its package and first declaration, so that the Loader finds it
		// where imports and same-package references look.
		path := "inc/a/In.aidl"
		if len(file.Decls) > 0 {
			dir := strings.ReplaceAll(file.Package, ".", "/")
			path = "inc/" + dir + "/" + file.Decls[0].Base().Name + ".aidl"
		}
		mem := map[string][]byte{path: src}
		l := &Loader{IncludeDirs: []string{"inc"}, ReadFile: func(p string) ([]byte, error) {
			if b, ok := mem[p]; ok {
				return b, nil
			}
			return nil, fs.ErrNotExist
		}}
		if _, err := l.Load(path); err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("Load error %T: %v", err, err)
			}
		}
	})
}

// evalSeeds are constant expressions with the type they initialize: the aidl compiler's typing
// of literals, booleans as numbers, suffixes, separators, shifts and overflows.
var evalSeeds = []struct{ typ, expr string }{
	{"int", "(~(-1)) == 0"},
	{"int", "-0xfffffffffff < 0"},
	{"byte", "0xffu8 + 1 == 0"},
	{"boolean", "0x80u8 / 2 == -0x40u8"},
	{"int", "0xFFFFFFFFu32"},
	{"long", "0xC000000000000000u64 + 0xFFFFFFFFu32"},
	{"int", "0x8000_0000"},
	{"long", "10_000_000_000L"},
	{"int", "1 << 31"},
	{"long", "1L << 63 >> 2"},
	{"int", "-2147483648 / -1"},
	{"byte", "-128"},
	{"boolean", "!5 || 1 && true"},
	{"double", "1e-9f * 3"},
	{"String", "\"a\" + 1 + 'c'"},
	{"char", "'\\u0041'"},
	{"int", "true ? 1_0 : 2"},
	{"long", "~0L ^ 0x7fffffffffffffffL"},
}

// FuzzEval evaluates "const T X = expr;" for arbitrary expressions. A value, when there is
// one, has the kind and range of its declared type; an expression that initializes an int
// initializes a long with the same value, as widening the declared type changes nothing in
// how the aidl compiler computes it.
func FuzzEval(f *testing.F) {
	for _, s := range evalSeeds {
		f.Add(s.typ, s.expr)
	}
	f.Fuzz(func(t *testing.T, typ, expr string) {
		switch typ {
		case "byte", "int", "long", "boolean", "char", "float", "double", "String":
		default:
			return
		}
		if strings.ContainsAny(expr, ";{}\n") || len(expr) > 200 {
			return // one expression, not declarations
		}
		eval := func(typ string) (*Value, error) {
			src := "package a;\ninterface I { const " + typ + " X = " + expr + "; }"
			l := &Loader{IncludeDirs: []string{"inc"}, ReadFile: func(p string) ([]byte, error) {
				if filepath.ToSlash(p) == "inc/a/I.aidl" {
					return []byte(src), nil
				}
				return nil, fs.ErrNotExist
			}}
			if _, err := l.Load("inc/a/I.aidl"); err != nil {
				if _, ok := err.(ErrorList); !ok {
					t.Fatalf("error %T: %v", err, err)
				}
				return nil, err
			}
			return l.Lookup("a.I").Base().Consts[0].Value, nil
		}
		v, err := eval(typ)
		if err != nil {
			return
		}
		ok := false
		switch typ {
		case "byte":
			ok = v.Kind == IntValue && v.Int >= math.MinInt8 && v.Int <= math.MaxInt8
		case "int":
			ok = v.Kind == IntValue && v.Int >= math.MinInt32 && v.Int <= math.MaxInt32
		case "long":
			ok = v.Kind == IntValue
		case "boolean":
			ok = v.Kind == BoolValue
		case "char":
			ok = v.Kind == CharValue && v.Int >= 0 && v.Int <= 0xffff
		case "float", "double":
			ok = v.Kind == FloatValue
		case "String":
			ok = v.Kind == StringValue || v.Kind == NullValue
		}
		if !ok {
			t.Fatalf("const %s X = %s gave %+v", typ, expr, *v)
		}
		if typ == "int" {
			w, err := eval("long")
			if err != nil || w.Int != v.Int {
				t.Fatalf("%s: int %d, long %+v %v", expr, v.Int, w, err)
			}
		}
	})
}
