package aidl

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse parses arbitrary text as an AIDL file and, when it parses, loads it: neither may
// panic or hang, whatever the input.
func FuzzParse(f *testing.F) {
	for _, p := range corpusFiles(f) {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("package a;\nenum E { A = 1 << 62L, B }"))
	f.Add([]byte("package a;\nparcelable P<T> { List<List<T>> x; T[2][3] y; }"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if _, err := Parse("in.aidl", src); err != nil {
			return
		}
		l := &Loader{IncludeDirs: []string{"inc"}, ReadFile: func(p string) ([]byte, error) {
			if filepath.Base(p) == "in.aidl" {
				return src, nil
			}
			return nil, fs.ErrNotExist
		}}
		l.Load("in.aidl")
	})
}
