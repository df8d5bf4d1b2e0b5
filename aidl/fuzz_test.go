package aidl

import (
	"io/fs"
	"os"
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
