// Package toproto converts AIDL declarations, as package aidl loads them, into .proto files
// that use kdbus-go's options, so that a binder interface becomes a kdbus-go service with the
// same methods, types and semantics. docs/aidl2proto.md lists every rule.
//
// The files are built as descriptors (github.com/jhump/protoreflect's builder), so the output
// is valid protobuf by construction, and printed with its printer, comments included. What
// cannot be carried over exactly is converted as closely as proto allows and reported as a Note.
package toproto

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/desc/builder"
	"github.com/jhump/protoreflect/desc/protoprint"
	"github.com/kdbus-go/kdbus/aidl"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Options adjust a conversion.
type Options struct {
	// GoPackagePrefix, when set, gives every file a go_package: the prefix, the AIDL package
	// as a path, and a package name from its last element ("example.com/gen" and
	// android.hardware.vibrator give "example.com/gen/android/hardware/vibrator;vibrator").
	GoPackagePrefix string
}

// Note is something the conversion changed or could not carry over, at the AIDL position it
// comes from.
type Note struct {
	Pos aidl.Pos
	Msg string
}

// String formats the note as file:line:col: message.
func (n Note) String() string { return n.Pos.String() + ": " + n.Msg }

// Result is a conversion's output.
type Result struct {
	// Files are the .proto files, one per AIDL file, in the order of the input.
	Files []*desc.FileDescriptor
	// Notes are sorted by position.
	Notes []Note
}

// Write prints every file under dir at its proto path (a/b/IFoo.proto), creating
// directories as needed, and returns the paths written.
func (r *Result) Write(dir string) ([]string, error) {
	var written []string
	p := &protoprint.Printer{Compact: false, SortElements: false, Indent: "  "}
	for _, fd := range r.Files {
		path := filepath.Join(dir, filepath.FromSlash(fd.GetName()))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, err
		}
		f, err := os.Create(path)
		if err != nil {
			return written, err
		}
		err = p.PrintProtoFile(fd, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return written, fmt.Errorf("writing %s: %w", path, err)
		}
		written = append(written, path)
	}
	return written, nil
}

// Print prints one file as Write does.
func Print(fd *desc.FileDescriptor, w io.Writer) error {
	return (&protoprint.Printer{Indent: "  "}).PrintProtoFile(fd, w)
}

// Dependencies the output may import.
var (
	optionsFile, typesFile, emptyFile *desc.FileDescriptor
	objectRefMsg, unixFDMsg, emptyMsg *desc.MessageDescriptor
)

func init() {
	var err error
	if optionsFile, err = desc.WrapFile(kdbusv1.File_kdbus_v1_options_proto); err != nil {
		panic(err)
	}
	if typesFile, err = desc.WrapFile(kdbusv1.File_kdbus_v1_types_proto); err != nil {
		panic(err)
	}
	if emptyMsg, err = desc.LoadMessageDescriptorForMessage(&emptypb.Empty{}); err != nil {
		panic(err)
	}
	emptyFile = emptyMsg.GetFile()
	objectRefMsg = typesFile.FindMessage("kdbus.v1.ObjectRef")
	unixFDMsg = typesFile.FindMessage("kdbus.v1.UnixFD")
}

// converter holds one conversion's state.
type converter struct {
	opts  Options
	notes []Note
	// files by AIDL file, and the proto element of each declaration.
	files    map[*aidl.File]*builder.FileBuilder
	messages map[aidl.Decl]*builder.MessageBuilder
	enums    map[aidl.Decl]*builder.EnumBuilder
	longEnum map[aidl.Decl]bool // long-backed enums that are not proto enums
	services map[aidl.Decl]*builder.ServiceBuilder
	// generic instantiations and wrapper messages, by name, per file
	extra map[*builder.FileBuilder]map[string]*builder.MessageBuilder
	// annotations already reported, per file
	reported map[string]bool
	uses     map[*builder.FileBuilder]map[*desc.FileDescriptor]bool
	// prefix names the helper messages of a file: its first declaration's name.
	prefix map[*builder.FileBuilder]string
}

func (c *converter) note(p aidl.Pos, format string, args ...any) {
	c.notes = append(c.notes, Note{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// Convert converts files (typically every file a Loader loaded: those named and those they
// import) into .proto files.
func Convert(files []*aidl.File, opts Options) (*Result, error) {
	c := &converter{
		opts: opts, files: map[*aidl.File]*builder.FileBuilder{},
		messages: map[aidl.Decl]*builder.MessageBuilder{}, enums: map[aidl.Decl]*builder.EnumBuilder{},
		longEnum: map[aidl.Decl]bool{}, services: map[aidl.Decl]*builder.ServiceBuilder{},
		extra: map[*builder.FileBuilder]map[string]*builder.MessageBuilder{}, reported: map[string]bool{},
		uses: map[*builder.FileBuilder]map[*desc.FileDescriptor]bool{}, prefix: map[*builder.FileBuilder]string{},
	}
	// First every element, so that types can refer to each other; then their contents.
	for _, f := range files {
		fb := builder.NewFile(protoPath(f)).SetPackageName(f.Package).SetProto3(true)
		if opts.GoPackagePrefix != "" {
			fb.SetOptions(&descriptorpb.FileOptions{GoPackage: proto.String(goPackage(opts.GoPackagePrefix, f.Package))})
		}
		c.files[f] = fb
		c.extra[fb] = map[string]*builder.MessageBuilder{}
		c.uses[fb] = map[*desc.FileDescriptor]bool{}
		if len(f.Decls) > 0 {
			c.prefix[fb] = f.Decls[0].Base().Name
		}
		for _, d := range f.Decls {
			c.declare(fb, nil, d, "")
		}
	}
	var err error
	for _, f := range files {
		for _, d := range f.Decls {
			c.fill(c.files[f], d)
		}
		c.reportAnnotations(f)
	}
	res := &Result{}
	for _, f := range files {
		fb := c.files[f]
		for _, dep := range []*desc.FileDescriptor{emptyFile, optionsFile, typesFile} {
			if c.uses[fb][dep] {
				fb.AddImportedDependency(dep)
			}
		}
		fd, berr := fb.Build()
		if berr != nil && err == nil {
			err = fmt.Errorf("%s: the converted proto does not build: %w", f.Path, berr)
		}
		res.Files = append(res.Files, fd)
	}
	if err != nil {
		return nil, err
	}
	sort.SliceStable(c.notes, func(i, j int) bool {
		a, b := c.notes[i].Pos, c.notes[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	res.Notes = c.notes
	return res, nil
}

// protoPath is the .proto path of an AIDL file: its package as directories and its first
// declaration's name.
func protoPath(f *aidl.File) string {
	name := strings.TrimSuffix(filepath.Base(f.Path), ".aidl")
	if len(f.Decls) > 0 {
		name = f.Decls[0].Base().Name
	}
	if f.Package == "" {
		return name + ".proto"
	}
	return strings.ReplaceAll(f.Package, ".", "/") + "/" + name + ".proto"
}

func goPackage(prefix, pkg string) string {
	elems := strings.Split(pkg, ".")
	name := strings.ToLower(elems[len(elems)-1])
	if name == "" || isGoKeyword(name) || len(name) <= 2 && name[0] == 'v' {
		name += "pb"
	}
	name = strings.Map(func(r rune) rune {
		if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, name)
	return strings.TrimSuffix(prefix, "/") + "/" + strings.Join(elems, "/") + ";" + name
}

func isGoKeyword(s string) bool {
	switch s {
	case "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for", "func", "go", "goto", "if", "import", "interface", "map", "package", "range", "return", "select", "struct", "switch", "type", "var":
		return true
	}
	return false
}

// declare creates the element of d (and of its nested declarations) in fb, inside parent
// when it is a message. prefix names nested types of interfaces, which become top-level.
func (c *converter) declare(fb *builder.FileBuilder, parent *builder.MessageBuilder, d aidl.Decl, prefix string) {
	b := d.Base()
	name := prefix + b.Name
	switch d := d.(type) {
	case *aidl.Interface:
		name = flatName(d)
		sb := builder.NewService(name)
		fb.AddService(sb)
		c.services[d] = sb
		for _, n := range b.Nested {
			c.note(n.Base().Pos, "%s is nested in interface %s; a service cannot hold types, so it became the top-level %s%s", n.Base().Name, b.Name, name, n.Base().Name)
			c.declare(fb, nil, n, name)
		}
		return
	case *aidl.Enum:
		if d.Backing == "long" && !fitsInt32(d) {
			// Not a proto enum: a message holding the values as constants.
			mb := builder.NewMessage(name)
			c.addMessage(fb, parent, mb)
			c.messages[d] = mb
			c.longEnum[d] = true
			return
		}
		eb := builder.NewEnum(name)
		if parent != nil {
			parent.AddNestedEnum(eb)
		} else {
			fb.AddEnum(eb)
		}
		c.enums[d] = eb
		return
	case *aidl.Parcelable:
		if len(d.TypeParams) > 0 {
			c.note(b.Pos, "parcelable %s is generic: proto has no generics, so each use such as %s<String> becomes a message of its own (%sString)", b.Name, b.Name, b.Name)
			return
		}
	}
	mb := builder.NewMessage(name)
	c.addMessage(fb, parent, mb)
	c.messages[d] = mb
	for _, n := range b.Nested {
		c.declare(fb, mb, n, "")
	}
	if u, ok := d.(*aidl.Union); ok && u.Tag != nil {
		c.declare(fb, mb, u.Tag, "") // the implicit enum of the union's members, U.Tag
	}
}

func (c *converter) addMessage(fb *builder.FileBuilder, parent, mb *builder.MessageBuilder) {
	if parent != nil {
		parent.AddNestedMessage(mb)
	} else {
		fb.AddMessage(mb)
	}
}

func fitsInt32(e *aidl.Enum) bool {
	for _, en := range e.Enumerators {
		if en.Value < math.MinInt32 || en.Value > math.MaxInt32 {
			return false
		}
	}
	return true
}

// fill converts the contents of d.
func (c *converter) fill(fb *builder.FileBuilder, d aidl.Decl) {
	b := d.Base()
	switch d := d.(type) {
	case *aidl.Interface:
		c.service(fb, d)
	case *aidl.Enum:
		if c.longEnum[d] {
			c.longEnumMessage(d)
		} else {
			c.enum(d)
		}
	case *aidl.Parcelable:
		if len(d.TypeParams) > 0 {
			break
		}
		mb := c.messages[d]
		mb.SetComments(comments(b.Doc, forwardNote(d)))
		c.deprecate(b.Doc, func() { mb.SetOptions(&descriptorpb.MessageOptions{Deprecated: proto.Bool(true)}) })
		if d.Forward {
			c.note(b.Pos, "parcelable %s is defined in another language (%s): it became a message with one bytes field, data, that carries its own encoding", b.Name, forwardWhere(d))
			mb.AddField(builder.NewField("data", builder.FieldTypeBytes()).SetNumber(1))
			break
		}
		c.fields(fb, mb, d, d.Fields, nil, false)
		c.messageConsts(mb, d)
	case *aidl.Union:
		mb := c.messages[d]
		mb.SetComments(comments(b.Doc, ""))
		if len(d.TypeParams) > 0 {
			c.note(b.Pos, "union %s is generic: proto has no generics; its type parameters became bytes", b.Name)
		}
		c.fields(fb, mb, d, d.Fields, nil, true)
		c.messageConsts(mb, d)
		if d.Tag != nil {
			c.fill(fb, d.Tag)
		}
	}
	for _, n := range b.Nested {
		c.fill(fb, n)
	}
}

func forwardWhere(p *aidl.Parcelable) string {
	var w []string
	if p.CppHeader != "" {
		w = append(w, "cpp_header "+strconv.Quote(p.CppHeader))
	}
	if p.NdkHeader != "" {
		w = append(w, "ndk_header "+strconv.Quote(p.NdkHeader))
	}
	if p.RustType != "" {
		w = append(w, "rust_type "+strconv.Quote(p.RustType))
	}
	if len(w) == 0 {
		return "a forward declaration"
	}
	return strings.Join(w, ", ")
}

func forwardNote(p *aidl.Parcelable) string {
	if !p.Forward {
		return ""
	}
	return "Converted from a parcelable defined outside AIDL (" + forwardWhere(p) + "): data holds its own encoding."
}

// comments builds leading comments from an AIDL doc comment and extra lines.
func comments(d *aidl.Doc, extra ...string) builder.Comments {
	var lines []string
	if d != nil && d.Text != "" {
		lines = append(lines, strings.Split(d.Text, "\n")...)
	}
	for _, e := range extra {
		if e != "" {
			lines = append(lines, e)
		}
	}
	if len(lines) == 0 {
		return builder.Comments{}
	}
	for i, l := range lines {
		lines[i] = " " + l
	}
	return builder.Comments{LeadingComment: strings.Join(lines, "\n") + "\n"}
}

func (c *converter) deprecate(d *aidl.Doc, set func()) {
	if d != nil && d.Deprecated {
		set()
	}
}
