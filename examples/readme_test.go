package examples_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kdbus-go/kdbus/internal/dbustest"
)

// readmeLine returns the one command line of README.md's code blocks that starts with prefix.
func readmeLine(t *testing.T, root, prefix string) (string, docBlock) {
	t.Helper()
	var found []string
	var in docBlock
	for _, b := range readDocBlocks(t, filepath.Join(root, "README.md")) {
		for _, c := range commands(b.text) {
			if strings.HasPrefix(c, prefix) {
				found, in = append(found, c), b
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("README.md has %d command lines starting with %q, want one: %q", len(found), prefix, found)
	}
	return found[0], in
}

// README's aidl2proto line writes exactly the vibrator example's checked-in protos. It runs
// here with -o pointing at a temporary directory instead of the checked-in one.
func TestReadmeAidl2protoLineMakesTheCheckedInProtos(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	line, _ := readmeLine(t, root, "go run ./cmd/aidl2proto ")
	const outFlag = " -o examples/vibrator/proto "
	if !strings.Contains(line, outFlag) {
		t.Fatalf("README's aidl2proto line %q no longer writes to examples/vibrator/proto; update the test", line)
	}
	out := t.TempDir()
	cmd := exec.Command("sh", "-e", "-c", strings.Replace(line, outFlag, " -o "+out+" ", 1))
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, msg)
	}
	compareTrees(t, out, filepath.Join(root, "examples", "vibrator", "proto"), nil)
}

// README's protoc lines write into a temporary directory what buf generate checked in, but
// for the protoc version in protoc-gen-go's header.
func TestReadmeProtocLinesMakeTheCheckedInCode(t *testing.T) {
	dbustest.RequireTool(t, "protoc")
	dbustest.RequireTool(t, "protoc-gen-go")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	_, block := readmeLine(t, root, "protoc ")
	var script []string
	for _, c := range commands(block.text) {
		if !strings.HasPrefix(c, "diff ") { // the comparison is made below, version line aside
			script = append(script, c)
		}
	}
	tmp := t.TempDir()
	cmd := exec.Command("sh", "-e", "-c", strings.Join(script, "\n"))
	cmd.Dir, cmd.Env = root, append(os.Environ(), "TMPDIR="+tmp)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("README's protoc lines: %v\n%s", err, msg)
	}
	outs, _ := filepath.Glob(filepath.Join(tmp, "*", "examples", "greeter", "greeterv1"))
	if len(outs) != 1 {
		t.Fatalf("README's protoc lines wrote %v under the temporary directory, want one examples/greeter/greeterv1", outs)
	}
	compareTrees(t, outs[0], filepath.Join(root, "examples", "greeter", "greeterv1"), withoutProtocVersion)
}

// compareTrees fails unless the two directories hold the same files with the same contents
// (after clean, when given), tests aside.
func compareTrees(t *testing.T, got, want string, clean func([]byte) []byte) {
	t.Helper()
	list := func(dir string) []string {
		var out []string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(d.Name(), "_test.go") {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, rel)
			}
			return err
		})
		return out
	}
	g, w := list(got), list(want)
	if !slices.Equal(g, w) {
		t.Fatalf("files written: %v, want %v", g, w)
	}
	for _, rel := range g {
		a, _ := os.ReadFile(filepath.Join(got, rel))
		b, _ := os.ReadFile(filepath.Join(want, rel))
		if clean != nil {
			a, b = clean(a), clean(b)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the checked-in copy", rel)
		}
	}
}

// Every relative link of README.md and docs/*.md, and every path in backquotes that starts
// with a directory of the repository (outside docs/module.md, which speaks of the reader's
// project), names something the repository has.
func TestDocsNameOnlyFilesThatExist(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	pages = append(pages, filepath.Join(root, "README.md"), filepath.Join(root, "bench", "README.md"))
	tops, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, d := range tops {
		if d.IsDir() && d.Name() != ".git" {
			dirs = append(dirs, regexp.QuoteMeta(d.Name()))
		}
	}
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	path := regexp.MustCompile("`((?:" + strings.Join(dirs, "|") + `)/[A-Za-z0-9_./-]*)` + "`")
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, page)
		for _, m := range link.FindAllSubmatch(data, -1) {
			target := string(m[1])
			if strings.Contains(target, "://") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(page), target)); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, target)
			}
		}
		if rel == filepath.Join("docs", "module.md") {
			continue // its paths are those of a project of the reader's, not of this repository
		}
		for _, m := range path.FindAllSubmatch(data, -1) {
			target := strings.TrimRight(string(m[1]), "/.")
			if _, err := os.Stat(filepath.Join(root, target)); err != nil {
				t.Errorf("%s names %s, which does not exist", rel, target)
			}
		}
	}
}
