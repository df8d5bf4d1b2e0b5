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
	// DefaultPackage is the proto package of AIDL files that declare none. When empty, such a
	// file's package is the name of its directory (lower case, letters, digits and
	// underscores), or "aidl" when that gives no name. Either way a note says so.
	DefaultPackage string
}

// Note is something the conversion changed or could not carry over, at the AIDL position it
// comes from.
type Note struct {
	Pos aidl.Pos
	// Kind names the kind of change, for counting: "annotation", "enum-zero", "wrapper", …
	// (docs/aidl2proto.md lists them).
	Kind string
	Msg  string
}

// String formats the note as file:line:col: message.
func (n Note) String() string { return n.Pos.String() + ": " + n.Msg }

// Result is a conversion's output.
type Result struct {
	// Files are the .proto files, one per AIDL file, sorted by proto path: the order the files
	// were given in changes nothing in the output.
	Files []*desc.FileDescriptor
	// Notes are sorted by position.
	Notes []Note
}

// Write prints every file under dir at its proto path (a/b/IFoo.proto), creating
// directories as needed, and returns the paths written.
func (r *Result) Write(dir string) ([]string, error) {
	var written []string
	for _, fd := range r.Files {
		path := filepath.Join(dir, filepath.FromSlash(fd.GetName()))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, err
		}
		f, err := os.Create(path)
		if err != nil {
			return written, err
		}
		err = Print(fd, f)
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

// Print prints one file as Write does. Floating-point constants are printed exactly, in the
// shortest form that reads back as the same value (1e-09, 3.141592653589793).
func Print(fd *desc.FileDescriptor, w io.Writer) error {
	p := &protoprint.Printer{Indent: "  ", ForceFullyQualifiedNames: needsFullNames(fd)}
	// The printer writes floating-point option values with six decimals; print a copy whose
	// float constants are stand-ins it writes exactly, and put the exact values in their place.
	fdp := fd.AsFileDescriptorProto()
	var lists [][]*kdbusv1.Constant
	for _, m := range allMessages(fdp.GetMessageType()) {
		if mo, ok := proto.GetExtension(m.GetOptions(), kdbusv1.E_Message).(*kdbusv1.MessageOptions); ok && mo != nil {
			lists = append(lists, mo.GetConstants())
		}
	}
	for _, sv := range fdp.GetService() {
		if so, ok := proto.GetExtension(sv.GetOptions(), kdbusv1.E_Service).(*kdbusv1.ServiceOptions); ok && so != nil {
			lists = append(lists, so.GetConstants())
		}
	}
	exact := map[string]string{}
	stand := 1e12 // stand-ins are whole numbers from here: 1000000000001.000000, …
	for _, cs := range lists {
		for _, k := range cs {
			f, ok := k.GetValue().(*kdbusv1.Constant_Float)
			if !ok {
				continue
			}
			stand++
			exact[fmt.Sprintf("float: %f", stand)] = "float: " + floatText(f.Float, k.GetGoType() == "float32")
			f.Float = stand
		}
	}
	if len(exact) == 0 {
		return p.PrintProtoFile(fd, w)
	}
	copyFD, err := desc.CreateFileDescriptor(fdp, fd.GetDependencies()...)
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := p.PrintProtoFile(copyFD, &b); err != nil {
		return err
	}
	text := b.String()
	for from, to := range exact {
		text = strings.Replace(text, from, to, 1)
	}
	_, err = io.WriteString(w, text)
	return err
}

// needsFullNames reports whether the relative type names the printer writes could resolve
// wrongly in fd: a name android.hardware.Foo, written in package com.android.server, is
// looked for as com.android.hardware.Foo first, and protoc does not look further. Then every
// type name is written in full, with a leading dot.
func needsFullNames(fd *desc.FileDescriptor) bool {
	own := strings.Split(fd.GetPackage(), ".")
	for _, dep := range fd.GetDependencies() {
		first := strings.Split(dep.GetPackage(), ".")[0]
		for _, c := range own[min(1, len(own)):] {
			if c == first && dep.GetPackage() != fd.GetPackage() {
				return true
			}
		}
	}
	return false
}

// allMessages lists ms and the messages nested in them.
func allMessages(ms []*descriptorpb.DescriptorProto) []*descriptorpb.DescriptorProto {
	var out []*descriptorpb.DescriptorProto
	for _, m := range ms {
		out = append(out, m)
		out = append(out, allMessages(m.GetNestedType())...)
	}
	return out
}

// floatText writes f as proto text reads it back: the shortest form that gives the same
// float64 (or float32, for a float).
func floatText(f float64, single bool) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case single:
		return strconv.FormatFloat(f, 'g', -1, 32)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
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
	// pkg is the proto package of each file.
	pkg map[*aidl.File]string
	// enumPrefix is the prefix of each proto enum's value names.
	enumPrefix map[*aidl.Enum]string
	// extraID says what an instantiation message stands for, to tell apart two uses that
	// would take the same name.
	extraID map[*builder.MessageBuilder]string
	// merge, when set, puts packages that import each other into one Go package.
	merge *merge
	// order is the files in the order of their proto paths.
	order []*aidl.File
	// topEnums are the proto enums at the top of their file, whose values share the package's
	// scope, with their proto names.
	topEnums []topEnum
	errs     aidl.ErrorList
}

type topEnum struct {
	e    *aidl.Enum
	name string
}

func (c *converter) note(kind string, p aidl.Pos, format string, args ...any) {
	c.notes = append(c.notes, Note{Pos: p, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

// try records a builder's refusal (a name taken twice in one scope) as an error at p.
func (c *converter) try(p aidl.Pos, err error) {
	if err != nil {
		c.errs = append(c.errs, &aidl.Error{Pos: p, Msg: "cannot convert: " + err.Error()})
	}
}

// Convert converts files (typically every file a Loader loaded: those named and those they
// import) into .proto files. The output does not depend on the order of files. A name that
// proto cannot hold twice in one scope is an error at the AIDL position it comes from.
func Convert(files []*aidl.File, opts Options) (*Result, error) {
	res, c, err := convert(files, opts, nil)
	if err != nil || opts.GoPackagePrefix == "" {
		return res, err
	}
	// Packages that import each other cannot be Go packages of their own: convert again, with
	// each such group sharing one Go package and the clashing names there made unique.
	if m := c.mergeCycles(res.Files); m != nil {
		res, _, err = convert(files, opts, m)
	}
	return res, err
}

// convert is one conversion; m, when not nil, merges packages that import each other.
func convert(files []*aidl.File, opts Options, m *merge) (*Result, *converter, error) {
	c := &converter{merge: m,
		opts: opts, files: map[*aidl.File]*builder.FileBuilder{},
		messages: map[aidl.Decl]*builder.MessageBuilder{}, enums: map[aidl.Decl]*builder.EnumBuilder{},
		longEnum: map[aidl.Decl]bool{}, services: map[aidl.Decl]*builder.ServiceBuilder{},
		extra: map[*builder.FileBuilder]map[string]*builder.MessageBuilder{}, reported: map[string]bool{},
		uses: map[*builder.FileBuilder]map[*desc.FileDescriptor]bool{}, prefix: map[*builder.FileBuilder]string{},
		pkg: map[*aidl.File]string{}, enumPrefix: map[*aidl.Enum]string{}, extraID: map[*builder.MessageBuilder]string{},
	}
	for _, f := range files {
		c.pkg[f] = f.Package
		if f.Package == "" {
			c.pkg[f] = defaultPackage(f, opts.DefaultPackage)
			p := aidl.Pos{File: f.Path, Line: 1, Col: 1}
			if len(f.Decls) > 0 {
				p = f.Decls[0].Base().Pos
			}
			c.note("no-package", p, "the file declares no package: its proto package is %s (aidl2proto -package sets another)", c.pkg[f])
		}
	}
	// Work in the order of the proto paths, so that the order the files were given in
	// changes nothing.
	files = append([]*aidl.File(nil), files...)
	sort.SliceStable(files, func(i, j int) bool {
		a, b := c.protoPath(files[i]), c.protoPath(files[j])
		if a != b {
			return a < b
		}
		return files[i].Path < files[j].Path
	})
	c.order = files
	// First every element, so that types can refer to each other; then their contents.
	for _, f := range files {
		fb := builder.NewFile(c.protoPath(f)).SetPackageName(c.pkg[f]).SetProto3(true)
		if opts.GoPackagePrefix != "" {
			fb.SetOptions(&descriptorpb.FileOptions{GoPackage: proto.String(goPackage(opts.GoPackagePrefix, c.goPackageOf(c.pkg[f])))})
		}
		c.files[f] = fb
		c.extra[fb] = map[string]*builder.MessageBuilder{}
		c.uses[fb] = map[*desc.FileDescriptor]bool{}
		if len(f.Decls) > 0 {
			c.prefix[fb] = c.topName(f.Decls[0])
		}
		for _, d := range f.Decls {
			c.declare(fb, nil, d, "")
		}
	}
	c.nameEnumValues(files)
	var err error
	for _, f := range files {
		for _, d := range f.Decls {
			c.fill(c.files[f], d)
		}
		c.reportAnnotations(f)
	}
	if err := c.errs.Err(); err != nil {
		return nil, nil, err
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
		return nil, nil, err
	}
	c.noteMerge(files)
	if m == nil {
		c.noteCycles(res.Files)
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
	return res, c, nil
}

// noteCycles reports packages that import each other, directly or through others, when no
// go_package is set: AIDL allows it, but Go packages cannot, so the Go generated from them
// builds only when they share one Go package (which a GoPackagePrefix arranges).
func (c *converter) noteCycles(fds []*desc.FileDescriptor) {
	for _, g := range cycles(packageGraph(fds)) {
		in := map[string]bool{}
		for _, p := range g {
			in[p] = true
		}
		for _, f := range c.order {
			if in[c.pkg[f]] && len(f.Decls) > 0 {
				delete(in, c.pkg[f])
				c.note("package-cycle", f.Decls[0].Base().Pos, "packages %s import each other, which Go packages cannot: the generated Go builds only when they share one Go package (aidl2proto -go_package_prefix does that, renaming what clashes there)", strings.Join(g, ", "))
			}
		}
	}
}

// protoPath is the .proto path of an AIDL file: its package as directories and its first
// declaration's name.
func (c *converter) protoPath(f *aidl.File) string {
	name := strings.TrimSuffix(filepath.Base(f.Path), ".aidl")
	if len(f.Decls) > 0 {
		name = c.topName(f.Decls[0])
	}
	if c.pkg[f] == "" {
		return name + ".proto"
	}
	return strings.ReplaceAll(c.pkg[f], ".", "/") + "/" + name + ".proto"
}

// defaultPackage is the proto package of a file that declares none: def, or else the name of
// the file's directory, or "aidl".
func defaultPackage(f *aidl.File, def string) string {
	if def != "" {
		return def
	}
	dir := filepath.Base(filepath.Dir(filepath.Clean(f.Path)))
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, dir)
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return "aidl"
	}
	return name
}

// fullName is the proto full name of a top-level element of f.
func (c *converter) fullName(f *aidl.File, name string) string {
	if c.pkg[f] == "" {
		return name
	}
	return c.pkg[f] + "." + name
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
	name := prefix + strings.ReplaceAll(b.Name, ".", "") // parcelable Outer.Inner cpp_header …: OuterInner
	if parent == nil && prefix == "" {
		name = c.topName(d)
	}
	switch d := d.(type) {
	case *aidl.Interface:
		name = c.flatName(d)
		sb := builder.NewService(name)
		c.try(b.Pos, fb.TryAddService(sb))
		c.services[d] = sb
		for _, n := range b.Nested {
			c.note("nested", n.Base().Pos, "%s is nested in interface %s; a service cannot hold types, so it became the top-level %s%s", n.Base().Name, b.Name, name, n.Base().Name)
			c.declare(fb, nil, n, name)
		}
		return
	case *aidl.Enum:
		if d.Backing == "long" && !fitsInt32(d) {
			// Not a proto enum: a message holding the values as constants.
			mb := builder.NewMessage(name)
			c.addMessage(b.Pos, fb, parent, mb)
			c.messages[d] = mb
			c.longEnum[d] = true
			return
		}
		eb := builder.NewEnum(name)
		c.enumPrefix[d] = upperSnake(d.Name)
		if parent != nil {
			c.try(b.Pos, parent.TryAddNestedEnum(eb))
		} else {
			c.try(b.Pos, fb.TryAddEnum(eb))
			c.topEnums = append(c.topEnums, topEnum{d, name})
		}
		c.enums[d] = eb
		return
	case *aidl.Parcelable:
		if len(d.TypeParams) > 0 {
			c.note("generic", b.Pos, "parcelable %s is generic: proto has no generics, so each use such as %s<String> becomes a message of its own (%sString)", b.Name, b.Name, b.Name)
			return
		}
	}
	mb := builder.NewMessage(name)
	c.addMessage(b.Pos, fb, parent, mb)
	c.messages[d] = mb
	for _, n := range b.Nested {
		c.declare(fb, mb, n, "")
	}
	if u, ok := d.(*aidl.Union); ok && u.Tag != nil {
		c.declare(fb, mb, u.Tag, "") // the implicit enum of the union's members, U.Tag
	}
}

// nameEnumValues settles the prefix of each top-level enum's value names. It is the enum's
// name in UPPER_SNAKE_CASE (proto enum values share their package's scope); but an enum nested
// in an interface whose value names would be another enum's of the package
// (IChip.FeatureSetMask and IStaIface.FeatureSetMask both giving FEATURE_SET_MASK_…) takes
// its whole proto name instead (I_CHIP_FEATURE_SET_MASK_…).
func (c *converter) nameEnumValues(files []*aidl.File) {
	valueNames := func(e *aidl.Enum) []string {
		p := c.enumPrefix[e]
		var out []string
		zero := false
		for _, en := range e.Enumerators {
			out = append(out, p+"_"+upperSnake(en.Name))
			zero = zero || en.Value == 0
		}
		if !zero {
			out = append(out, zeroName(p, e))
		}
		return out
	}
	// Who takes each value name, per package.
	owners := map[string]map[*aidl.Enum]bool{}
	for _, te := range c.topEnums {
		for _, n := range valueNames(te.e) {
			k := c.pkg[te.e.File] + "." + n
			if owners[k] == nil {
				owners[k] = map[*aidl.Enum]bool{}
			}
			owners[k][te.e] = true
		}
	}
	for _, te := range c.topEnums {
		if te.e.Parent == nil {
			continue
		}
		for _, n := range valueNames(te.e) {
			if len(owners[c.pkg[te.e.File]+"."+n]) > 1 {
				c.enumPrefix[te.e] = upperSnake(te.name)
				c.note("enum-prefix", te.e.Pos, "another enum of package %s gives the value name %s: the values of %s take the prefix %s_", c.pkg[te.e.File], n, te.name, c.enumPrefix[te.e])
				break
			}
		}
	}
}

func (c *converter) addMessage(p aidl.Pos, fb *builder.FileBuilder, parent, mb *builder.MessageBuilder) {
	if parent != nil {
		c.try(p, parent.TryAddNestedMessage(mb))
	} else {
		c.try(p, fb.TryAddMessage(mb))
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
			c.note("forward", b.Pos, "parcelable %s is defined in another language (%s): it became a message with one bytes field, data, that carries its own encoding", b.Name, forwardWhere(d))
			c.try(b.Pos, mb.TryAddField(builder.NewField("data", builder.FieldTypeBytes()).SetNumber(1)))
			break
		}
		c.fields(fb, mb, d, d.Fields, nil, false)
		c.messageConsts(mb, d)
	case *aidl.Union:
		mb := c.messages[d]
		mb.SetComments(comments(b.Doc, ""))
		if len(d.TypeParams) > 0 {
			c.note("generic", b.Pos, "union %s is generic: proto has no generics; its type parameters became bytes", b.Name)
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

// withTrailing adds a comment at the end of an element's line to its comments.
func withTrailing(cm builder.Comments, trailing string) builder.Comments {
	if trailing != "" {
		cm.TrailingComment = " " + strings.ReplaceAll(trailing, "\n", "\n ") + "\n"
	}
	return cm
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
