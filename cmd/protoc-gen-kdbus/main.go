// Command protoc-gen-kdbus is a protoc and buf plugin that generates, for each .proto file with
// services, Go clients and servers that speak D-Bus (<stem>.kdbus.go and its codecs in
// <stem>.kdbus.codec.go, beside protoc-gen-go's output) and the D-Bus introspection XML of each
// service (<stem>.<Service>.introspect.xml).
//
//	protoc --go_out=. --kdbus_out=. --go_opt=paths=source_relative --kdbus_opt=paths=source_relative greeter.proto
//
// It accepts protoc-gen-go's parameters paths= and module= and M<file>=<import path>.
// docs/mapping.md describes how protobuf maps onto D-Bus.
package main

import (
	"os"

	"github.com/kdbus-go/kdbus/internal/generator"
)

func main() { generator.Run(os.Stderr) }
