package generator

import (
	"errors"
	"io"

	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/desc/protoparse"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// Compile parses .proto files in-process, without protoc, and runs the generator on them as
// protoc would run the plugin with the parameter param (such as "module=example.com/m"). It
// returns the files the plugin would write; warnings go to warnings.
func Compile(importPaths []string, param string, warnings io.Writer, files ...string) ([]*pluginpb.CodeGeneratorResponse_File, error) {
	protos, err := ParseProtos(importPaths, files...)
	if err != nil {
		return nil, err
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: files, ProtoFile: protos, Parameter: proto.String(param)}
	// Round-trip through the wire encoding so options arrive as they do from protoc.
	b, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	req = new(pluginpb.CodeGeneratorRequest)
	if err := proto.Unmarshal(b, req); err != nil {
		return nil, err
	}
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		return nil, err
	}
	if err := Generate(gen, Options{Warnings: warnings}); err != nil {
		return nil, err
	}
	resp := gen.Response()
	if resp.Error != nil {
		return nil, errors.New(resp.GetError())
	}
	return resp.File, nil
}

// ParseProtos parses files (relative to the import paths) and returns every file they need,
// dependencies first, as protoc sends them to a plugin.
func ParseProtos(importPaths []string, files ...string) ([]*descriptorpb.FileDescriptorProto, error) {
	p := protoparse.Parser{ImportPaths: importPaths, IncludeSourceCodeInfo: true}
	fds, err := p.ParseFiles(files...)
	if err != nil {
		return nil, err
	}
	var out []*descriptorpb.FileDescriptorProto
	seen := map[string]bool{}
	var add func(fd *desc.FileDescriptor)
	add = func(fd *desc.FileDescriptor) {
		if seen[fd.GetName()] {
			return
		}
		seen[fd.GetName()] = true
		for _, dep := range fd.GetDependencies() {
			add(dep)
		}
		out = append(out, fd.AsFileDescriptorProto())
	}
	for _, fd := range fds {
		add(fd)
	}
	return out, nil
}
