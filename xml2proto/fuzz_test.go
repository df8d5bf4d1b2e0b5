package xml2proto

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConvert: any document either fails to convert with an error or converts to a .proto,
// never panics, and converts the same way twice. Seeds are the corpus and the examples' XML.
func FuzzConvert(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*", "*.xml"))
	examples, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*", "*.introspect.xml"))
	for _, s := range append(seeds, examples...) {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<node><interface name="a.b"><method name="M"><arg type="a{sa(oa{sv}h)}" direction="in"/></method></interface></node>`))
	f.Add([]byte(`<!DOCTYPE node [<!ENTITY E "x.y.Error">]><node><interface name="a.b"><property name="P" type="(yv)" access="write"/></interface></node>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		a, errA := Convert(strings.NewReader(string(doc)), Options{})
		b, errB := Convert(strings.NewReader(string(doc)), Options{})
		if (errA == nil) != (errB == nil) || a != b {
			t.Fatalf("two conversions differ: %v / %v", errA, errB)
		}
		if errA == nil && !strings.Contains(a, "syntax = \"proto3\";") {
			t.Fatalf("a conversion without a syntax line:\n%s", a)
		}
	})
}
