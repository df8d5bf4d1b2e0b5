package generator

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// diagnostic is one reason the plugin cannot generate code, in the form
//
//	file.proto:LINE:COL: element.full.Name: what is wrong; hint: how to fix it
type diagnostic struct {
	file      string
	line, col int // 1-based; 0 when the file has no source information
	element   protoreflect.FullName
	what      string
	hint      string
}

func (d diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.file)
	if d.line > 0 {
		fmt.Fprintf(&b, ":%d:%d", d.line, d.col)
	}
	fmt.Fprintf(&b, ": %s: %s", d.element, d.what)
	if d.hint != "" {
		fmt.Fprintf(&b, "; hint: %s", d.hint)
	}
	return b.String()
}

// diagnostics collects problems in the order found, once each.
type diagnostics struct {
	list []diagnostic
	seen map[string]bool
}

// add reports a problem with desc at desc's source location.
func (ds *diagnostics) add(desc protoreflect.Descriptor, what, hint string) {
	ds.addAt(desc, nil, what, hint)
}

// addAt reports a problem with desc at the location of the option at path (a source path from
// the file's root) when the source information has one, at desc's location otherwise. Longer
// paths are tried first, then their prefixes down to the options message itself.
func (ds *diagnostics) addAt(desc protoreflect.Descriptor, path protoreflect.SourcePath, what, hint string) {
	d := locate(desc, path, what, hint)
	key := d.String()
	if ds.seen == nil {
		ds.seen = map[string]bool{}
	}
	if ds.seen[key] {
		return
	}
	ds.seen[key] = true
	ds.list = append(ds.list, d)
}

// locate describes desc at the location of the option at path (a source path from the file's
// root) when the source information has one, at desc's location otherwise. Longer paths are
// tried first, then their prefixes down to the options message itself.
func locate(desc protoreflect.Descriptor, path protoreflect.SourcePath, what, hint string) diagnostic {
	file := desc.ParentFile()
	locs := file.SourceLocations()
	loc := locs.ByDescriptor(desc)
	for p := path; len(p) > 0; p = p[:len(p)-1] {
		if l := locs.ByPath(p); len(l.Path) > 0 {
			loc = l
			break
		}
	}
	d := diagnostic{file: file.Path(), element: desc.FullName(), what: what, hint: hint}
	if len(loc.Path) > 0 {
		d.line, d.col = loc.StartLine+1, loc.StartColumn+1
	}
	return d
}

// err returns the problems as one error, a line each, or nil.
func (ds *diagnostics) err() error {
	if len(ds.list) == 0 {
		return nil
	}
	lines := make([]string, len(ds.list))
	for i, d := range ds.list {
		lines[i] = d.String()
	}
	return errors.New(strings.Join(lines, "\n"))
}

// extension returns the value of extension xt in an options message, parsed with the types
// this program links in. Options arrive from protoc as bytes; depending on how the request was
// decoded the extension may sit there as unknown fields or as a dynamic message, so the
// options are re-parsed to get the generated Go type. It returns nil when the option is unset.
func extension(opts proto.Message, xt protoreflect.ExtensionType) any {
	if opts == nil || !opts.ProtoReflect().IsValid() {
		return nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(opts)
	if err != nil {
		return nil
	}
	fresh := opts.ProtoReflect().Type().New().Interface()
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(b, fresh); err != nil {
		return nil
	}
	if !proto.HasExtension(fresh, xt) {
		return nil
	}
	return proto.GetExtension(fresh, xt)
}

// optionPath returns the source path of a sub-field of one of our options on an element whose
// path is base, in whose descriptor proto the options are field optionsField.
func optionPath(base protoreflect.SourcePath, optionsField int32, extField int32, sub ...int32) protoreflect.SourcePath {
	p := append(protoreflect.SourcePath(nil), base...)
	p = append(p, optionsField, extField)
	return append(p, sub...)
}
