package generator

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/pluginpb"
)

// goldentestDir holds a Go package per golden case: protoc-gen-go's output and ours for the
// golden protos, checked in so that the generated code is compiled, vetted and exercised by
// the round-trip tests that live beside it.
var goldentestDir = filepath.Join("internal", "goldentest")

// TestGoldenPackagesUpToDate regenerates the goldentest packages and compares them with what is
// checked in (-update rewrites them).
func TestGoldenPackagesUpToDate(t *testing.T) {
	for _, name := range caseNames() {
		t.Run(name, func(t *testing.T) {
			resp, _, req := generateCase(t, name)
			var files []*pluginpb.CodeGeneratorResponse_File
			for _, f := range resp.File {
				if strings.HasSuffix(f.GetName(), ".go") {
					files = append(files, f)
				}
			}
			files = append(files, generateGo(t, req).File...)
			compareFiles(t, goldentestDir, name, files, ".kdbus.go", ".pb.go")
		})
	}
}

// TestGoldenVet writes protoc-gen-go's output and ours for every golden case into a fresh
// temporary package inside the module and runs go vet on it: the generated code must compile
// and be vet-clean.
func TestGoldenVet(t *testing.T) {
	goTool := requireTool(t, "go")
	dir, err := os.MkdirTemp("testdata", "vet-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var pkgs []string
	for _, name := range caseNames() {
		resp, _, req := generateCase(t, name)
		for _, f := range append(resp.File, generateGo(t, req).File...) {
			if !strings.HasSuffix(f.GetName(), ".go") {
				continue
			}
			path := filepath.Join(dir, filepath.FromSlash(f.GetName()))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		pkgs = append(pkgs, "./"+filepath.ToSlash(filepath.Join(dir, name)))
	}
	cmd := exec.Command(goTool, append([]string{"vet"}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go vet on the generated code: %v\n%s", err, out)
	}
}
