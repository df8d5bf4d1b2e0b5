package vibrator_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdbus-go/kdbus/aidl"
	"github.com/kdbus-go/kdbus/aidl/toproto"
)

// TestProtosAreConverted checks that the checked-in protos are what aidl2proto makes of the
// checked-in AIDL now:
//
//	go run ./cmd/aidl2proto -q -I examples/vibrator/aidl -o examples/vibrator/proto \
//	    -go_package_prefix github.com/kdbus-go/kdbus/examples/vibrator/gen examples/vibrator/aidl/com/example/vibrator/*.aidl
func TestProtosAreConverted(t *testing.T) {
	files, err := filepath.Glob("aidl/com/example/vibrator/*.aidl")
	if err != nil || len(files) == 0 {
		t.Fatalf("no AIDL files: %v", err)
	}
	l := &aidl.Loader{IncludeDirs: []string{"aidl"}}
	if _, err := l.Load(files...); err != nil {
		t.Fatal(err)
	}
	res, err := toproto.Convert(l.Files(), toproto.Options{GoPackagePrefix: "github.com/kdbus-go/kdbus/examples/vibrator/gen"})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	written, err := res.Write(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != len(files) {
		t.Fatalf("%d AIDL files became %d protos", len(files), len(written))
	}
	for _, w := range written {
		rel, _ := filepath.Rel(out, w)
		fresh, _ := os.ReadFile(w)
		old, err := os.ReadFile(filepath.Join("proto", rel))
		if err != nil || !bytes.Equal(fresh, old) {
			t.Errorf("proto/%s differs from what aidl2proto makes of the AIDL now (%v): convert again and run buf generate", rel, err)
		}
	}
}
