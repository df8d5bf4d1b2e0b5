package generator

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	gengo "google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

var update = flag.Bool("update", false, "rewrite the golden files and the goldentest packages from the current generator")

// goldenCases are the golden inputs under testdata, grouped as they are generated together:
// the files of one directory (one Go package) in one request.
var goldenCases = map[string][]string{
	"greeter":   {"greeter/greeter.proto"},
	"scalars":   {"scalars/scalars.proto"},
	"legacy":    {"legacy/legacy.proto"},
	"editions":  {"editions/editions.proto"},
	"wkt":       {"wkt/wkt.proto"},
	"recursive": {"recursive/recursive.proto"},
	"clash":     {"clash/clash.proto", "clash/other.proto"},
	"nopkg":     {"nopkg/nopkg.proto"},
	"signals":   {"signals/signals.proto"},
	"binder":    {"binder/binder.proto"},
	"fallback":  {"fallback/fallback.proto"},
	"shared":    {"shared/shared.proto"}, // no services: nothing generated
	"dbustypes": {"dbustypes/dbustypes.proto", "dbustypes/nothing.proto"},
}

// noServiceCases generate no files of ours (only protoc-gen-go's, for the goldentest packages).
var noServiceCases = map[string]bool{"shared": true}

// editionsCases cannot be compiled by protoc 3.21, which predates editions.
var editionsCases = map[string]bool{"editions": true}

func caseNames() []string {
	var names []string
	for n := range goldenCases {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// protoImportPaths are where test .proto files and their imports live. The well-known types
// come from protoparse's built-in copies, which are recent enough for editions.
func protoImportPaths(dirs ...string) []string {
	return append(dirs, filepath.Join("..", "..", "proto"))
}

// compile parses files (relative to the import paths) in-process and returns every file they
// need, dependencies first, as protoc would send them.
func compile(t testing.TB, importPaths []string, files ...string) []*descriptorpb.FileDescriptorProto {
	t.Helper()
	out, err := ParseProtos(importPaths, files...)
	if err != nil {
		t.Fatalf("compiling %v: %v", files, err)
	}
	return out
}

// request builds the CodeGeneratorRequest protoc would send, through its wire encoding so that
// options arrive as they do from protoc.
func request(t testing.TB, protos []*descriptorpb.FileDescriptorProto, generate []string, param string) *pluginpb.CodeGeneratorRequest {
	t.Helper()
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: generate, ProtoFile: protos}
	if param != "" {
		req.Parameter = proto.String(param)
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	out := new(pluginpb.CodeGeneratorRequest)
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// generate runs the generator in-process. It returns the response (whose Error is set when
// generation failed) and the warnings.
func generate(t testing.TB, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, string) {
	t.Helper()
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		t.Fatal(err)
	}
	var warnings bytes.Buffer
	if err := Generate(gen, Options{Warnings: &warnings}); err != nil {
		gen.Error(err)
	}
	return gen.Response(), warnings.String()
}

// generateGo runs protoc-gen-go's generator in-process on the same request.
func generateGo(t testing.TB, req *pluginpb.CodeGeneratorRequest) *pluginpb.CodeGeneratorResponse {
	t.Helper()
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range gen.Files {
		if f.Generate {
			gengo.GenerateFile(gen, f)
		}
	}
	gen.SupportedFeatures = gengo.SupportedFeatures
	gen.SupportedEditionsMinimum = gengo.SupportedEditionsMinimum
	gen.SupportedEditionsMaximum = gengo.SupportedEditionsMaximum
	resp := gen.Response()
	if resp.Error != nil {
		t.Fatalf("protoc-gen-go: %s", resp.GetError())
	}
	return resp
}

// generateCase compiles and generates one golden case in-process.
func generateCase(t testing.TB, name string) (*pluginpb.CodeGeneratorResponse, string, *pluginpb.CodeGeneratorRequest) {
	t.Helper()
	files := goldenCases[name]
	req := request(t, compile(t, protoImportPaths("testdata"), files...), files, "paths=source_relative")
	resp, warnings := generate(t, req)
	if resp.Error != nil {
		t.Fatalf("generating %s: %s", name, resp.GetError())
	}
	return resp, warnings, req
}

// compareFiles checks that the files of resp are the files under dir for case name, byte for
// byte, and that dir holds no other generated file of the case. With -update it writes them.
func compareFiles(t *testing.T, dir, name string, files []*pluginpb.CodeGeneratorResponse_File, suffixes ...string) {
	t.Helper()
	produced := map[string]bool{}
	for _, f := range files {
		produced[f.GetName()] = true
		path := filepath.Join(dir, filepath.FromSlash(f.GetName()))
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: generated, but there is no golden file (run go test -update): %v", f.GetName(), err)
			continue
		}
		if got := f.GetContent(); got != string(want) {
			t.Errorf("%s differs from %s (run go test -update if the change is intended):\n%s", f.GetName(), path, diff(string(want), got))
		}
	}
	// No stale files.
	entries, _ := os.ReadDir(filepath.Join(dir, name))
	for _, e := range entries {
		rel := name + "/" + e.Name()
		matches := false
		for _, s := range suffixes {
			matches = matches || strings.HasSuffix(e.Name(), s)
		}
		if matches && !produced[rel] {
			if *update {
				os.Remove(filepath.Join(dir, filepath.FromSlash(rel)))
				continue
			}
			t.Errorf("%s is in %s but no longer generated", rel, dir)
		}
	}
}

// diff shows the first differing lines of two texts.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return "(same lines, different line endings)"
}

// requireTool finds a program: in PATH or, for Go-installed tools, in $HOME/go/bin. Missing, it
// skips the test, except under CI=true, where every tool must be there.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, "go", "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true but was not found in PATH or ~/go/bin", name)
	}
	t.Skipf("%s is not installed; skipping", name)
	return ""
}
