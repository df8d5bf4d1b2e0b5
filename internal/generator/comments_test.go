package generator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWrapComment(t *testing.T) {
	long := strings.Repeat("x", 30)
	for _, c := range []struct {
		name  string
		in    []string
		width int
		want  []string
	}{
		{"refilled", []string{"// one two", "// three four five"}, 14, []string{"// one two", "// three four", "// five"}},
		{"paragraphs kept", []string{"// a b", "//", "// c d"}, 80, []string{"// a b", "//", "// c d"}},
		{"backquoted span whole", []string{"// see `a b c` now"}, 10, []string{"// see", "// `a b c`", "// now"}},
		{"long word alone", []string{"// a " + long + " b"}, 20, []string{"// a", "// " + long, "// b"}},
		{"indented kept", []string{"// code:", "//   x := f(a,   b)", "// more"}, 80, []string{"// code:", "//   x := f(a,   b)", "// more"}},
		{"list items start lines", []string{"// items:", "// - one", "// - two", "// 1. three"}, 80, []string{"// items:", "// - one", "// - two", "// 1. three"}},
		{"directive kept", []string{"//go:generate x y"}, 5, []string{"//go:generate x y"}},
		{"indentation of the input dropped", []string{"\t// a", "  // b"}, 80, []string{"// a b"}},
	} {
		got := wrapComment(c.in, c.width)
		if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
	}
}

// TestGoldenCommentWidth: every comment line of the golden Go files fits in commentWidth
// columns (an indenting tab counting tabWidth), unless it is one word.
func TestGoldenCommentWidth(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(goldentestDir, "*", "*.kdbus*.go"))
	if len(files) == 0 {
		t.Fatal("no golden Go files")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(src), "\n") {
			text := strings.TrimLeft(l, "\t")
			if !strings.HasPrefix(text, "//") || strings.HasPrefix(text, "// \t") {
				continue
			}
			cols := tabWidth*(len(l)-len(text)) + utf8.RuneCountInString(text)
			if cols > commentWidth && strings.Contains(strings.TrimPrefix(text, "// "), " ") {
				t.Errorf("%s:%d: a comment of %d columns: %s", f, i+1, cols, l)
			}
		}
	}
}
