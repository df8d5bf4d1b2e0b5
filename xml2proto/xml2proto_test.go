package xml2proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/internal/generator"
	"github.com/kdbus-go/kdbus/introspect"
)

// repoRoot is the module's root directory.
func repoRoot(t testing.TB) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// generateXML converts doc, runs protoc-gen-kdbus on the result in process and returns the
// introspection XML it generates for each service, by interface name.
func generateXML(t *testing.T, doc []byte, opts Options) map[string]introspect.Interface {
	t.Helper()
	text, err := Convert(bytes.NewReader(doc), opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.proto"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err := generator.Compile([]string{dir, filepath.Join(repoRoot(t), "proto")}, "paths=source_relative,Mx.proto=example.com/x;x", nil, "x.proto")
	if err != nil {
		t.Fatalf("generating from the converted proto: %v\n%s", err, text)
	}
	out := map[string]introspect.Interface{}
	for _, f := range files {
		if !strings.HasSuffix(f.GetName(), ".introspect.xml") {
			continue
		}
		n, err := introspect.ParseString(f.GetContent())
		if err != nil {
			t.Fatal(err)
		}
		last := n.Interfaces[len(n.Interfaces)-1]
		out[last.Name] = last
	}
	return out
}

// comparable drops what does not survive XML -> proto -> XML: kdbus-go's own org.kdbusgo.*
// annotations (enum, serialized-message and memfd markers, struct field numbers, streaming),
// and the EmitsChangedSignal annotation that the generator writes on every property.
func comparable(i introspect.Interface) introspect.Interface {
	keep := func(as []introspect.Annotation, property bool) []introspect.Annotation {
		var out []introspect.Annotation
		for _, a := range as {
			if strings.HasPrefix(a.Name, "org.kdbusgo.") || property && a.Name == annEmits && a.Value == "true" {
				continue
			}
			out = append(out, a)
		}
		return out
	}
	args := func(as []introspect.Arg) []introspect.Arg {
		var out []introspect.Arg
		for _, a := range as {
			a.Annotations = keep(a.Annotations, false)
			out = append(out, a)
		}
		return out
	}
	var c introspect.Interface
	c.Name = i.Name
	c.Annotations = keep(i.Annotations, false)
	for _, m := range i.Methods {
		c.Methods = append(c.Methods, introspect.Method{Name: m.Name, Args: args(m.Args), Annotations: keep(m.Annotations, false)})
	}
	for _, s := range i.Signals {
		c.Signals = append(c.Signals, introspect.Signal{Name: s.Name, Args: args(s.Args), Annotations: keep(s.Annotations, false)})
	}
	for _, p := range i.Properties {
		c.Properties = append(c.Properties, introspect.Property{Name: p.Name, Type: p.Type, Access: p.Access, Annotations: keep(p.Annotations, true)})
	}
	return c
}

// TestRoundTripExamples: the XML the generator wrote for the example services, converted to
// proto and generated again, gives the same interfaces, but for kdbus-go's own annotations.
func TestRoundTripExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot(t), "examples", "*", "*", "*.introspect.xml"))
	if len(files) < 5 {
		t.Fatalf("found %d example XML files", len(files))
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			doc, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := introspect.Parse(bytes.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			got := generateXML(t, doc, Options{})
			n := 0
			for _, want := range orig.Interfaces {
				if standard[want.Name] {
					continue
				}
				n++
				g, ok := got[want.Name]
				if !ok {
					t.Fatalf("interface %s is missing after the round trip", want.Name)
				}
				w, gc := comparable(want), comparable(g)
				if w.XML() != gc.XML() {
					t.Errorf("interface %s after the round trip:\n%s\nwant:\n%s", want.Name, gc.XML(), w.XML())
				}
			}
			if n == 0 || len(got) != n {
				t.Errorf("%d interfaces in, %d out", n, len(got))
			}
		})
	}
}

// corpusFiles lists the XML of the corpus and, when present, of the machine's
// /usr/share/dbus-1/interfaces.
func corpusFiles(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*", "*.xml"))
	if len(files) < 50 {
		t.Fatalf("the corpus has %d files", len(files))
	}
	return files
}

// TestCorpusKeepsSignatures: every interface of the corpus converts, generates, and the
// generated XML has the original's members with the same names and signatures.
func TestCorpusKeepsSignatures(t *testing.T) {
	for _, file := range corpusFiles(t) {
		t.Run(strings.TrimPrefix(file, filepath.Join("testdata", "corpus")+"/"), func(t *testing.T) {
			doc, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := introspect.Parse(bytes.NewReader(expandEntities(doc)))
			if err != nil {
				t.Fatal(err)
			}
			got := generateXML(t, doc, Options{})
			for _, want := range orig.Interfaces {
				if standard[want.Name] {
					continue
				}
				g, ok := got[want.Name]
				if !ok {
					t.Fatalf("interface %s is missing", want.Name)
				}
				if a, b := signatures(want), signatures(g); a != b {
					t.Errorf("interface %s: members and signatures differ:\n got %s\nwant %s", want.Name, b, a)
				}
			}
		})
	}
}

// expandEntities replaces the entities of doc's internal DTD subset by their values, for
// introspect.Parse, which reads no DTD.
func expandEntities(doc []byte) []byte {
	for name, value := range internalEntities(doc) {
		doc = bytes.ReplaceAll(doc, []byte("&"+name+";"), []byte(value))
	}
	if i := bytes.Index(doc, []byte("<!DOCTYPE")); i >= 0 {
		if j := bytes.Index(doc[i:], []byte(">\n<node")); j >= 0 {
			doc = append(doc[:i:i], doc[i+j+2:]...)
		}
	}
	return doc
}

// signatures describes an interface's members, argument names, directions and types, and
// properties with their access, in a canonical order.
func signatures(i introspect.Interface) string {
	var parts []string
	for _, m := range i.Methods {
		// In- and out-arguments keep their order among themselves; XML that interleaves
		// them says the same as XML that lists the in-arguments first.
		var args, outs []string
		for _, a := range m.Args {
			if a.Direction == "out" {
				outs = append(outs, "out:"+a.Name+":"+a.Type)
				continue
			}
			args = append(args, "in:"+a.Name+":"+a.Type)
		}
		args = append(args, outs...)
		if slices.ContainsFunc(m.Annotations, func(a introspect.Annotation) bool { return a.Name == annNoReply && a.Value == "true" }) {
			args = append(args, "noreply")
		}
		parts = append(parts, "method "+m.Name+"("+strings.Join(args, ",")+")")
	}
	for _, s := range i.Signals {
		var args []string
		for _, a := range s.Args {
			args = append(args, a.Name+":"+a.Type)
		}
		parts = append(parts, "signal "+s.Name+"("+strings.Join(args, ",")+")")
	}
	for _, p := range i.Properties {
		parts = append(parts, "property "+p.Name+":"+p.Type+":"+p.Access)
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ")
}

// TestCorpusBuilds converts every file of the corpus and the PackageKit interfaces installed
// on the machine, compiles each with protoc (protoc-gen-go and protoc-gen-kdbus), and builds
// and vets the generated Go in a module of its own, as a user would.
func TestCorpusBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module")
	}
	protoc := dbustest.RequireTool(t, "protoc")
	genGo := dbustest.RequireTool(t, "protoc-gen-go")
	files := corpusFiles(t)
	installed, _ := filepath.Glob("/usr/share/dbus-1/interfaces/org.freedesktop.PackageKit*.xml")
	if len(installed) < 2 && os.Getenv("CI") == "true" {
		t.Fatalf("found %d PackageKit interface files in /usr/share/dbus-1/interfaces; install packagekit (.ci/run does)", len(installed))
	}
	files = append(files, installed...)
	root := repoRoot(t)
	work := t.TempDir()
	plugin := filepath.Join(work, "protoc-gen-kdbus")
	build := exec.Command("go", "build", "-o", plugin, "./cmd/protoc-gen-kdbus")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building protoc-gen-kdbus: %v\n%s", err, out)
	}
	mod := filepath.Join(work, "mod")
	const modPath = "example.com/xmlcorpus"
	for i, file := range files {
		doc, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		pkg := "p" + string(rune('a'+i/26)) + string(rune('a'+i%26))
		text, err := Convert(bytes.NewReader(doc), Options{GoPackage: modPath + "/" + pkg + ";" + pkg, Source: filepath.Base(file)})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		dir := filepath.Join(work, "proto", pkg)
		os.MkdirAll(dir, 0o755)
		name := strings.TrimSuffix(filepath.Base(file), ".xml") + ".proto"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(mod, 0o755)
		cmd := exec.Command(protoc, "-I", dir, "-I", filepath.Join(root, "proto"),
			"--plugin=protoc-gen-go="+genGo, "--go_out="+mod, "--go_opt=module="+modPath,
			"--plugin=protoc-gen-kdbus="+plugin, "--kdbus_out="+mod, "--kdbus_opt=module="+modPath, name)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("protoc on the conversion of %s: %v\n%s", file, err, out)
		}
	}
	gomod := "module " + modPath + "\n\ngo 1.26\n\nrequire github.com/kdbus-go/kdbus v0.0.0\n\nreplace github.com/kdbus-go/kdbus => " + root + "\n"
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
	t.Logf("%d XML files converted, compiled with protoc, built and vetted", len(files))
}
