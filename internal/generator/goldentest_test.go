package generator

import (
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/pluginpb"
)

// goldentestDir holds a Go package per golden case: protoc-gen-go's output and ours for the
// golden protos. They are the golden copies of the Go output, checked in as packages so that
// go vet and go test compile, vet and exercise the generated code with the round-trip tests
// that live beside it.
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
			compareFiles(t, goldentestDir, name, files, ".kdbus.go", ".kdbus.codec.go", ".pb.go")
		})
	}
}
