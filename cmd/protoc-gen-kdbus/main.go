// Command protoc-gen-kdbus is a protoc and buf plugin that generates, for each .proto file with
// services, Go clients and servers that speak D-Bus (<stem>.kdbus.go and its codecs in
// <stem>.kdbus.codec.go, beside protoc-gen-go's output) and the D-Bus introspection XML of each
// service (<stem>.<Service>.introspect.xml).
//
//	protoc --go_out=. --kdbus_out=. --go_opt=paths=source_relative --kdbus_opt=paths=source_relative greeter.proto
//
// It accepts protoc-gen-go's parameters paths= and module= and M<file>=<import path>.
// docs/mapping.md describes how protobuf maps onto D-Bus.
//
// Run by hand, it also does two things a project needs around generating:
//
//	protoc-gen-kdbus --version            # print its version
//	protoc-gen-kdbus --write-protos=DIR   # write kdbus/v1/options.proto and types.proto under DIR
//
// The .proto files are the ones this binary was built with, for the project's protoc -I or buf
// workspace; docs/module.md shows a project outside this repository set itself up.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kdbus-go/kdbus/internal/generator"
	"github.com/kdbus-go/kdbus/internal/version"
	"github.com/kdbus-go/kdbus/proto"
)

func main() {
	if len(os.Args) == 1 {
		// protoc and buf run plugins without arguments.
		generator.Run(os.Stderr)
		return
	}
	fs := flag.NewFlagSet("protoc-gen-kdbus", flag.ExitOnError)
	showVersion := fs.Bool("version", false, "print the version and exit")
	protos := fs.String("write-protos", "", "write kdbus-go's .proto files (kdbus/v1/options.proto, ...) under `dir` and exit")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: protoc-gen-kdbus [--version] [--write-protos=dir]\n\n")
		fmt.Fprintf(os.Stderr, "A protoc and buf plugin: protoc and buf run it without arguments. By hand:\n\n")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "protoc-gen-kdbus: unexpected argument %q; see protoc-gen-kdbus --help\n", fs.Arg(0))
		os.Exit(2)
	}
	switch {
	case *showVersion:
		fmt.Println(version.Line("protoc-gen-kdbus"))
	case *protos != "":
		written, err := proto.Write(*protos)
		for _, w := range written {
			fmt.Println(w)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "protoc-gen-kdbus:", err)
			os.Exit(1)
		}
	default:
		fs.Usage()
		os.Exit(2)
	}
}
