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
	var includes dirs
	flag.Var(&includes, "I", "an include directory to find imported AIDL files in (repeatable)")
	out := flag.String("o", ".", "the directory to write .proto files under")
	prefix := flag.String("go_package_prefix", "", "Go import path prefix: sets go_package to prefix/<package path>;<name>")
	quiet := flag.Bool("q", false, "do not print the conversion notes")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: aidl2proto [-I dir]... [-o dir] [-go_package_prefix path] [-q] file.aidl...\n\n")
		fmt.Fprintf(os.Stderr, "Converts AIDL interfaces, parcelables, enums and unions to .proto files with\nkdbus-go options. Example:\n\n")
		fmt.Fprintf(os.Stderr, "  aidl2proto -I aidl -o proto -go_package_prefix example.com/gen aidl/com/example/IFoo.aidl\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Line("aidl2proto"))
		return
	}
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	l := &aidl.Loader{IncludeDirs: includes}
	if _, err := l.Load(flag.Args()...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	res, err := toproto.Convert(l.Files(), toproto.Options{GoPackagePrefix: *prefix})
	if err != nil {
		fmt.Fprintln(os.Stderr, "aidl2proto:", err)
		os.Exit(1)
	}
	if !*quiet {
		for _, n := range res.Notes {
			fmt.Fprintln(os.Stderr, n)
		}
	}
	written, err := res.Write(*out)
	for _, w := range written {
		fmt.Println(w)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aidl2proto:", err)
		os.Exit(1)
	}
}
