package examples_test

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/broker"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/internal/version"
)

// docBlock is a fenced code block of a Markdown page: its language, the words after it, and
// its text.
type docBlock struct {
	lang  string
	attrs []string
	text  string
}

// attr returns the value of key=value among the block's words, or whether the bare word key
// is there ("" and true).
func (b docBlock) attr(key string) (string, bool) {
	for _, a := range b.attrs {
		if a == key {
			return "", true
		}
		if k, v, ok := strings.Cut(a, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// readDocBlocks returns the fenced code blocks of a Markdown file, in order.
func readDocBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	var cur *docBlock
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			f := strings.Fields(strings.TrimPrefix(line, "```"))
			cur = &docBlock{}
			if len(f) > 0 {
				cur.lang, cur.attrs = f[0], f[1:]
			}
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s: a code block is not closed", path)
	}
	return blocks
}

// commands splits a shell block into its commands: one a line, a trailing backslash joining
// lines, comments and blank lines left out.
func commands(text string) []string {
	var out []string
	var cur string
	for l := range strings.SplitSeq(text, "\n") {
		if c, ok := strings.CutSuffix(l, "\\"); ok {
			cur += c
			continue
		}
		cur += l
		if s := strings.TrimSpace(cur); s != "" && !strings.HasPrefix(s, "#") {
			out = append(out, s)
		}
		cur = ""
	}
	return out
}

// The page docs/module.md sets up a project outside this repository. This test follows it in
// a fresh module in a temporary directory: it writes the page's files (blocks marked file=),
// runs its commands (blocks marked step, protoc and run) in order, and compares what the
// client prints with the page's output block. It runs offline: the module cache holds what
// this repository's own build fetched, and the one command that would fetch kdbus-go itself,
// go get github.com/kdbus-go/kdbus@latest, is replaced by a require of this version and a
// replace directive naming this checkout, which stand in for the module go get would download.
// The checksum database cannot be asked offline (GOSUMDB=off): go.sum gets its hashes from the
// module cache.
func TestOutsideModuleFromTheDocs(t *testing.T) {
	dbustest.RequireTool(t, "buf")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readDocBlocks(t, filepath.Join(root, "docs", "module.md"))
	dir := filepath.Join(t.TempDir(), "hello")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOSUMDB=off", "GOWORK=off", "GOTOOLCHAIN=local")
	const goGet = "go get github.com/kdbus-go/kdbus@latest"
	standIn := "go mod edit -require=github.com/kdbus-go/kdbus@" + version.Version + " -replace=github.com/kdbus-go/kdbus=" + root

	run := func(t *testing.T, command string) string {
		t.Helper()
		cmd := exec.Command("sh", "-e", "-c", command)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
		return string(out)
	}

	var protocBlock, runBlock, output *docBlock
	replaced := false
	for i, b := range blocks {
		if name, ok := b.attr("file"); ok {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(b.text), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, ok := b.attr("step"); ok {
			for _, c := range commands(b.text) {
				if c == goGet {
					c, replaced = standIn, true
				}
				run(t, c)
			}
			continue
		}
		if _, ok := b.attr("protoc"); ok {
			protocBlock = &blocks[i]
		}
		if _, ok := b.attr("run"); ok {
			runBlock = &blocks[i]
		}
		if _, ok := b.attr("output"); ok {
			output = &blocks[i]
		}
	}
	if !replaced {
		t.Fatalf("docs/module.md no longer says %q, which this test replaces; update the test with the page", goGet)
	}
	if protocBlock == nil || runBlock == nil || output == nil {
		t.Fatal("docs/module.md lacks its protoc, run or output block")
	}

	// buf generated the service's files and nothing of kdbus-go's own, whose Go code the
	// generated code imports from github.com/kdbus-go/kdbus/proto/kdbus/v1.
	want := []string{"gen/hellov1/hello.Greeter.introspect.xml", "gen/hellov1/hello.kdbus.go", "gen/hellov1/hello.pb.go"}
	generated := generatedFiles(t, dir)
	if !slices.Equal(slices.Sorted(maps.Keys(generated)), want) {
		t.Fatalf("generated files: %v, want exactly %v", slices.Sorted(maps.Keys(generated)), want)
	}
	if !bytes.Contains(generated["gen/hellov1/hello.kdbus.go"], []byte(`"/hello/v1/Greeter"`)) {
		t.Error("hello.kdbus.go does not serve the Greeter at /hello/v1/Greeter, the path docs/module.md names")
	}

	t.Run("protoc", func(t *testing.T) {
		dbustest.RequireTool(t, "protoc")
		run(t, strings.Join(commands(protocBlock.text), "\n"))
		again := generatedFiles(t, dir)
		if !slices.Equal(slices.Sorted(maps.Keys(again)), want) {
			t.Fatalf("after protoc, generated files: %v, want exactly %v", slices.Sorted(maps.Keys(again)), want)
		}
		for name, data := range generated {
			if !bytes.Equal(withoutProtocVersion(again[name]), withoutProtocVersion(data)) {
				t.Errorf("protoc wrote %s differently from buf", name)
			}
		}
	})

	t.Run("run", func(t *testing.T) {
		bus, err := broker.Start(broker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer bus.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-e", "-c", runBlock.text)
		cmd.Dir, cmd.Env = dir, append(env, "BUS="+bus.Address)
		// The block starts the server in the background: its process group is stopped with it.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Start()
		if err == nil {
			defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = cmd.Wait()
		}
		if err != nil {
			t.Fatalf("the run block: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
		}
		if stdout.String() != output.text {
			t.Fatalf("the client printed %q, docs/module.md says %q", stdout.String(), output.text)
		}
	})
}

// withoutProtocVersion drops the line of protoc-gen-go's header that names the compiler's
// version, which buf does not tell plugins ("(unknown)") and protoc does.
func withoutProtocVersion(src []byte) []byte {
	var out []byte
	for l := range bytes.Lines(src) {
		if !bytes.HasPrefix(l, []byte("// \tprotoc ")) {
			out = append(out, l...)
		}
	}
	return out
}

// generatedFiles reads every file under dir that protoc-gen-go or protoc-gen-kdbus writes,
// by path relative to dir.
func generatedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		if strings.HasSuffix(name, ".pb.go") || strings.HasSuffix(name, ".kdbus.go") || strings.HasSuffix(name, ".introspect.xml") {
			rel, _ := filepath.Rel(dir, p)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[filepath.ToSlash(rel)] = data
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
