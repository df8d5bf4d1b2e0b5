package proto

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Write writes exactly the .proto files of kdbus/v1, byte for byte.
func TestWriteCopiesEveryProto(t *testing.T) {
	want, err := filepath.Glob(filepath.Join("kdbus", "v1", "*.proto"))
	if err != nil || len(want) == 0 {
		t.Fatalf("no .proto files beside the package: %v", err)
	}
	dir := t.TempDir()
	written, err := Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, w := range written {
		r, err := filepath.Rel(dir, w)
		if err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r)
	}
	slices.Sort(rel)
	if !slices.Equal(rel, want) {
		t.Fatalf("Write wrote %v, want %v", rel, want)
	}
	for _, name := range want {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, src) {
			t.Errorf("%s differs from the source", name)
		}
	}
}
