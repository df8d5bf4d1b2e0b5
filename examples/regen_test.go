// Package examples_test checks that the generated code checked into the repository is what
// the current protoc-gen-kdbus (and the pinned protoc-gen-go) produce from buf.gen.yaml.
package examples_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/internal/dbustest"
)

func TestCheckedInCodeIsRegenerated(t *testing.T) {
	buf := dbustest.RequireTool(t, "buf")
	dbustest.RequireTool(t, "protoc-gen-go")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(buf, "generate", "--template", "buf.gen.yaml", "-o", out)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, msg)
	}
	n := 0
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		n++
		fresh, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		old, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Errorf("%s is generated but not checked in: run buf generate and commit it", rel)
			return nil
		}
		if !bytes.Equal(fresh, old) {
			t.Errorf("%s differs from what buf generate produces now: run buf generate and commit it", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("buf generate produced no files")
	}
	// Every checked-in generated file must still have a source.
	for _, pattern := range []string{"*/*/*.kdbus.go", "*/*/*.kdbus.codec.go", "*/*/*.introspect.xml", "*/*/*.pb.go", "*/*/*/*.pb.go"} {
		var matches []string
		for _, dir := range []string{"examples", "proto", "bench"} {
			more, _ := filepath.Glob(filepath.Join(root, dir, pattern))
			matches = append(matches, more...)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			if _, err := os.Stat(filepath.Join(out, rel)); err != nil && !strings.Contains(rel, "testdata") {
				t.Errorf("%s is checked in but no longer generated: delete it", rel)
			}
		}
	}
}
