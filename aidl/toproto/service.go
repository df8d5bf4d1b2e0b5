package toproto

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jhump/protoreflect/desc/builder"
	"github.com/kdbus-go/kdbus/aidl"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// service converts an interface: each method an rpc with a request of its in and inout
// arguments and a response of its return value and out and inout arguments.
func (c *converter) service(fb *builder.FileBuilder, d *aidl.Interface) {
	sb := c.services[d]
	note := ""
	if d.Oneway {
		note = "Converted from a oneway interface: every method is no-reply."
	}
	sb.SetComments(comments(d.Doc, note))
	so := &kdbusv1.ServiceOptions{}
	if a := aidl.FindAnnotation(d.Annotations, "Descriptor"); a != nil {
		if v := stringParam(a, "value"); v != "" {
			if err := wire.ValidateInterfaceName(v); err != nil {
				c.note("descriptor", a.Pos, "@Descriptor %q is not a D-Bus interface name (%v): the interface is named after the proto service", v, err)
			} else {
				so.Interface = v
			}
		}
	}
	if so.Interface == "" && c.flatName(d) != flatName(d) {
		// Renamed to keep apart from a same-named interface sharing its Go package: the bus
		// still sees the AIDL name.
		so.Interface = c.pkg[d.File] + "." + flatName(d)
	}
	so.Constants = c.constants(d.Consts)
	opts := &descriptorpb.ServiceOptions{}
	if d.Doc != nil && d.Doc.Deprecated {
		opts.Deprecated = proto.Bool(true)
	}
	if so.Interface != "" || len(so.Constants) > 0 {
		proto.SetExtension(opts, kdbusv1.E_Service, so)
		c.uses[fb][optionsFile] = true
	}
	if opts.Deprecated != nil || proto.HasExtension(opts, kdbusv1.E_Service) {
		sb.SetOptions(opts)
	}
	base := c.flatName(d)
	for _, m := range d.Methods {
		c.method(fb, sb, base, m)
	}
}

func stringParam(a *aidl.Annotation, name string) string {
	p := a.Param(name)
	if p == nil {
		return ""
	}
	if lit, ok := p.Value.(*aidl.Literal); ok && lit.Kind == aidl.StringLit && len(lit.Text) >= 2 {
		return lit.Text[1 : len(lit.Text)-1]
	}
	return ""
}

// upperFirst capitalizes a method name: getCapabilities → GetCapabilities.
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (c *converter) method(fb *builder.FileBuilder, sb *builder.ServiceBuilder, base string, m *aidl.Method) {
	name := upperFirst(m.Name)
	var in, out []*aidl.Arg
	for _, a := range m.Args {
		if a.Direction != aidl.Out {
			in = append(in, a)
		}
		if a.Direction != aidl.In {
			out = append(out, a)
		}
	}
	req := c.argsMessage(fb, m.Pos, base+name+"Request", in, nil, "")
	resultName := "result"
	for _, a := range m.Args {
		if snake(a.Name) == "result" {
			resultName = "return_value"
		}
	}
	var ret *aidl.Type
	if m.Return.Name != "void" {
		ret = m.Return
	}
	resp := c.argsMessage(fb, m.Pos, base+name+"Response", out, ret, resultName)
	mtb := builder.NewMethod(name, req, resp)
	mtb.SetComments(withTrailing(comments(m.Doc), m.Trailing))
	mo := &kdbusv1.MethodOptions{NoReply: m.Oneway}
	if m.ID >= 0 {
		mo.TransactionId = uint32(m.ID)
	}
	opts := &descriptorpb.MethodOptions{}
	if m.Doc != nil && m.Doc.Deprecated {
		opts.Deprecated = proto.Bool(true)
	}
	if mo.NoReply || m.ID >= 0 {
		proto.SetExtension(opts, kdbusv1.E_Method, mo)
		c.uses[fb][optionsFile] = true
	}
	if opts.Deprecated != nil || proto.HasExtension(opts, kdbusv1.E_Method) {
		mtb.SetOptions(opts)
	}
	c.try(m.Pos, sb.TryAddMethod(mtb))
}

// argsMessage returns the request or response of a method: a message of the arguments (and
// the return value first, as result), or google.protobuf.Empty when there are none.
func (c *converter) argsMessage(fb *builder.FileBuilder, at aidl.Pos, name string, args []*aidl.Arg, ret *aidl.Type, resultName string) *builder.RpcType {
	if len(args) == 0 && ret == nil {
		c.uses[fb][emptyFile] = true
		return builder.RpcTypeImportedMessage(emptyMsg, false)
	}
	mb := builder.NewMessage(name)
	c.try(at, fb.TryAddMessage(mb))
	n := int32(1)
	add := func(fname string, t *aidl.Type, doc string) {
		s := c.typeOf(fb, t, nil)
		fl := c.newField(fname, s, n)
		n++
		lines := append([]string{doc}, s.comments...)
		fl.SetComments(comments(nil, lines...))
		if t.Nullable() && !(s.repeated || s.key != nil) && s.typ.GetType() == descriptorpb.FieldDescriptorProto_TYPE_STRING {
			fl.SetProto3Optional(true)
		}
		if t.Nullable() && (s.repeated || s.key != nil) {
			c.note("nullable-repeated", t.Pos, "@nullable %s: a repeated field has no presence, so null and empty become the same", t.Name)
		}
		if s.service != "" {
			c.fieldOptions(fb, fl, &kdbusv1.FieldOptions{Service: s.service}, nil)
		}
		c.try(t.Pos, mb.TryAddField(fl))
	}
	if ret != nil {
		add(resultName, ret, "The return value.")
	}
	for _, a := range args {
		doc := ""
		if a.Direction == aidl.InOut {
			doc = "inout: sent and returned."
		}
		add(snake(a.Name), a.Type, doc)
	}
	return builder.RpcTypeMessage(mb, false)
}

// enum converts an enum, keeping its numbers: a zero value comes first, added when AIDL has
// none.
func (c *converter) enum(d *aidl.Enum) {
	eb := c.enums[d]
	note := ""
	switch d.Backing {
	case "long":
		note = "AIDL long-backed enum; every value fits a proto enum's 32 bits."
	case "byte":
		note = "AIDL byte-backed enum."
	}
	eb.SetComments(comments(d.Doc, note))
	seen := map[int64]bool{}
	var zero *aidl.Enumerator
	for _, en := range d.Enumerators {
		if en.Value == 0 && zero == nil {
			zero = en
		}
	}
	var values []*builder.EnumValueBuilder
	if zero == nil {
		name := zeroName(c.enumPrefix[d], d)
		c.note("enum-zero", d.Pos, "enum %s has no value 0, which proto3 needs first: %s = 0 was added", d.Name, name)
		values = append(values, builder.NewEnumValue(name).SetNumber(0).
			SetComments(builder.Comments{LeadingComment: " Not an AIDL value: proto3 enums start at 0.\n"}))
		seen[0] = true
	} else {
		values = append(values, c.enumValue(d, zero))
		seen[0] = true
	}
	alias := false
	for _, en := range d.Enumerators {
		if en == zero {
			continue
		}
		if seen[en.Value] {
			alias = true
		}
		seen[en.Value] = true
		values = append(values, c.enumValue(d, en))
	}
	for _, v := range values {
		c.try(d.Pos, eb.TryAddValue(v))
	}
	if alias {
		eb.SetOptions(&descriptorpb.EnumOptions{AllowAlias: proto.Bool(true)})
	}
}

// zeroName names the value 0 added to an enum without one: <PREFIX>_UNSPECIFIED, or, when an
// enumerator takes that name, the first of <PREFIX>_UNSPECIFIED_ZERO, <PREFIX>_UNSPECIFIED_ZERO2,
// … that none takes.
func zeroName(prefix string, d *aidl.Enum) string {
	taken := map[string]bool{}
	for _, en := range d.Enumerators {
		taken[prefix+"_"+upperSnake(en.Name)] = true
	}
	name := prefix + "_UNSPECIFIED"
	for i := 1; taken[name]; i++ {
		name = prefix + "_UNSPECIFIED_ZERO"
		if i > 1 {
			name += strconv.Itoa(i)
		}
	}
	return name
}

func (c *converter) enumValue(d *aidl.Enum, en *aidl.Enumerator) *builder.EnumValueBuilder {
	v := builder.NewEnumValue(c.enumPrefix[d] + "_" + upperSnake(en.Name)).SetNumber(int32(en.Value)).SetComments(withTrailing(comments(en.Doc), en.Trailing))
	if en.Doc != nil && en.Doc.Deprecated {
		v.SetOptions(&descriptorpb.EnumValueOptions{Deprecated: proto.Bool(true)})
	}
	return v
}

// longEnumMessage converts a long-backed enum whose values do not fit 32 bits into a message
// that holds them as constants; fields of its type are int64.
func (c *converter) longEnumMessage(d *aidl.Enum) {
	mb := c.messages[d]
	c.note("long-enum", d.Pos, "enum %s is long-backed with values beyond 32 bits, which a proto enum cannot hold: its values became constants of message %s and its fields int64", d.Name, d.Name)
	mb.SetComments(comments(d.Doc, fmt.Sprintf("Converted from the long-backed AIDL enum %s: fields of this type are int64, and the values are the constants %s_<NAME>.", d.QualifiedName(), d.Name)))
	var cs []*kdbusv1.Constant
	for _, en := range d.Enumerators {
		cs = append(cs, &kdbusv1.Constant{Name: en.Name, Value: &kdbusv1.Constant_Int{Int: en.Value}, GoType: "int64"})
	}
	opts := &descriptorpb.MessageOptions{}
	proto.SetExtension(opts, kdbusv1.E_Message, &kdbusv1.MessageOptions{Constants: cs})
	c.uses[c.files[d.File]][optionsFile] = true
	mb.SetOptions(opts)
}

// messageConsts keeps a parcelable's or union's constants in (kdbus.v1.message).constants.
func (c *converter) messageConsts(mb *builder.MessageBuilder, d aidl.Decl) {
	cs := c.constants(d.Base().Consts)
	if len(cs) == 0 {
		return
	}
	opts := mb.Options
	if opts == nil {
		opts = &descriptorpb.MessageOptions{}
	}
	proto.SetExtension(opts, kdbusv1.E_Message, &kdbusv1.MessageOptions{Constants: cs})
	c.uses[c.files[d.Base().File]][optionsFile] = true
	mb.SetOptions(opts)
}

// goTypes are the Go types of AIDL constant types.
var goTypes = map[string]string{
	"byte": "int8", "int": "int32", "long": "int64", "char": "uint16", "float": "float32",
	"double": "float64", "String": "string", "boolean": "bool",
}

func (c *converter) constants(consts []*aidl.Const) []*kdbusv1.Constant {
	var out []*kdbusv1.Constant
	for _, k := range consts {
		v := k.Value
		if v == nil {
			continue
		}
		kc := &kdbusv1.Constant{Name: k.Name, GoType: goTypes[k.Type.Name]}
		switch v.Kind {
		case aidl.IntValue, aidl.CharValue:
			kc.Value = &kdbusv1.Constant_Int{Int: v.Int}
		case aidl.FloatValue:
			kc.Value = &kdbusv1.Constant_Float{Float: v.Float}
		case aidl.StringValue:
			kc.Value = &kdbusv1.Constant_String_{String_: v.Str}
		case aidl.BoolValue:
			kc.Value = &kdbusv1.Constant_Bool{Bool: v.Bool}
		default:
			c.note("constant", k.Pos, "constant %s is an array or null, which a Go constant cannot hold: left out", k.Name)
			continue
		}
		if kc.GoType == "" {
			c.note("constant", k.Pos, "constant %s has type %s, which has no Go constant type: left out", k.Name, k.Type.Name)
			continue
		}
		out = append(out, kc)
	}
	return out
}

// mapped are the annotations the conversion carries over (or that change nothing).
var mapped = map[string]bool{"nullable": true, "Backing": true, "Descriptor": true, "utf8InCpp": true}

// noteOnce reports a note once per file and key.
func (c *converter) noteOnce(kind string, p aidl.Pos, key, format string, args ...any) {
	k := p.File + "\x00" + key
	if c.reported[k] {
		return
	}
	c.reported[k] = true
	c.note(kind, p, format, args...)
}

// reportAnnotations reports, once per file and name, each annotation the conversion drops.
func (c *converter) reportAnnotations(f *aidl.File) {
	var walkType func(t *aidl.Type)
	check := func(as []*aidl.Annotation) {
		for _, a := range as {
			if !mapped[a.Name] {
				c.noteOnce("annotation", a.Pos, "@"+a.Name, "@%s has no counterpart on the bus and was dropped", a.Name)
			}
		}
	}
	walkType = func(t *aidl.Type) {
		if t == nil {
			return
		}
		check(t.Annotations)
		for _, a := range t.Args {
			walkType(a)
		}
	}
	var walk func(d aidl.Decl)
	walk = func(d aidl.Decl) {
		b := d.Base()
		check(b.Annotations)
		for _, k := range b.Consts {
			check(k.Annotations)
		}
		switch d := d.(type) {
		case *aidl.Interface:
			for _, m := range d.Methods {
				check(m.Annotations)
				walkType(m.Return)
				for _, a := range m.Args {
					check(a.Annotations)
					walkType(a.Type)
				}
			}
		case *aidl.Parcelable:
			for _, fl := range d.Fields {
				walkType(fl.Type)
			}
		case *aidl.Union:
			for _, fl := range d.Fields {
				walkType(fl.Type)
			}
		}
		for _, n := range b.Nested {
			walk(n)
		}
	}
	for _, d := range f.Decls {
		walk(d)
	}
}
