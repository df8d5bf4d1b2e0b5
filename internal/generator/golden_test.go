package generator

import (
	"go/format"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/internal/version"
	"github.com/kdbus-go/kdbus/introspect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/pluginpb"
)

// TestGolden generates every golden case in-process and compares the introspection XML and
// the warnings with testdata/golden. The Go output's golden copy is the compiled goldentest
// package of the case (TestGoldenPackagesUpToDate).
func TestGolden(t *testing.T) {
	for _, name := range caseNames() {
		t.Run(name, func(t *testing.T) {
			resp, warnings, _ := generateCase(t, name)
			if noServiceCases[name] != (len(resp.File) == 0) {
				t.Fatalf("%d files generated", len(resp.File))
			}
			var xml []*pluginpb.CodeGeneratorResponse_File
			for _, f := range resp.File {
				if strings.HasSuffix(f.GetName(), ".introspect.xml") {
					xml = append(xml, f)
				}
			}
			compareFiles(t, filepath.Join("testdata", "golden"), name, xml, ".introspect.xml")
			wpath := filepath.Join("testdata", "golden", name, "warnings.txt")
			if *update {
				if warnings == "" {
					os.Remove(wpath)
				} else if err := os.WriteFile(wpath, []byte(warnings), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, _ := os.ReadFile(wpath)
			if warnings != string(want) {
				t.Errorf("warnings differ from %s:\n got: %q\nwant: %q", wpath, warnings, want)
			}
		})
	}
}

// TestGoldenGofmt checks that the golden Go files are gofmt-clean.
func TestGoldenGofmt(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(goldentestDir, "*", "*.kdbus.go"))
	codecs, _ := filepath.Glob(filepath.Join(goldentestDir, "*", "*.kdbus.codec.go"))
	files = append(files, codecs...)
	if len(files) == 0 {
		t.Fatal("no golden Go files")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		formatted, err := format.Source(src)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if string(formatted) != string(src) {
			t.Errorf("%s is not gofmt-clean:\n%s", f, diff(string(src), string(formatted)))
		}
	}
}

// TestGoldenDeterministic generates every case twice and expects the same bytes.
func TestGoldenDeterministic(t *testing.T) {
	for _, name := range caseNames() {
		a, wa, _ := generateCase(t, name)
		b, wb, _ := generateCase(t, name)
		if wa != wb || len(a.File) != len(b.File) {
			t.Fatalf("%s: two runs differ", name)
		}
		for i := range a.File {
			if a.File[i].GetName() != b.File[i].GetName() || a.File[i].GetContent() != b.File[i].GetContent() {
				t.Errorf("%s: %s differs between two runs", name, a.File[i].GetName())
			}
		}
	}
}

// TestGoldenNoServices: a file without services produces nothing, even when generated.
func TestGoldenNoServices(t *testing.T) {
	files := []string{"kdbus/v1/options.proto", "kdbus/v1/types.proto"}
	req := request(t, compile(t, protoImportPaths("testdata"), files...), files, "paths=source_relative")
	resp, warnings := generate(t, req)
	if resp.Error != nil || len(resp.File) != 0 || warnings != "" {
		t.Fatalf("got error %q, %d files, warnings %q; want nothing", resp.GetError(), len(resp.File), warnings)
	}
}

// TestGoldenXMLConsistent checks that the Go file holds each service's interface XML once, in
// its ServiceDesc, and derives the document from it rather than holding a second copy; the
// goldentest packages check that the derived document is the .introspect.xml file's bytes.
func TestGoldenXMLConsistent(t *testing.T) {
	for _, name := range caseNames() {
		resp, _, _ := generateCase(t, name)
		goFiles := map[string]string{}
		for _, f := range resp.File {
			if strings.HasSuffix(f.GetName(), ".go") {
				goFiles[f.GetName()] = f.GetContent()
			}
		}
		for _, f := range resp.File {
			if !strings.HasSuffix(f.GetName(), ".introspect.xml") {
				continue
			}
			base := strings.TrimSuffix(f.GetName(), ".introspect.xml")
			stem, svc := base[:strings.LastIndexByte(base, '.')], base[strings.LastIndexByte(base, '.')+1:]
			src := goFiles[stem+".kdbus.go"]
			node, err := introspect.ParseString(f.GetContent())
			if err != nil {
				t.Fatalf("%s: %v", f.GetName(), err)
			}
			iface := node.Interfaces[len(node.Interfaces)-1].Name
			if n := strings.Count(src, `<interface name="`+iface+`">`); n != 1 {
				t.Errorf("%s: the Go file holds the interface XML %d times, want once", f.GetName(), n)
			}
			if strings.Contains(src, "org.freedesktop.DBus.Peer") {
				t.Errorf("%s: the Go file holds the whole document", f.GetName())
			}
			derive := regexp.MustCompile(`var ` + svc + `_IntrospectXML_* = introspect\.Document\(\[\]string\{` + svc + `_ServiceDesc_*\.XML\}, nil\)`)
			if !derive.MatchString(src) {
				t.Errorf("%s: the Go file does not derive the document: no match for %s", f.GetName(), derive)
			}
		}
	}
}

// TestGoldenOutputPaths: output files are named as protoc-gen-go names its own, for each way
// protogen places them: by import path (the default), relative to the source
// (paths=source_relative), and with a module prefix removed (module=).
func TestGoldenOutputPaths(t *testing.T) {
	const importPath = "github.com/kdbus-go/kdbus/internal/generator/internal/goldentest/greeter"
	files := goldenCases["greeter"]
	protos := compile(t, protoImportPaths("testdata"), files...)
	for _, c := range []struct {
		param string
		dir   string
	}{
		{"", importPath + "/"},
		{"paths=import", importPath + "/"},
		{"paths=source_relative", "greeter/"},
		{"module=github.com/kdbus-go/kdbus/internal/generator/internal", "goldentest/greeter/"},
		{"Mgreeter/greeter.proto=example.com/other/greeterpb;greeterpb", "example.com/other/greeterpb/"},
	} {
		resp, _ := generate(t, request(t, protos, files, c.param))
		if resp.Error != nil {
			t.Fatalf("%q: %s", c.param, resp.GetError())
		}
		var names []string
		for _, f := range resp.File {
			names = append(names, f.GetName())
		}
		want := c.dir + "greeter.kdbus.go," + c.dir + "greeter.kdbus.codec.go," + c.dir + "greeter.Greeter.introspect.xml"
		if got := strings.Join(names, ","); got != want {
			t.Errorf("%q: files %s, want %s", c.param, got, want)
		}
		pkg := "greeterv1"
		if strings.HasPrefix(c.param, "M") {
			pkg = "greeterpb"
		}
		if !strings.Contains(resp.File[0].GetContent(), "\npackage "+pkg+"\n") {
			t.Errorf("%q: the Go file is not in package %s", c.param, pkg)
		}
	}
}

// TestGoldenHeaderVersions: both Go files name the plugin's version and the compiler's, as the
// request gives it, and "(unknown)" when it does not (as under buf).
func TestGoldenHeaderVersions(t *testing.T) {
	files := goldenCases["greeter"]
	protos := compile(t, protoImportPaths("testdata"), files...)
	for _, c := range []struct {
		v    *pluginpb.Version
		want string
	}{
		{nil, "(unknown)"},
		{&pluginpb.Version{Major: proto.Int32(29), Minor: proto.Int32(3), Patch: proto.Int32(0)}, "v29.3.0"},
		{&pluginpb.Version{Major: proto.Int32(30), Minor: proto.Int32(0), Patch: proto.Int32(0), Suffix: proto.String("rc1")}, "v30.0.0-rc1"},
	} {
		req := request(t, protos, files, "paths=source_relative")
		req.CompilerVersion = c.v
		resp, _ := generate(t, req)
		if resp.Error != nil {
			t.Fatal(resp.GetError())
		}
		want := "// Code generated by protoc-gen-kdbus. DO NOT EDIT.\n// versions:\n// \tprotoc-gen-kdbus " + version.Version +
			"\n// \tprotoc           " + c.want + "\n// source: greeter/greeter.proto\n\npackage greeterv1\n"
		n := 0
		for _, f := range resp.File {
			if strings.HasSuffix(f.GetName(), ".go") {
				n++
				if !strings.HasPrefix(f.GetContent(), want) {
					t.Errorf("%s starts\n%s\nwant\n%s", f.GetName(), f.GetContent()[:len(want)], want)
				}
			}
		}
		if n != 2 {
			t.Errorf("%d Go files, want the glue and the codecs", n)
		}
	}
}
