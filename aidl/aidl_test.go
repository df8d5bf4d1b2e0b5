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

	extras := lookup[*Interface](t, l, "kdbus.corpus.IExtras")
	ec := map[string]*Value{}
	for _, c := range extras.Consts {
		ec[c.Name] = c.Value
	}
	if ec["LIMIT"].Int != 301 || ec["TAGGED"].Str != "store:corpus-2" || ec["MASK"].Int != 1<<63-1 || !ec["BIG"].Bool || ec["PICKED"].Int != 301%7 {
		t.Errorf("IExtras constants LIMIT=%d TAGGED=%q MASK=%d BIG=%v PICKED=%d", ec["LIMIT"].Int, ec["TAGGED"].Str, ec["MASK"].Int, ec["BIG"].Bool, ec["PICKED"].Int)
	}
	em := map[string]*Method{}
	for _, m := range extras.Methods {
		em[m.Name] = m
	}
	if a := FindAnnotation(em["collect"].Annotations, "EnforcePermission"); a == nil || len(a.Param("allOf").Value.(*ArrayLit).Elems) != 2 {
		t.Errorf("collect's @EnforcePermission %+v", a)
	}
	if d := em["counts"].Args[0].Type.Dims; len(d) != 1 || d[0].Size != 3 {
		t.Errorf("counts window dims %+v", d)
	}
	if r := em["mode"].Return; r.Decl == nil || r.Decl.Base().QualifiedName() != "kdbus.corpus.Settings.Mode" {
		t.Errorf("mode returns %+v (nested import)", r)
	}
	if a := em["swap"].Args[0]; a.Direction != InOut || a.Type.Decl != Decl(lookup[*Union](t, l, "kdbus.corpus.Value")) {
		t.Errorf("swap value %+v", a)
	}
	if !em["ping"].Oneway {
		t.Error("ping is not oneway")
	}
	if extras.Doc == nil || !strings.HasPrefix(extras.Doc.Text, "An interface whose methods") {
		t.Errorf("IExtras line-comment doc %+v", extras.Doc)
	}

	tree := lookup[*Parcelable](t, l, "kdbus.corpus.Tree")
	tf := map[string]*Field{}
	for _, f := range tree.Fields {
		tf[f.Name] = f
	}
	if a := FindAnnotation(tf["left"].Type.Annotations, "nullable"); a == nil || a.Param("heap") == nil || tf["left"].Type.Decl != Decl(tree) {
		t.Errorf("left %+v", tf["left"].Type)
	}
	if lv := tf["levels"].Type; lv.Name != "List" || lv.Args[0].Name != "List" || lv.Args[0].Args[0].Decl == nil {
		t.Errorf("levels %+v", lv)
	}
	if b := tf["blob"].DefaultValue; len(b.Elems) != 3 || b.Elems[2].Int != -1 {
		t.Errorf("blob default %+v", b)
	}
	if w := tf["weights"].DefaultValue; w.Elems[1].Kind != FloatValue || w.Elems[1].Float != 1 {
		t.Errorf("weights default %+v", w)
	}
	if c := tf["choice"].Type; c.Decl == nil || len(c.Args) != 2 || len(c.Decl.(*Union).TypeParams) != 2 {
		t.Errorf("choice %+v", c)
	}
	if f := lookup[*Parcelable](t, l, "kdbus.corpus.Foreign"); !f.Forward || f.RustType != "kdbus_corpus::Foreign" {
		t.Errorf("Foreign %+v", f)
	}
	signed := lookup[*Enum](t, l, "kdbus.corpus.Signed")
	var sv []int64
	for _, e := range signed.Enumerators {
		sv = append(sv, e.Value)
	}
	if fmt.Sprint(sv) != "[-128 -127 0 127 11 22]" {
		t.Errorf("Signed values %v", sv)
	}
	if d := signed.Enumerators[5].Doc; d == nil || !d.Deprecated || d.DeprecatedNote != "use FROM_KIND" {
		t.Errorf("DOUBLED doc %+v", d)
	}
	if d := signed.Enumerators[1].Doc; d == nil || d.Text != "After MIN." {
		t.Errorf("NEXT doc %+v", d)
	}
	if d := signed.Enumerators[5-1].Doc; d != nil {
		t.Errorf("FROM_KIND doc %+v, want none", d)
	}
}

// TestAOSPTree loads a tree of real AOSP AIDL files when AIDL_AOSP_DIR names one. Every .aidl
// file under it is loaded, except those under aidl_api directories (frozen copies of the same
// types), the files of each include root (the directory above their package directories) with
// a Loader of their own, as the AOSP build compiles them; the include directories are every
// root of the tree and those listed, one a line, in an INCLUDES file at its top (relative to
// it, or absolute). aidl/toproto's TestAOSPTree converts, generates and builds the same trees.
func TestAOSPTree(t *testing.T) {
	dir := os.Getenv("AIDL_AOSP_DIR")
	if dir == "" {
		t.Skip("set AIDL_AOSP_DIR to a tree of .aidl files to run")
	}
	byRoot := map[string][]string{}
	var roots []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "aidl_api" && p != dir {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".aidl") {
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			root := filepath.Dir(p)
			if f, _ := Parse(p, src); f != nil {
				if r, ok := impliedRoot(p, f.Package); ok {
					root = r
				}
			}
			if byRoot[root] == nil {
				roots = append(roots, root)
			}
			byRoot[root] = append(byRoot[root], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	includes := append([]string(nil), roots...)
	if inc, err := os.ReadFile(filepath.Join(dir, "INCLUDES")); err == nil {
		sc := bufio.NewScanner(strings.NewReader(string(inc)))
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				if !filepath.IsAbs(line) {
					line = filepath.Join(dir, line)
				}
				includes = append(includes, line)
			}
		}
	}
	files, loaded, decls := 0, 0, 0
	for _, root := range roots {
		files += len(byRoot[root])
		l := &Loader{IncludeDirs: append([]string{root}, includes...)}
		if _, err := l.Load(byRoot[root]...); err != nil {
			t.Errorf("%s: %s", root, strings.SplitN(err.Error(), "\n", 2)[0])
			continue
		}
		loaded += len(byRoot[root])
		for _, f := range l.Files() {
			decls += len(f.Decls)
		}
	}
	t.Logf("%s: %d files under %d include roots, %d loaded (%d declarations with their imports)", dir, files, len(roots), loaded, decls)
}
