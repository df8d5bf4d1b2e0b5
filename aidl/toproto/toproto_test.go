package toproto

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/jhump/protoreflect/desc"
	"github.com/kdbus-go/kdbus/aidl"
	"github.com/kdbus-go/kdbus/internal/generator"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// corpusPrefix is the Go package prefix of the converted corpus.
const corpusPrefix = "example.com/corpus/gen"

// convertDir loads every .aidl under dir (with dir and extra as include directories) and
// converts it.
func convertDir(t *testing.T, dir string, includes []string) *Result {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".aidl") {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no .aidl files under %s", dir)
	}
	l := &aidl.Loader{IncludeDirs: includes}
	if _, err := l.Load(files...); err != nil {
		t.Fatal(err)
	}
	res, err := Convert(l.Files(), Options{GoPackagePrefix: corpusPrefix})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func notesText(res *Result) string {
	var b strings.Builder
	for _, n := range res.Notes {
		b.WriteString(filepath.ToSlash(n.String()))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestCorpusGolden converts the AIDL corpus and compares the protos and the notes with the
// golden files (go test ./aidl/toproto -run Golden -update rewrites them).
func TestCorpusGolden(t *testing.T) {
	corpus := filepath.Join("..", "testdata", "corpus")
	res := convertDir(t, corpus, []string{corpus})
	out := t.TempDir()
	if _, err := res.Write(out); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden")
	got := map[string][]byte{"notes.txt": []byte(strings.ReplaceAll(notesText(res), "../testdata/corpus/", ""))}
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(out, p)
			got[rel], _ = os.ReadFile(p)
		}
		return err
	})
	if *update {
		os.RemoveAll(golden)
		for rel, b := range got {
			os.MkdirAll(filepath.Join(golden, filepath.Dir(rel)), 0o755)
			if err := os.WriteFile(filepath.Join(golden, rel), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	n := 0
	filepath.WalkDir(golden, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(golden, p)
		want, _ := os.ReadFile(p)
		if g, ok := got[rel]; !ok {
			t.Errorf("%s is no longer produced", rel)
		} else if !bytes.Equal(g, want) {
			t.Errorf("%s differs from the golden file; run go test ./aidl/toproto -run Golden -update and review the diff\n--- got:\n%s", rel, g)
		}
		return nil
	})
	if n != len(got) {
		t.Errorf("%d golden files, %d produced: run with -update", n, len(got))
	}
}

// TestDeterministic converts the corpus twice: the bytes are the same.
func TestDeterministic(t *testing.T) {
	corpus := filepath.Join("..", "testdata", "corpus")
	a, b := convertDir(t, corpus, []string{corpus}), convertDir(t, corpus, []string{corpus})
	for i := range a.Files {
		var x, y bytes.Buffer
		Print(a.Files[i], &x)
		Print(b.Files[i], &y)
		if !bytes.Equal(x.Bytes(), y.Bytes()) {
			t.Fatalf("%s differs between two conversions", a.Files[i].GetName())
		}
	}
}

// TestOrderIndependent converts the corpus with its files given in two orders: every file and
// the notes come out byte for byte the same.
func TestOrderIndependent(t *testing.T) {
	corpus := filepath.Join("..", "testdata", "corpus")
	var files []string
	filepath.WalkDir(corpus, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".aidl") {
			files = append(files, p)
		}
		return err
	})
	sort.Strings(files)
	convert := func(files []string) map[string]string {
		l := &aidl.Loader{IncludeDirs: []string{corpus}}
		if _, err := l.Load(files...); err != nil {
			t.Fatal(err)
		}
		res, err := Convert(l.Files(), Options{GoPackagePrefix: corpusPrefix})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{"notes": notesText(res)}
		for _, fd := range res.Files {
			var b bytes.Buffer
			if err := Print(fd, &b); err != nil {
				t.Fatal(err)
			}
			out[fd.GetName()] = b.String()
		}
		return out
	}
	a := convert(files)
	reversed := append([]string(nil), files...)
	sort.Sort(sort.Reverse(sort.StringSlice(reversed)))
	b := convert(reversed)
	if len(a) != len(b) {
		t.Fatalf("%d outputs, then %d", len(a), len(b))
	}
	for name, x := range a {
		if b[name] != x {
			t.Errorf("%s differs with the files in reverse order:\n%s\n---\n%s", name, x, b[name])
		}
	}
}

// TestCorpusBuilds writes the converted corpus, compiles it from the printed text, generates
// Go with protoc-gen-go and protoc-gen-kdbus, and builds and vets the result in a module of
// its own, as a new user would.
func TestCorpusBuilds(t *testing.T) {
	corpus := filepath.Join("..", "testdata", "corpus")
	warnings := buildConverted(t, convertDir(t, corpus, []string{corpus}))
	// Assistance's signature is longer than D-Bus allows: the plugin carries its lists in
	// serialized form and says so.
	if !strings.Contains(warnings, "kdbus.corpus.Assistance.") || !strings.Contains(warnings, "serialized protobuf") {
		t.Errorf("no fallback for Assistance in the plugin's warnings:\n%s", warnings)
	}
}

// buildConverted is TestCorpusBuilds for any conversion; it returns protoc-gen-kdbus's
// warnings.
func buildConverted(t *testing.T, res *Result) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a module")
	}
	work := t.TempDir()
	protoDir := filepath.Join(work, "proto")
	written, err := res.Write(protoDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range written {
		rel, _ := filepath.Rel(protoDir, w)
		names = append(names, filepath.ToSlash(rel))
	}
	// Compile the printed text: what a user's protoc or buf would read.
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	protos, err := generator.ParseProtos([]string{protoDir, filepath.Join(root, "proto")}, names...)
	if err != nil {
		t.Fatalf("the converted protos do not compile: %v", err)
	}
	module := "module=" + corpusPrefix
	var files []*pluginpb.CodeGeneratorResponse_File
	// protoc-gen-go, in process.
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: names, ProtoFile: protos, Parameter: proto.String(module)}
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gen.Files {
		if f.Generate {
			internal_gengo.GenerateFile(gen, f)
		}
	}
	resp := gen.Response()
	if resp.Error != nil {
		t.Fatalf("protoc-gen-go: %s", resp.GetError())
	}
	files = append(files, resp.File...)
	// protoc-gen-kdbus, in process: it must accept every converted proto.
	var warnings strings.Builder
	ours, err := generator.Compile([]string{protoDir, filepath.Join(root, "proto")}, module, &warnings, names...)
	if err != nil {
		t.Fatalf("protoc-gen-kdbus refuses the converted protos: %v", err)
	}
	files = append(files, ours...)

	mod := filepath.Join(work, "mod")
	for _, f := range files {
		p := filepath.Join(mod, "gen", filepath.FromSlash(f.GetName()))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f.GetContent()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gomod := "module example.com/corpus\n\ngo 1.26\n\nrequire github.com/kdbus-go/kdbus v0.0.0\n\nreplace github.com/kdbus-go/kdbus => " + root + "\n"
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644)
	for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s on the generated code: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	t.Logf("%d protos, %d generated files build", len(names), len(files))
	return warnings.String()
}

// aospUnit is a set of AIDL files converted together, as the AOSP build compiles them: the
// files under one include root (the directory above their package directories), or one
// frozen version of a package (aidl_api/<package>/<version>), which declares the same types
// again.
type aospUnit struct {
	id, dir string // dir: the version directory of a frozen unit, "" for the tree's own files
	files   []string
}

// aospUnits splits the .aidl files under dir into units.
func aospUnits(t *testing.T, dir string) (units []*aospUnit, roots []string) {
	own := map[string]*aospUnit{}
	frozen := map[string]*aospUnit{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".aidl") {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, dir))
		i := strings.Index(rel, "/aidl_api/")
		if i < 0 {
			root := filepath.Dir(p)
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if f, _ := aidl.Parse(p, src); f != nil && f.Package != "" {
				if suffix := filepath.FromSlash(strings.ReplaceAll(f.Package, ".", "/")); strings.HasSuffix(root, string(filepath.Separator)+suffix) {
					root = strings.TrimSuffix(root, string(filepath.Separator)+suffix)
				}
			}
			u := own[root]
			if u == nil {
				u = &aospUnit{dir: root}
				own[root] = u
			}
			u.files = append(u.files, p)
			return nil
		}
		parts := strings.SplitN(rel[i+len("/aidl_api/"):], "/", 3)
		if len(parts) < 3 {
			return nil
		}
		vdir := filepath.Join(dir, filepath.FromSlash(rel[:i]), "aidl_api", parts[0], parts[1])
		u := frozen[vdir]
		if u == nil {
			u = &aospUnit{dir: vdir}
			frozen[vdir] = u
		}
		u.files = append(u.files, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range sortedKeys(own) {
		own[k].id = fmt.Sprintf("r%d", i+1)
		units = append(units, own[k])
		roots = append(roots, k)
	}
	for i, k := range sortedKeys(frozen) {
		frozen[k].id = fmt.Sprintf("v%d", i+1)
		units = append(units, frozen[k])
	}
	return units, roots
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestAOSPTree converts a tree of real AOSP AIDL files when AIDL_AOSP_DIR names one: the files
// of each include root together, and each frozen version under an aidl_api directory on its
// own, with its own directory first among the include directories. The include directories
// are the tree's include roots and those listed, one a line, in an INCLUDES file at the top of the
// tree (relative to it, or absolute): the roots of the other trees its files import from. Every
// unit's protos go through protoc-gen-go and protoc-gen-kdbus, and the Go of all of them is
// built in one module. The test logs how many files were converted, generated and built, and
// the notes by kind; it fails when any file is not.
func TestAOSPTree(t *testing.T) {
	dir := os.Getenv("AIDL_AOSP_DIR")
	if dir == "" {
		t.Skip("set AIDL_AOSP_DIR to a tree of .aidl files (with an INCLUDES file listing the include roots of its imports) to run")
	}
	dir = filepath.Clean(dir)
	var includes []string
	if inc, err := os.ReadFile(filepath.Join(dir, "INCLUDES")); err == nil {
		for _, line := range strings.Split(string(inc), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				if !filepath.IsAbs(line) {
					line = filepath.Join(dir, line)
				}
				includes = append(includes, line)
			}
		}
	}
	units, roots := aospUnits(t, dir)
	includes = append(roots, includes...)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	mod := filepath.Join(t.TempDir(), "mod")
	var total, converted, generated int
	kinds := map[string]int{}
	unitOf := map[string]*aospUnit{} // Go package directory → unit
	goDirs := map[*aospUnit][]string{}
	for _, u := range units {
		total += len(u.files)
		inc := append([]string{u.dir}, includes...) // the unit's own root first
		l := &aidl.Loader{IncludeDirs: inc}
		if _, err := l.Load(u.files...); err != nil {
			t.Errorf("%s (%s): %s", u.id, u.dir, shortError(err))
			continue
		}
		prefix := corpusPrefix + "/" + u.id
		res, err := Convert(l.Files(), Options{GoPackagePrefix: prefix})
		if err != nil {
			t.Errorf("%s (%s): %v", u.id, u.dir, err)
			continue
		}
		converted += len(u.files)
		for _, n := range res.Notes {
			kinds[n.Kind]++
		}
		protoDir := filepath.Join(t.TempDir(), "proto")
		written, err := res.Write(protoDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, w := range written {
			rel, _ := filepath.Rel(protoDir, w)
			names = append(names, filepath.ToSlash(rel))
		}
		files, err := generate(protoDir, root, names)
		if err != nil {
			t.Errorf("%s (%s): %v", u.id, u.dir, err)
			continue
		}
		generated += len(u.files)
		for _, f := range files {
			p := filepath.Join(mod, "gen", filepath.FromSlash(f.GetName()))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(f.GetContent()), 0o644); err != nil {
				t.Fatal(err)
			}
			d := filepath.ToSlash(filepath.Dir(f.GetName()))
			if unitOf[d] == nil {
				unitOf[d] = u
				goDirs[u] = append(goDirs[u], d)
			}
		}
	}
	// Build everything at once; a unit whose packages all build counts as built.
	failed := map[*aospUnit]bool{}
	if generated > 0 {
		out, err := goBuild(t, mod, root)
		if err != nil {
			for _, m := range regexp.MustCompile(`(?m)^(?:# |package )example\.com/corpus/gen/(\S+)`).FindAllStringSubmatch(out, -1) {
				if u := unitOf[m[1]]; u != nil {
					failed[u] = true
				}
			}
			if len(failed) == 0 {
				t.Errorf("go build: %v\n%s", err, out)
			}
			t.Errorf("go build failed for %d units:\n%s", len(failed), firstLines(out, 40))
		}
	}
	built := 0
	for _, u := range units {
		if len(goDirs[u]) > 0 && !failed[u] {
			built += len(u.files)
		}
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var kindText []string
	for _, k := range ks {
		kindText = append(kindText, fmt.Sprintf("%s %d", k, kinds[k]))
	}
	t.Logf("%s: %d files in %d units (%d include roots, %d frozen versions): %d converted, %d generated, %d built; notes: %s",
		dir, total, len(units), len(roots), len(units)-len(roots), converted, generated, built, strings.Join(kindText, ", "))
}

// shortError is the first line of err without the list of include directories.
func shortError(err error) string {
	s := strings.SplitN(err.Error(), "\n", 2)[0]
	if i := strings.Index(s, " in include directories ["); i >= 0 {
		s = s[:i]
	}
	return s
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// generate runs protoc-gen-go and protoc-gen-kdbus, in process, on the protos named under
// protoDir.
func generate(protoDir, root string, names []string) ([]*pluginpb.CodeGeneratorResponse_File, error) {
	protos, err := generator.ParseProtos([]string{protoDir, filepath.Join(root, "proto")}, names...)
	if err != nil {
		return nil, fmt.Errorf("the converted protos do not compile: %w", err)
	}
	module := "module=" + corpusPrefix
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: names, ProtoFile: protos, Parameter: proto.String(module)}
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		return nil, err
	}
	for _, f := range gen.Files {
		if f.Generate {
			internal_gengo.GenerateFile(gen, f)
		}
	}
	resp := gen.Response()
	if resp.Error != nil {
		return nil, fmt.Errorf("protoc-gen-go: %s", resp.GetError())
	}
	ours, err := generator.Compile([]string{protoDir, filepath.Join(root, "proto")}, module, nil, names...)
	if err != nil {
		return nil, fmt.Errorf("protoc-gen-kdbus refuses the converted protos: %w", err)
	}
	return append(resp.File, ours...), nil
}

// goBuild builds the module at mod, which requires this repository, and returns the output.
func goBuild(t *testing.T, mod, root string, args ...string) (string, error) {
	t.Helper()
	gomod := "module example.com/corpus\n\ngo 1.26\n\nrequire github.com/kdbus-go/kdbus v0.0.0\n\nreplace github.com/kdbus-go/kdbus => " + root + "\n"
	os.MkdirAll(mod, 0o755)
	os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644)
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644)
	if len(args) == 0 {
		args = []string{"build", "-trimpath", "./..."} // -trimpath: the build cache serves a run in another directory
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = mod
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestCyclesShareAGoPackage converts the corpus's ring packages, which import each other: they
// share one Go package, the inner package's clashing names take its name as a prefix while
// the bus still sees the AIDL names, and nothing outside the cycle is renamed. Without a Go
// package prefix nothing is renamed and a note says what to do.
func TestCyclesShareAGoPackage(t *testing.T) {
	corpus := filepath.Join("..", "testdata", "corpus")
	res := convertDir(t, corpus, []string{corpus})
	byName := map[string]*desc.FileDescriptor{}
	for _, fd := range res.Files {
		byName[fd.GetName()] = fd
	}
	outer, inner := byName["kdbus/corpus/ring/IRing.proto"], byName["kdbus/corpus/ring/inner/InnerIRing.proto"]
	if outer == nil || inner == nil {
		t.Fatalf("missing ring protos; have %v", sortedKeys(byName))
	}
	want := corpusPrefix + "/kdbus/corpus/ring;ring"
	for _, name := range []string{"kdbus/corpus/ring/IRing.proto", "kdbus/corpus/ring/Token.proto", "kdbus/corpus/ring/inner/InnerIRing.proto", "kdbus/corpus/ring/inner/InnerState.proto"} {
		if got := byName[name].GetFileOptions().GetGoPackage(); got != want {
			t.Errorf("%s: go_package %q, want %q", name, got, want)
		}
	}
	if got := byName["kdbus/corpus/IStore.proto"].GetFileOptions().GetGoPackage(); got != corpusPrefix+"/kdbus/corpus;corpus" {
		t.Errorf("IStore left its package: %q", got)
	}
	iface := func(fd *desc.FileDescriptor, service string) string {
		sd := fd.FindService(fd.GetPackage() + "." + service)
		if sd == nil {
			t.Fatalf("%s has no service %s", fd.GetName(), service)
		}
		so, _ := proto.GetExtension(sd.GetServiceOptions(), kdbusv1.E_Service).(*kdbusv1.ServiceOptions)
		return so.GetInterface()
	}
	if got := iface(outer, "IRing"); got != "" {
		t.Errorf("the outer IRing was given an interface name %q; it keeps its own", got)
	}
	if got := iface(inner, "InnerIRing"); got != "kdbus.corpus.ring.inner.IRing" {
		t.Errorf("InnerIRing's D-Bus interface is %q, want the AIDL name", got)
	}
	if inner.FindMessage("kdbus.corpus.ring.inner.InnerIRingSlot") == nil {
		t.Error("the nested Slot did not follow its interface's new name")
	}
	if byName["kdbus/corpus/ring/inner/InnerState.proto"].FindEnum("kdbus.corpus.ring.inner.InnerState") == nil {
		t.Error("inner State was not renamed InnerState")
	}
	kinds := map[string]int{}
	for _, n := range res.Notes {
		kinds[n.Kind]++
	}
	if kinds["rename"] != 2 || kinds["package-cycle"] != 2 {
		t.Errorf("notes: %d rename (want 2), %d package-cycle (want 2)", kinds["rename"], kinds["package-cycle"])
	}

	// Without a prefix, Go packages are the user's to set: no renames.
	l := &aidl.Loader{IncludeDirs: []string{corpus}}
	if _, err := l.Load(filepath.Join(corpus, "kdbus", "corpus", "ring", "IRing.aidl"), filepath.Join(corpus, "kdbus", "corpus", "ring", "inner", "IRing.aidl")); err != nil {
		t.Fatal(err)
	}
	plain, err := Convert(l.Files(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range plain.Files {
		if strings.Contains(fd.GetName(), "Inner") {
			t.Errorf("%s: renamed without a Go package prefix", fd.GetName())
		}
	}
	if !strings.Contains(notesText(plain), "-go_package_prefix") {
		t.Errorf("no note on the cycle without a prefix:\n%s", notesText(plain))
	}
}

func TestCycles(t *testing.T) {
	g := func(edges ...string) map[string]map[string]bool {
		m := map[string]map[string]bool{}
		for _, e := range edges {
			from, to, _ := strings.Cut(e, ">")
			if m[from] == nil {
				m[from] = map[string]bool{}
			}
			if m[to] == nil {
				m[to] = map[string]bool{}
			}
			m[from][to] = true
		}
		return m
	}
	for _, c := range []struct {
		graph map[string]map[string]bool
		want  string
	}{
		{g("a>b", "b>c"), ""},
		{g("a.b>a", "a>a.b"), "a a.b"},
		{g("x>y", "y>z", "z>x", "z>w", "p>q", "q>p"), "p q|x y z"},
		{g("long.name>b", "b>long.name", "b>c"), "b long.name"},
	} {
		var got []string
		for _, grp := range cycles(c.graph) {
			got = append(got, strings.Join(grp, " "))
		}
		if s := strings.Join(got, "|"); s != c.want {
			t.Errorf("cycles(%v) = %q, want %q", c.graph, s, c.want)
		}
	}
	taken := map[string]bool{"Inner": true, "RingInner": true}
	if got := renamePrefix("some_package.sub_package", func(p string) bool { return true }); got != "SubPackage" {
		t.Errorf("renamePrefix = %q, want SubPackage", got)
	}
	if got := renamePrefix("kdbus.ring.inner", func(p string) bool { return !taken[p] }); got != "KdbusRingInner" {
		t.Errorf("renamePrefix with Inner and RingInner taken = %q, want KdbusRingInner", got)
	}
	if got := renamePrefix("ring.inner", func(p string) bool { return !taken[p] }); got != "RingInner2" {
		t.Errorf("renamePrefix with every prefix taken = %q, want RingInner2", got)
	}
}
