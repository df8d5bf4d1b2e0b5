// Package generator is protoc-gen-kdbus: it turns the services of .proto files into Go clients
// and servers that speak D-Bus through package runtime, and into D-Bus introspection XML.
//
// For each .proto file with services (or with constants and field defaults) it writes
// <stem>.kdbus.go, in the Go package of protoc-gen-go's output, <stem>.kdbus.codec.go with the
// file's codecs when it has any, and for each service <stem>.<Service>.introspect.xml. The mapping
// from protobuf to D-Bus types is described in docs/mapping.md; this package implements it.
// Where D-Bus's limits leave a message no typed form, it carries the message serialized and
// warns (fallback.go); what cannot be generated at all (invalid options, clashing names) it
// reports with the file, line and column.
package generator

import (
	"fmt"
	"io"

	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// Options configure a run of the generator.
type Options struct {
	// Warnings receives a line for each thing the generator could not honour: memfd fields
	// inside serialized messages, and each field or message serialized because D-Bus's limits
	// leave no typed form for it. Nil discards them.
	Warnings io.Writer
}

// SupportedFeatures are the protobuf language features the generator handles.
const SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL | pluginpb.CodeGeneratorResponse_FEATURE_SUPPORTS_EDITIONS)

// The editions the generator handles.
const (
	SupportedEditionsMinimum = descriptorpb.Edition_EDITION_2023
	SupportedEditionsMaximum = descriptorpb.Edition_EDITION_2023
)

type generator struct {
	gen          *protogen.Plugin
	opts         Options
	diags        diagnostics
	base         *model            // the messages of the run, without fallback decisions
	model        *model            // the model of the file being planned
	models       map[string]*model // by file path: the model that follows the file's fallback decisions
	fallbacks    map[string][]decision
	warned       map[string]bool
	namers       map[protogen.GoImportPath]*namer
	serviceNames map[*protogen.Service]*serviceNames
	messageNames map[*protogen.Message]*messageNames
}

// Generate writes the files for every file of the request that has services, or messages
// with constants or field defaults (which get only the Go file). It returns an
// error, a line per problem, when a service cannot be mapped onto D-Bus; then it writes
// nothing.
func Generate(gen *protogen.Plugin, opts Options) error {
	gen.SupportedFeatures = SupportedFeatures
	gen.SupportedEditionsMinimum = SupportedEditionsMinimum
	gen.SupportedEditionsMaximum = SupportedEditionsMaximum

	g := &generator{gen: gen, opts: opts, models: map[string]*model{}, fallbacks: map[string][]decision{}, warned: map[string]bool{}}
	g.base = newModel(gen, &g.diags, g.warnf)
	g.namers, g.serviceNames, g.messageNames = packageNamers(gen, g.serviceDecls)

	var plans []*filePlan
	for _, f := range gen.Files {
		if f.Generate && (len(f.Services) > 0 || fileHasExtras(f)) {
			g.model = g.fileModel(f)
			plans = append(plans, g.planFile(f))
		}
	}
	if err := g.diags.err(); err != nil {
		return err
	}
	for _, p := range plans {
		p.allocNames(gen, g.namers[p.file.GoImportPath])
		g.emitGo(p)
		for _, sp := range p.services {
			out := gen.NewGeneratedFile(p.file.GeneratedFilenamePrefix+"."+string(sp.svc.Desc.Name())+".introspect.xml", "")
			out.Write([]byte(sp.xmlDoc))
		}
	}
	return nil
}

// Run is the plugin's main: it reads a CodeGeneratorRequest from standard input and writes the
// response to standard output, warnings to standard error.
func Run(warnings io.Writer) {
	protogen.Options{}.Run(func(gen *protogen.Plugin) error {
		return Generate(gen, Options{Warnings: warnings})
	})
}

// fileModel returns the model that maps the services of file f, following the fallback
// decisions the file's services call for (fallback.go).
func (g *generator) fileModel(f *protogen.File) *model {
	path := f.Desc.Path()
	if m := g.models[path]; m != nil {
		return m
	}
	opaque, whole, steps := g.resolveFallback(f)
	m := g.base.derive(opaque, whole, &g.diags, g.warnf)
	g.models[path] = m
	g.fallbacks[path] = steps
	return m
}

func (g *generator) warnf(file, format string, args ...any) {
	g.warnLine(file + ": " + fmt.Sprintf(format, args...))
}

// warnAt writes a warning located like a diagnostic: file:line:col: element: what.
func (g *generator) warnAt(d diagnostic) {
	g.warnLine(d.String())
}

// warnLine writes a warning, once.
func (g *generator) warnLine(line string) {
	if g.opts.Warnings == nil || g.warned[line] {
		return
	}
	g.warned[line] = true
	fmt.Fprintf(g.opts.Warnings, "protoc-gen-kdbus: %s\n", line)
}
