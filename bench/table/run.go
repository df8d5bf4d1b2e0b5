package table

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Config says which benchmarks Run runs and how.
type Config struct {
	// Root is the directory of the main module (github.com/kdbus-go/kdbus).
	Root string
	// Pattern selects benchmarks, as go test -bench does.
	Pattern string
	// Count is how many times each benchmark runs (-count); the table shows medians.
	Count int
	// Benchtime is passed to -benchtime when not "".
	Benchtime string
	// Timeout is passed to -timeout when not "".
	Timeout string
	// GRPC runs the grpc-go benchmarks of the nested module bench/grpccompare too.
	GRPC bool
	// Output receives go test's output as it runs; nil discards it.
	Output io.Writer
}

// GRPCDir is the nested module with the grpc-go comparison, relative to the main module.
const GRPCDir = "bench/grpccompare"

// Args returns the go test command line that runs the benchmarks of pkg.
func (c Config) Args(pkg string) []string {
	args := []string{"test", "-run", "^$", "-bench", c.Pattern, "-benchmem", "-v", "-count", fmt.Sprint(max(c.Count, 1))}
	if c.Benchtime != "" {
		args = append(args, "-benchtime", c.Benchtime)
	}
	if c.Timeout != "" {
		args = append(args, "-timeout", c.Timeout)
	}
	return append(args, pkg)
}

// Run runs the benchmarks of package bench, and with GRPC those of bench/grpccompare, and
// parses their output. When go test fails (a benchmark failed, or did not build) Run still
// returns what was parsed, with the error.
func Run(ctx context.Context, c Config) (*Results, error) {
	res, err := run(ctx, c, c.Root, "./bench")
	if !c.GRPC {
		return res, err
	}
	g, gerr := run(ctx, c, filepath.Join(c.Root, GRPCDir), ".")
	if g != nil {
		if res == nil {
			res = g
		} else {
			res.Merge(g)
		}
	}
	return res, errors.Join(err, gerr)
}

func run(ctx context.Context, c Config, dir, pkg string) (*Results, error) {
	args := c.Args(pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var out bytes.Buffer
	w := io.Writer(&out)
	if c.Output != nil {
		w = io.MultiWriter(&out, c.Output)
		fmt.Fprintf(c.Output, "$ (cd %s && go %s)\n", dir, strings.Join(args, " "))
	}
	cmd.Stdout, cmd.Stderr = w, w
	runErr := cmd.Run()
	res, err := Parse(&out)
	if err != nil {
		return nil, err
	}
	if runErr != nil {
		return res, fmt.Errorf("go %s in %s: %w", strings.Join(args, " "), dir, runErr)
	}
	return res, nil
}

// ModuleRoot returns the directory of the main module that holds dir: the nearest ancestor
// with a go.mod declaring github.com/kdbus-go/kdbus.
func ModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && modulePath(b) == "github.com/kdbus-go/kdbus" {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of github.com/kdbus-go/kdbus in %s or above it: run from inside the repository", dir)
		}
	}
}

// modulePath returns the module path a go.mod declares.
func modulePath(gomod []byte) string {
	for line := range strings.SplitSeq(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
