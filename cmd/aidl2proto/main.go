// Command aidl2proto converts Android AIDL files into .proto files with kdbus-go's options, so
// that a binder service can be served and called on a bus with the generated Go.
//
//	aidl2proto -I aidl -o proto -go_package_prefix example.com/gen aidl/com/example/IFoo.aidl
//
// It reads the named files and everything they import (found under the -I directories),
// writes one .proto per AIDL file under -o, lists the files written on standard output, and
// reports on standard error what the conversion changed or dropped (docs/aidl2proto.md).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kdbus-go/kdbus/aidl"
	"github.com/kdbus-go/kdbus/aidl/toproto"
	"github.com/kdbus-go/kdbus/internal/version"
)

type dirs []string

func (d *dirs) String() string     { return strings.Join(*d, ",") }
func (d *dirs) Set(v string) error { *d = append(*d, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, converts, writes, and returns the exit status (0, 1 for
// a failed conversion, 2 for bad usage).
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aidl2proto", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var includes dirs
	fs.Var(&includes, "I", "an include directory to find imported AIDL files in (repeatable)")
	out := fs.String("o", ".", "the directory to write .proto files under")
	prefix := fs.String("go_package_prefix", "", "Go import path prefix: sets go_package to prefix/<package path>;<name> (packages that import each other share one)")
	pkg := fs.String("package", "", "the proto package of AIDL files that declare none (default: the name of the file's directory)")
	quiet := fs.Bool("q", false, "do not print the conversion notes")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: aidl2proto [-I dir]... [-o dir] [-go_package_prefix path] [-package name] [-q] file.aidl...\n\n")
		fmt.Fprintf(stderr, "Converts AIDL interfaces, parcelables, enums and unions to .proto files with\nkdbus-go options. Example:\n\n")
		fmt.Fprintf(stderr, "  aidl2proto -I aidl -o proto -go_package_prefix example.com/gen aidl/com/example/IFoo.aidl\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.Line("aidl2proto"))
		return 0
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *pkg != "" && !validPackage(*pkg) {
		fmt.Fprintf(stderr, "aidl2proto: -package %q is not a package name: give dot-separated identifiers (com.example.tests)\n", *pkg)
		return 2
	}
	l := &aidl.Loader{IncludeDirs: includes}
	if _, err := l.Load(fs.Args()...); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	res, err := toproto.Convert(l.Files(), toproto.Options{GoPackagePrefix: *prefix, DefaultPackage: *pkg})
	if err != nil {
		fmt.Fprintln(stderr, "aidl2proto:", err)
		return 1
	}
	if !*quiet {
		for _, n := range res.Notes {
			fmt.Fprintln(stderr, n)
		}
	}
	written, err := res.Write(*out)
	for _, w := range written {
		fmt.Fprintln(stdout, w)
	}
	if err != nil {
		fmt.Fprintln(stderr, "aidl2proto:", err)
		return 1
	}
	return 0
}

// validPackage reports whether p is a proto package name: identifiers joined by dots.
func validPackage(p string) bool {
	for _, part := range strings.Split(p, ".") {
		if part == "" || part[0] >= '0' && part[0] <= '9' {
			return false
		}
		for _, r := range part {
			if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}
