// Package proto holds the source of kdbus-go's own .proto files, kdbus/v1/options.proto and
// kdbus/v1/types.proto, as they were when the module was built, so that a project outside
// this repository can get them without a checkout:
//
//	go tool protoc-gen-kdbus --write-protos=kdbusproto
//
// writes them under kdbusproto/, for protoc's -I or a module of the project's buf workspace.
// Their Go code is package github.com/kdbus-go/kdbus/proto/kdbus/v1; a project imports it and
// does not generate it again (docs/module.md).
package proto

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Files holds the .proto files under their import paths (kdbus/v1/options.proto, ...).
//
//go:embed kdbus/v1/*.proto
var Files embed.FS

// Write writes every file of Files under dir, at its import path, replacing what is there,
// and returns the paths it wrote.
func Write(dir string) ([]string, error) {
	var written []string
	err := fs.WalkDir(Files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := Files.ReadFile(name)
		if err != nil {
			return err
		}
		out := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, data, 0o644); err != nil {
			return err
		}
		written = append(written, out)
		return nil
	})
	if err != nil {
		return written, fmt.Errorf("writing kdbus-go's .proto files under %s: %w", dir, err)
	}
	return written, nil
}
