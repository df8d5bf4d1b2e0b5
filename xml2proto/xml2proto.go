// Package xml2proto converts D-Bus introspection XML into a .proto file with kdbus-go's
// options, from which protoc-gen-kdbus generates a typed client and a server skeleton that
// speak exactly the wire format of the original interfaces: the same interface, member,
// argument and property names, and the same signatures.
//
// Each interface becomes a service; each method a request message (its in-arguments, in
// order) and a response message (its out-arguments); each signal a message listed in the
// service's signals; the properties one message listed as its properties. D-Bus types that
// the default mapping gives otherwise are kept with the field option dbus_type, names that are
// not proto identifiers with interface, arg_name, signal_name and property_name, and the types
// proto cannot nest (aas, a{sa{sv}}) with one-field messages marked unwrap. docs/xml2proto.md
// describes the conversion.
package xml2proto

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/kdbus-go/kdbus/wire"
)

// Options shape the output.
type Options struct {
	// Package is the proto package. Empty: derived from the interface names (the longest
	// common prefix of their dot-separated elements, in lower case).
	Package string
	// GoPackage sets option go_package when not empty.
	GoPackage string
	// BusName and ObjectPath set the services' bus_name and object_path options when not
	// empty.
	BusName, ObjectPath string
	// Source names where the XML came from, for the header comment.
	Source string
	// KeepStandard keeps the standard interfaces (org.freedesktop.DBus.Peer, Introspectable
	// and Properties), which every object served by kdbus-go implements already, and which
	// are left out by default.
	KeepStandard bool
}

// MaxInput bounds the XML documents Convert reads.
const MaxInput = 16 << 20

// Standard annotations.
const (
	annDeprecated = "org.freedesktop.DBus.Deprecated"
	annNoReply    = "org.freedesktop.DBus.Method.NoReply"
	annEmits      = "org.freedesktop.DBus.Property.EmitsChangedSignal"
	annDocString  = "org.gtk.GDBus.DocString"
)

var standard = map[string]bool{
	"org.freedesktop.DBus.Peer":           true,
	"org.freedesktop.DBus.Introspectable": true,
	"org.freedesktop.DBus.Properties":     true,
}

type xNode struct {
	Interfaces []xIface `xml:"interface"`
	Children   []xNode  `xml:"node"`
}

type xIface struct {
	Name        string  `xml:"name,attr"`
	Methods     []xMemb `xml:"method"`
	Signals     []xMemb `xml:"signal"`
	Properties  []xProp `xml:"property"`
	Annotations []xAnn  `xml:"annotation"`
	Docs        []xDoc  `xml:"doc"`
}

type xMemb struct {
	Name        string `xml:"name,attr"`
	Args        []xArg `xml:"arg"`
	Annotations []xAnn `xml:"annotation"`
	Docs        []xDoc `xml:"doc"`
}

type xArg struct {
	Name        *string `xml:"name,attr"`
	Type        string  `xml:"type,attr"`
	Direction   string  `xml:"direction,attr"`
	Annotations []xAnn  `xml:"annotation"`
	Docs        []xDoc  `xml:"doc"`
}

type xProp struct {
	Name        string `xml:"name,attr"`
	Type        string `xml:"type,attr"`
	Access      string `xml:"access,attr"`
	Annotations []xAnn `xml:"annotation"`
	Docs        []xDoc `xml:"doc"`
}

type xAnn struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// xDoc is a <doc:doc> element: its text is kept, its markup dropped.
type xDoc struct {
	Inner string `xml:",innerxml"`
}

// Convert reads an introspection document and returns the .proto file of its interfaces (of
// the root node and, when the document describes children, theirs too, each interface once).
func Convert(r io.Reader, opts Options) (string, error) {
	doc, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return "", fmt.Errorf("reading D-Bus introspection XML: %w", err)
	}
	if len(doc) > MaxInput {
		return "", fmt.Errorf("the introspection XML is larger than %d bytes", MaxInput)
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	d.Entity = internalEntities(doc)
	var root xNode
	if err := d.Decode(&root); err != nil {
		return "", fmt.Errorf("parsing D-Bus introspection XML: %w", err)
	}
	var ifaces []xIface
	seen := map[string]bool{}
	var collect func(n *xNode, depth int)
	collect = func(n *xNode, depth int) {
		if depth > 64 {
			return
		}
		for _, i := range n.Interfaces {
			if seen[i.Name] || standard[i.Name] && !opts.KeepStandard {
				continue
			}
			seen[i.Name] = true
			ifaces = append(ifaces, i)
		}
		for i := range n.Children {
			collect(&n.Children[i], depth+1)
		}
	}
	collect(&root, 0)
	if len(ifaces) == 0 {
		return "", fmt.Errorf("the introspection XML declares no interface to convert (the standard ones are left out)")
	}
	c := &converter{opts: opts, used: map[string]bool{}, wrappers: map[string]string{}, structs: map[string]string{}}
	return c.file(ifaces)
}

var entityRE = regexp.MustCompile(`<!ENTITY\s+([A-Za-z_][A-Za-z0-9_.-]*)\s+"([^"<&]*)"\s*>`)

// internalEntities returns the general entities the document's internal DTD subset declares
// with literal values, as hand-written XML uses them for error names (&ERROR_GENERAL;).
func internalEntities(doc []byte) map[string]string {
	start := bytes.Index(doc, []byte("<!DOCTYPE"))
	if start < 0 {
		return nil
	}
	end := bytes.Index(doc[start:], []byte("]>"))
	if end < 0 {
		return nil
	}
	m := map[string]string{}
	for _, e := range entityRE.FindAllSubmatch(doc[start:start+end], -1) {
		m[string(e[1])] = string(e[2])
	}
	return m
}

// converter builds one .proto file.
type converter struct {
	opts     Options
	used     map[string]bool   // top-level names taken: services and messages
	wrappers map[string]string // signature → unwrap message name
	structs  map[string]string // signature → struct message name
	messages []string          // message declarations, in order
	imports  map[string]bool
}

func (c *converter) file(ifaces []xIface) (string, error) {
	c.imports = map[string]bool{"kdbus/v1/options.proto": true}
	pkg := c.opts.Package
	if pkg == "" {
		pkg = derivePackage(ifaces)
	}
	if !validPackage(pkg) {
		return "", fmt.Errorf("proto package %q: want dot-separated identifiers; choose one with Options.Package (-package)", pkg)
	}
	// Service names first, so that messages avoid them.
	names := make([]string, len(ifaces))
	for i, it := range ifaces {
		if err := wire.ValidateInterfaceName(it.Name); err != nil {
			return "", fmt.Errorf("interface %q: %w", it.Name, err)
		}
		elems := strings.Split(it.Name, ".")
		name := ident(upperFirst(elems[len(elems)-1]))
		for k := len(elems) - 2; c.used[name] && k >= 0; k-- {
			name = ident(upperFirst(elems[k])) + name
		}
		names[i] = c.unique(name)
	}
	var services []string
	for i, it := range ifaces {
		s, err := c.service(names[i], &it)
		if err != nil {
			return "", fmt.Errorf("interface %s: %w", it.Name, err)
		}
		services = append(services, s)
	}
	var b strings.Builder
	src := c.opts.Source
	if src == "" {
		src = "D-Bus introspection XML"
	}
	fmt.Fprintf(&b, "// Converted by xml2proto from %s.\n", oneLine(src))
	b.WriteString("// The D-Bus names and signatures of the original interfaces are kept in kdbus.v1 options.\n")
	b.WriteString("syntax = \"proto3\";\n\n")
	fmt.Fprintf(&b, "package %s;\n\n", pkg)
	imports := make([]string, 0, len(c.imports))
	for i := range c.imports {
		imports = append(imports, i)
	}
	slices.Sort(imports)
	for _, i := range imports {
		fmt.Fprintf(&b, "import %q;\n", i)
	}
	if c.opts.GoPackage != "" {
		fmt.Fprintf(&b, "\noption go_package = %s;\n", quote(c.opts.GoPackage))
	}
	for _, s := range services {
		b.WriteString("\n")
		b.WriteString(s)
	}
	for _, m := range c.messages {
		b.WriteString("\n")
		b.WriteString(m)
	}
	return b.String(), nil
}

// unique returns name, or name with a number appended, so that it is not used yet; it marks
// the result used.
func (c *converter) unique(name string) string {
	n := name
	for i := 2; c.used[n] || reserved[n]; i++ {
		n = name + strconv.Itoa(i)
	}
	c.used[n] = true
	return n
}

// reserved are names that would collide with what the generated Go or the proto scope holds.
var reserved = map[string]bool{"kdbus": true, "google": true}

func (c *converter) service(name string, it *xIface) (string, error) {
	var b strings.Builder
	writeDoc(&b, "", docOf(it.Annotations, it.Docs), otherAnnotations(it.Annotations))
	fmt.Fprintf(&b, "service %s {\n", name)
	var opt []string
	opt = append(opt, "interface: "+quote(it.Name))
	if c.opts.BusName != "" {
		opt = append(opt, "bus_name: "+quote(c.opts.BusName))
	}
	if c.opts.ObjectPath != "" {
		opt = append(opt, "object_path: "+quote(c.opts.ObjectPath))
	}
	var rpcs []string
	members := map[string]bool{}
	for _, m := range it.Methods {
		if err := wire.ValidateMemberName(m.Name); err != nil {
			return "", fmt.Errorf("method %q: %w", m.Name, err)
		}
		if members[m.Name] {
			return "", fmt.Errorf("method %s is declared twice", m.Name)
		}
		members[m.Name] = true
		r, err := c.method(name, &m)
		if err != nil {
			return "", fmt.Errorf("method %s: %w", m.Name, err)
		}
		rpcs = append(rpcs, r)
	}
	var signals []string
	for _, s := range it.Signals {
		if err := wire.ValidateMemberName(s.Name); err != nil {
			return "", fmt.Errorf("signal %q: %w", s.Name, err)
		}
		msg, err := c.signal(name, &s)
		if err != nil {
			return "", fmt.Errorf("signal %s: %w", s.Name, err)
		}
		signals = append(signals, quote(msg))
	}
	if len(signals) > 0 {
		opt = append(opt, "signals: ["+strings.Join(signals, ", ")+"]")
	}
	if len(it.Properties) > 0 {
		msg, err := c.properties(name, it)
		if err != nil {
			return "", err
		}
		opt = append(opt, "properties: "+quote(msg))
	}
	b.WriteString("  option (kdbus.v1.service) = {\n")
	for _, o := range opt {
		fmt.Fprintf(&b, "    %s\n", o)
	}
	b.WriteString("  };\n")
	if annotated(it.Annotations, annDeprecated) {
		b.WriteString("  option deprecated = true;\n")
	}
	for _, r := range rpcs {
		b.WriteString(r)
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func (c *converter) method(svc string, m *xMemb) (string, error) {
	var in, out []xArg
	for _, a := range m.Args {
		switch a.Direction {
		case "", "in":
			in = append(in, a)
		case "out":
			out = append(out, a)
		default:
			return "", fmt.Errorf("argument direction %q: want in or out", a.Direction)
		}
	}
	base := ident(upperFirst(m.Name))
	reqName := c.messageName(base+"Request", svc)
	req, err := c.argsMessage(reqName, base, in, "")
	if err != nil {
		return "", err
	}
	noReply := annotated(m.Annotations, annNoReply) && len(out) == 0
	var respName string
	if noReply {
		c.imports["google/protobuf/empty.proto"] = true
		respName = "google.protobuf.Empty"
	} else {
		respName = c.messageName(base+"Response", svc)
		resp, err := c.argsMessage(respName, base, out, "")
		if err != nil {
			return "", err
		}
		defer func() { c.messages = append(c.messages, resp) }()
	}
	c.messages = append(c.messages, req)
	var b strings.Builder
	writeDoc(&b, "  ", docOf(m.Annotations, m.Docs), otherAnnotations(m.Annotations))
	fmt.Fprintf(&b, "  rpc %s(%s) returns (%s)", m.Name, reqName, respName)
	var opts []string
	if noReply {
		opts = append(opts, "  option (kdbus.v1.method) = { no_reply: true };\n")
	}
	if annotated(m.Annotations, annDeprecated) {
		opts = append(opts, "  option deprecated = true;\n")
	}
	if len(opts) == 0 {
		b.WriteString(";\n")
	} else {
		b.WriteString(" {\n")
		for _, o := range opts {
			b.WriteString("  " + o)
		}
		b.WriteString("  }\n")
	}
	return b.String(), nil
}

// messageName returns a free top-level name: want, else prefixed with the service's name.
func (c *converter) messageName(want, svc string) string {
	if !c.used[want] && !reserved[want] {
		c.used[want] = true
		return want
	}
	return c.unique(svc + want)
}

func (c *converter) signal(svc string, s *xMemb) (string, error) {
	name := c.messageName(ident(upperFirst(s.Name)), svc)
	body, err := c.argsMessage(name, ident(upperFirst(s.Name)), s.Args, s.Name)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	writeDoc(&b, "", docOf(s.Annotations, s.Docs), otherAnnotations(s.Annotations))
	b.WriteString(body)
	doc := b.String()
	if annotated(s.Annotations, annDeprecated) {
		doc = strings.Replace(doc, " {\n", " {\n  option deprecated = true;\n", 1)
	}
	c.messages = append(c.messages, doc)
	return name, nil
}

// argsMessage declares a message whose fields are args in order. signal, when not empty, is
// the D-Bus name of the signal the message is, kept when it differs from the message's name.
func (c *converter) argsMessage(name, hint string, args []xArg, signal string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "message %s {\n", name)
	if signal != "" && signal != name {
		fmt.Fprintf(&b, "  option (kdbus.v1.message) = { signal_name: %s };\n", quote(signal))
	}
	fields := map[string]bool{}
	for i, a := range args {
		orig := ""
		named := a.Name != nil && *a.Name != ""
		if named {
			orig = *a.Name
		}
		fname := fieldName(orig, i, fields)
		var opts []string
		if !named || fname != orig {
			opts = append(opts, "arg_name: "+quote(orig))
		}
		decl, dbusType, err := c.field(a.Type, hint+ident(camel(fname)))
		if err != nil {
			return "", fmt.Errorf("argument %d (%s): %w", i, orig, err)
		}
		if dbusType != "" {
			opts = append(opts, "dbus_type: "+quote(dbusType))
		}
		writeDoc(&b, "  ", docOf(a.Annotations, a.Docs), otherAnnotations(a.Annotations))
		b.WriteString(fieldLine(decl, fname, i+1, opts, annotated(a.Annotations, annDeprecated)))
	}
	b.WriteString("}\n")
	return b.String(), nil
}

func (c *converter) properties(svc string, it *xIface) (string, error) {
	name := c.messageName(svc+"Properties", svc)
	var b strings.Builder
	fmt.Fprintf(&b, "// %s holds the properties of %s.\n", name, it.Name)
	fmt.Fprintf(&b, "message %s {\n", name)
	ifaceEmits := annotationValue(it.Annotations, annEmits)
	fields := map[string]bool{}
	// The generated client has Get<Field> and Set<Field> per property beside one method per
	// rpc and GetProperties and WatchProperties: a field whose accessors would clash is named
	// <name>_property instead.
	goNames := map[string]bool{"GetProperties": true, "WatchProperties": true}
	for _, m := range it.Methods {
		goNames[camel(m.Name)] = true
	}
	for i, p := range it.Properties {
		if err := wire.ValidateMemberName(p.Name); err != nil {
			return "", fmt.Errorf("property %q: %w", p.Name, err)
		}
		base := snake(p.Name)
		if goNames["Get"+camel(base)] || goNames["Set"+camel(base)] {
			base += "_property"
		}
		fname := fieldName(base, i, fields)
		decl, dbusType, err := c.field(p.Type, svc+ident(upperFirst(p.Name)))
		if err != nil {
			return "", fmt.Errorf("property %s: %w", p.Name, err)
		}
		opts := []string{"property_name: " + quote(p.Name)}
		switch p.Access {
		case "read":
		case "write":
			opts = append(opts, "access: PROPERTY_ACCESS_WRITE")
		case "readwrite":
			opts = append(opts, "access: PROPERTY_ACCESS_READWRITE")
		default:
			return "", fmt.Errorf("property %s: access %q: want read, write or readwrite", p.Name, p.Access)
		}
		emits := annotationValue(p.Annotations, annEmits)
		if emits == "" {
			emits = ifaceEmits
		}
		switch emits {
		case "", "true":
			if p.Access == "write" {
				opts = append(opts, "change: PROPERTY_CHANGE_EMITS_VALUE")
			}
		case "invalidates":
			opts = append(opts, "change: PROPERTY_CHANGE_INVALIDATES")
		case "const":
			opts = append(opts, "change: PROPERTY_CHANGE_CONST")
		case "false":
			opts = append(opts, "change: PROPERTY_CHANGE_NONE")
		default:
			return "", fmt.Errorf("property %s: %s %q: want true, invalidates, const or false", p.Name, annEmits, emits)
		}
		if dbusType != "" {
			opts = append(opts, "dbus_type: "+quote(dbusType))
		}
		writeDoc(&b, "  ", docOf(p.Annotations, p.Docs), otherAnnotations(p.Annotations))
		b.WriteString(fieldLine(decl, fname, i+1, opts, annotated(p.Annotations, annDeprecated)))
	}
	b.WriteString("}\n")
	c.messages = append(c.messages, b.String())
	return name, nil
}

func fieldLine(decl, name string, num int, opts []string, deprecated bool) string {
	var all []string
	if deprecated {
		all = append(all, "deprecated = true")
	}
	if len(opts) > 0 {
		all = append(all, "(kdbus.v1.field) = { "+strings.Join(opts, " ")+" }")
	}
	if len(all) == 0 {
		return fmt.Sprintf("  %s %s = %d;\n", decl, name, num)
	}
	return fmt.Sprintf("  %s %s = %d [%s];\n", decl, name, num, strings.Join(all, ", "))
}

// ptype is a proto type for one D-Bus value.
type ptype struct {
	name  string // the proto type
	isMsg bool   // a message type: singular fields of it have presence
	sig   string // the D-Bus type the generator gives a value of it (without presence)
	key   bool   // valid as a proto map key
}

// field returns the declaration of a field of D-Bus type sig (such as "repeated string" or
// "map<string, kdbus.v1.Variant>"), and the dbus_type option it needs ("" when the default
// mapping gives sig).
func (c *converter) field(sig, hint string) (decl, dbusType string, err error) {
	if err := wire.ValidateSingle(sig); err != nil {
		return "", "", fmt.Errorf("type %q: %w", sig, err)
	}
	t := wire.MustParseType(sig)
	var def string
	switch {
	case t.IsDict():
		k, err := c.elem(t.Elem.Fields[0], hint+"Key")
		if err != nil {
			return "", "", err
		}
		if !k.key {
			return "", "", fmt.Errorf("type %q: dict keys of type %q have no proto map key type", sig, t.Elem.Fields[0].Sig)
		}
		v, err := c.elem(t.Elem.Fields[1], hint+"Value")
		if err != nil {
			return "", "", err
		}
		decl, def = "map<"+k.name+", "+v.name+">", "a{"+k.sig+v.sig+"}"
	case t.Code == wire.TypeArray && t.Elem.Code != wire.TypeByte:
		e, err := c.elem(t.Elem, hint)
		if err != nil {
			return "", "", err
		}
		decl, def = "repeated "+e.name, "a"+e.sig
	default:
		e, err := c.elem(t, hint)
		if err != nil {
			return "", "", err
		}
		decl, def = e.name, e.sig
		if e.isMsg {
			def = "a" + def
		}
	}
	if def != sig {
		dbusType = sig
	}
	return decl, dbusType, nil
}

// elem returns the proto type of one value of D-Bus type t.
func (c *converter) elem(t *wire.Type, hint string) (ptype, error) {
	switch t.Code {
	case wire.TypeBoolean:
		return ptype{name: "bool", sig: "b", key: true}, nil
	case wire.TypeByte, wire.TypeUint16, wire.TypeUint32:
		return ptype{name: "uint32", sig: "u", key: true}, nil
	case wire.TypeInt16, wire.TypeInt32:
		return ptype{name: "int32", sig: "i", key: true}, nil
	case wire.TypeInt64:
		return ptype{name: "int64", sig: "x", key: true}, nil
	case wire.TypeUint64:
		return ptype{name: "uint64", sig: "t", key: true}, nil
	case wire.TypeDouble:
		return ptype{name: "double", sig: "d"}, nil
	case wire.TypeString, wire.TypeObjectPath, wire.TypeSignature:
		return ptype{name: "string", sig: "s", key: true}, nil
	case wire.TypeUnixFD:
		c.imports["kdbus/v1/types.proto"] = true
		return ptype{name: "kdbus.v1.UnixFD", isMsg: true, sig: "h"}, nil
	case wire.TypeVariant:
		c.imports["kdbus/v1/types.proto"] = true
		return ptype{name: "kdbus.v1.Variant", isMsg: true, sig: "v"}, nil
	case wire.TypeStruct:
		name, err := c.structMessage(t, hint)
		if err != nil {
			return ptype{}, err
		}
		return ptype{name: name, isMsg: true, sig: string(t.Sig)}, nil
	case wire.TypeArray:
		if t.Elem.Code == wire.TypeByte {
			return ptype{name: "bytes", sig: "ay"}, nil
		}
		name, err := c.wrapper(t, hint)
		if err != nil {
			return ptype{}, err
		}
		return ptype{name: name, isMsg: true, sig: string(t.Sig)}, nil
	}
	return ptype{}, fmt.Errorf("D-Bus type %q has no proto form", t.Sig)
}

// structMessage declares (once per signature) the message of a struct type: fields field_0,
// field_1, ... of its members.
func (c *converter) structMessage(t *wire.Type, hint string) (string, error) {
	if name, ok := c.structs[string(t.Sig)]; ok {
		return name, nil
	}
	name := c.unique(hint)
	c.structs[string(t.Sig)] = name
	var b strings.Builder
	fmt.Fprintf(&b, "// %s is the D-Bus struct %s.\n", name, t.Sig)
	fmt.Fprintf(&b, "message %s {\n", name)
	for i, f := range t.Fields {
		decl, dbusType, err := c.field(string(f.Sig), name+"Field"+strconv.Itoa(i))
		if err != nil {
			return "", err
		}
		var opts []string
		if dbusType != "" {
			opts = append(opts, "dbus_type: "+quote(dbusType))
		}
		b.WriteString(fieldLine(decl, "field_"+strconv.Itoa(i), i+1, opts, false))
	}
	b.WriteString("}\n")
	c.messages = append(c.messages, b.String())
	return name, nil
}

// wrapper declares (once per signature) a message marked unwrap whose one field has the
// array or dict type t, for the places proto cannot nest it directly.
func (c *converter) wrapper(t *wire.Type, hint string) (string, error) {
	if name, ok := c.wrappers[string(t.Sig)]; ok {
		return name, nil
	}
	decl, dbusType, err := c.field(string(t.Sig), hint)
	if err != nil {
		return "", err
	}
	name := c.unique(c.typeName(t))
	c.wrappers[string(t.Sig)] = name
	var b strings.Builder
	fmt.Fprintf(&b, "// %s travels as %s.\n", name, t.Sig)
	fmt.Fprintf(&b, "message %s {\n", name)
	b.WriteString("  option (kdbus.v1.message) = { unwrap: true };\n")
	var opts []string
	if dbusType != "" {
		opts = append(opts, "dbus_type: "+quote(dbusType))
	}
	b.WriteString(fieldLine(decl, "values", 1, opts, false))
	b.WriteString("}\n")
	c.messages = append(c.messages, b.String())
	return name, nil
}

// typeName names a D-Bus type for a wrapper message: as is StringList, a{sv} StringVariantDict.
func (c *converter) typeName(t *wire.Type) string {
	switch t.Code {
	case wire.TypeArray:
		if t.Elem.Code == wire.TypeByte {
			return "Bytes"
		}
		if t.IsDict() {
			return c.typeName(t.Elem.Fields[0]) + c.typeName(t.Elem.Fields[1]) + "Dict"
		}
		return c.typeName(t.Elem) + "List"
	case wire.TypeStruct:
		if name, ok := c.structs[string(t.Sig)]; ok {
			return name
		}
		return "Struct"
	}
	return map[byte]string{
		'b': "Bool", 'y': "Byte", 'n': "Int16", 'q': "Uint16", 'i': "Int32", 'u': "Uint32", 'x': "Int64",
		't': "Uint64", 'd': "Double", 's': "String", 'o': "ObjectPath", 'g': "Signature", 'h': "UnixFd", 'v': "Variant",
	}[t.Code]
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ident turns s into a proto identifier: other characters become underscores, and a leading
// digit gets one before it.
func ident(s string) string {
	if identRE.MatchString(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_'):
			if i == 0 && unicode.IsDigit(r) {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// protoKeywords are words a proto field may not be named after without confusing readers or
// protoc-gen-go's Go names.
var protoKeywords = map[string]bool{
	"syntax": true, "import": true, "package": true, "option": true, "message": true, "enum": true,
	"service": true, "rpc": true, "returns": true, "stream": true, "repeated": true, "optional": true,
	"required": true, "map": true, "oneof": true, "reserved": true, "extend": true, "extensions": true,
	"to": true, "max": true, "group": true, "true": true, "false": true, "inf": true, "nan": true,
}

// fieldName returns the field name of an argument or property: the name itself when it is a
// proto identifier, else a converted one (arg_<index> for no name), unique within taken.
func fieldName(orig string, index int, taken map[string]bool) string {
	name := orig
	if name == "" {
		name = "arg" + strconv.Itoa(index)
	}
	name = ident(name)
	if protoKeywords[name] {
		name += "_"
	}
	base := name
	for i := 2; taken[strings.ToLower(name)]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	taken[strings.ToLower(name)] = true
	return name
}

// snake turns a CamelCase property name into snake_case: UnixUserID is unix_user_id.
func snake(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || unicode.IsDigit(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// camel turns a snake_case name into CamelCase.
func camel(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		if r == '_' {
			up = true
			continue
		}
		if up {
			r = unicode.ToUpper(r)
			up = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// derivePackage returns the lower-cased longest common prefix of the interfaces' names, in
// whole elements; a single interface gives its whole name.
func derivePackage(ifaces []xIface) string {
	prefix := strings.Split(ifaces[0].Name, ".")
	for _, it := range ifaces[1:] {
		elems := strings.Split(it.Name, ".")
		n := 0
		for n < len(prefix) && n < len(elems) && prefix[n] == elems[n] {
			n++
		}
		prefix = prefix[:n]
	}
	if len(prefix) == 0 {
		return "dbus"
	}
	for i, p := range prefix {
		prefix[i] = ident(strings.ToLower(p))
	}
	return strings.Join(prefix, ".")
}

func validPackage(p string) bool {
	for _, e := range strings.Split(p, ".") {
		if !identRE.MatchString(e) {
			return false
		}
	}
	return true
}

func annotated(as []xAnn, name string) bool { return annotationValue(as, name) == "true" }

func annotationValue(as []xAnn, name string) string {
	for _, a := range as {
		if a.Name == name {
			return a.Value
		}
	}
	return ""
}

// docOf returns an element's documentation: its DocString annotation, else the text of its
// <doc:doc> elements.
func docOf(as []xAnn, docs []xDoc) string {
	if d := annotationValue(as, annDocString); d != "" {
		return d
	}
	var parts []string
	for _, d := range docs {
		if t := docText(d.Inner); t != "" {
			parts = append(parts, t)
		}
	}
	return strings.Join(parts, "\n\n")
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// docText strips the markup of a <doc:doc> element's contents and tidies the white space.
func docText(inner string) string {
	text := tagRE.ReplaceAllString(inner, " ")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.Join(strings.Fields(l), " ")
		lines = append(lines, l)
	}
	text = strings.Join(lines, "\n")
	for strings.Contains(text, "\n\n\n") {
		text = strings.ReplaceAll(text, "\n\n\n", "\n\n")
	}
	return strings.TrimSpace(unescape(text))
}

func unescape(s string) string {
	r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&amp;", "&")
	return r.Replace(s)
}

// otherAnnotations lists the annotations the conversion has no option for, to keep them as
// comments.
func otherAnnotations(as []xAnn) []string {
	var out []string
	for _, a := range as {
		switch a.Name {
		case annDeprecated, annNoReply, annEmits, annDocString:
			continue
		}
		out = append(out, fmt.Sprintf("D-Bus annotation %s = %s", a.Name, strconv.Quote(a.Value)))
	}
	return out
}

// writeDoc writes an element's documentation as its leading comment, after the notes of the
// annotations the conversion keeps as comments only, which a blank line detaches from it so
// that they do not become part of the element's documentation.
func writeDoc(b *strings.Builder, indent, doc string, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(b, "%s// %s\n", indent, oneLine(n))
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
	if doc != "" {
		for _, l := range strings.Split(doc, "\n") {
			l = strings.TrimRight(l, " \t\r")
			if l == "" {
				fmt.Fprintf(b, "%s//\n", indent)
				continue
			}
			fmt.Fprintf(b, "%s// %s\n", indent, l)
		}
	}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// quote writes s as a proto string literal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '"' || ch == '\\':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch < 0x20 || ch == 0x7f:
			fmt.Fprintf(&b, "\\%03o", ch)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}
