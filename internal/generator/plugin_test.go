package generator

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

var (
	pluginOnce sync.Once
	pluginPath string
	pluginErr  error
	pluginDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pluginDir != "" {
		os.RemoveAll(pluginDir)
	}
	os.Exit(code)
}

// buildPlugin builds cmd/protoc-gen-kdbus once per test run.
func buildPlugin(t testing.TB) string {
	t.Helper()
	goTool := requireTool(t, "go")
	pluginOnce.Do(func() {
		pluginDir, pluginErr = os.MkdirTemp("", "protoc-gen-kdbus-")
		if pluginErr != nil {
			return
		}
		pluginPath = filepath.Join(pluginDir, "protoc-gen-kdbus")
		out, err := exec.Command(goTool, "build", "-o", pluginPath, "github.com/kdbus-go/kdbus/cmd/protoc-gen-kdbus").CombinedOutput()
		if err != nil {
			pluginErr = &buildError{err: err, out: string(out)}
		}
	})
	if pluginErr != nil {
		t.Fatalf("building protoc-gen-kdbus: %v", pluginErr)
	}
	return pluginPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// protocIncludes returns the -I flags protoc needs besides the inputs' own directory: our
// options, and the well-known types, which Debian installs with libprotobuf-dev.
func protocIncludes(t testing.TB) []string {
	t.Helper()
	flags := []string{"-I", filepath.Join("..", "..", "proto")}
	for _, dir := range []string{"/usr/include", "/usr/local/include"} {
		if _, err := os.Stat(filepath.Join(dir, "google", "protobuf", "empty.proto")); err == nil {
			return append(flags, "-I", dir)
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the well-known types' .proto files (google/protobuf/*.proto) are required under CI=true: install libprotobuf-dev")
	}
	t.Skip("the well-known types' .proto files are not installed (libprotobuf-dev); skipping")
	return nil
}

// readTree returns the files under dir, by slash-separated relative path.
func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return files
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// checkAgainstGolden compares what a plugin run wrote with the golden files of the cases.
func checkAgainstGolden(t *testing.T, out string, cases []string) {
	t.Helper()
	got := readTree(t, out)
	want := map[string]string{}
	for _, name := range cases {
		for rel, content := range readTree(t, filepath.Join("testdata", "golden", name)) {
			if strings.HasSuffix(rel, ".introspect.xml") {
				want[name+"/"+rel] = content
			}
		}
		for rel, content := range readTree(t, filepath.Join(goldentestDir, name)) {
			if strings.HasSuffix(rel, ".kdbus.go") || strings.HasSuffix(rel, ".kdbus.codec.go") {
				want[name+"/"+rel] = content
			}
		}
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		g, ok := got[n]
		switch {
		case !ok:
			t.Errorf("%s was not generated", n)
		case stripCompilerVersion(g) != stripCompilerVersion(want[n]):
			t.Errorf("%s differs from the golden file:\n%s", n, diff(want[n], g))
		}
	}
	for n := range got {
		if _, ok := want[n]; !ok {
			t.Errorf("%s was generated but is not a golden file", n)
		}
	}
}

// goldenWarnings returns the warnings the cases' golden files expect, in order.
func goldenWarnings(cases []string) string {
	var b strings.Builder
	for _, name := range cases {
		w, _ := os.ReadFile(filepath.Join("testdata", "golden", name, "warnings.txt"))
		b.Write(w)
	}
	return b.String()
}

// TestPluginProtoc runs the built plugin under protoc on the proto2 and proto3 golden cases
// and expects the golden files.
func TestPluginProtoc(t *testing.T) {
	protoc := requireTool(t, "protoc")
	plugin := buildPlugin(t)
	var cases []string
	for _, name := range caseNames() {
		if !editionsCases[name] {
			cases = append(cases, name)
		}
	}
	out := t.TempDir()
	var stderr bytes.Buffer
	for _, name := range cases {
		// One protoc run per case, as the files of one Go package are generated together.
		args := append([]string{"-I", "testdata"}, protocIncludes(t)...)
		args = append(args, "--plugin=protoc-gen-kdbus="+plugin, "--kdbus_out=paths=source_relative:"+out)
		for _, f := range goldenCases[name] {
			args = append(args, filepath.Join("testdata", f))
		}
		cmd := exec.Command(protoc, args...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("protoc %v: %v\n%s", args, err, errb.String())
		}
		stderr.Write(errb.Bytes())
	}
	checkAgainstGolden(t, out, cases)
	if got, want := stderr.String(), goldenWarnings(cases); got != want {
		t.Errorf("warnings on stderr:\n%s\nwant:\n%s", got, want)
	}
}

// TestPluginBuf runs the built plugin under buf generate, as a local plugin, on every golden
// case (editions included) and expects the golden files.
func TestPluginBuf(t *testing.T) {
	buf := requireTool(t, "buf")
	plugin := buildPlugin(t)
	work := t.TempDir()
	// The workspace: the golden protos as one module, our options as another.
	for _, name := range caseNames() {
		for _, f := range goldenCases[name] {
			copyFile(t, filepath.Join("testdata", f), filepath.Join(work, "src", f))
		}
	}
	for _, f := range []string{"options.proto", "types.proto"} {
		copyFile(t, filepath.Join("..", "..", "proto", "kdbus", "v1", f), filepath.Join(work, "deps", "kdbus", "v1", f))
	}
	writeFile(t, filepath.Join(work, "buf.yaml"), "version: v2\nmodules:\n  - path: src\n  - path: deps\n")
	// protoc-gen-go runs beside ours, as in a real project: its output must be the goldentest
	// packages' .pb.go files, which the in-process generation checks in.
	protocGenGo := requireTool(t, "protoc-gen-go")
	writeFile(t, filepath.Join(work, "buf.gen.yaml"), "version: v2\nplugins:\n"+
		"  - local: "+plugin+"\n    out: out\n    opt: paths=source_relative\n"+
		"  - local: "+protocGenGo+"\n    out: out-go\n    opt: paths=source_relative\n")
	cmd := exec.Command(buf, "generate")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "BUF_CACHE_DIR="+filepath.Join(work, "cache"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, stderr.String())
	}
	checkAgainstGolden(t, filepath.Join(work, "out"), caseNames())
	goFiles := readTree(t, filepath.Join(work, "out-go"))
	if len(goFiles) == 0 {
		t.Error("protoc-gen-go generated nothing")
	}
	for name, got := range goFiles {
		if strings.HasPrefix(name, "kdbus/") {
			continue // our options, a dependency
		}
		want, err := os.ReadFile(filepath.Join(goldentestDir, filepath.FromSlash(name)))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if stripCompilerVersion(got) != stripCompilerVersion(string(want)) {
			t.Errorf("%s: protoc-gen-go under buf differs from the goldentest package:\n%s", name, diff(string(want), got))
		}
	}
	// buf runs the plugin once per directory, in an order of its own: compare the lines.
	got := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	want := strings.Split(strings.TrimSpace(goldenWarnings(caseNames())), "\n")
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings on stderr:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stripCompilerVersion drops the line of a generated Go file's header that names the compiler
// (protoc-gen-go's and ours: the goldens are generated without one), and the file's leading
// comment that protoc-gen-go copies above the header: protoparse does not attach a comment to
// an edition statement as buf's compiler does.
func stripCompilerVersion(src string) string {
	if i := strings.Index(src, "// Code generated"); i >= 0 {
		src = src[i:]
	}
	lines := strings.Split(src, "\n")
	out := lines[:0]
	for _, l := range lines {
		if !strings.HasPrefix(l, "// \tprotoc ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
