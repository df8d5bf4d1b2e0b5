package generator

// Constants and field defaults: what an AIDL interface or parcelable declares beyond its
// methods and fields, kept in our options (ServiceOptions.constants, MessageOptions.constants,
// FieldOptions.default) and generated as Go constants and New<Message> constructors.

import (
	"fmt"
	"math"
	"strconv"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var protoPkg = protogen.GoImportPath("google.golang.org/protobuf/proto")

func messageOptions(m *protogen.Message) *kdbusv1.MessageOptions {
	o, _ := extension(m.Desc.Options(), kdbusv1.E_Message).(*kdbusv1.MessageOptions)
	return o
}

// defaultFields returns the fields of m that declare a default, in declaration order.
func defaultFields(m *protogen.Message) []*protogen.Field {
	var fs []*protogen.Field
	for _, f := range m.Fields {
		if fieldOptions(f.Desc).GetDefault() != "" {
			fs = append(fs, f)
		}
	}
	return fs
}

// hasExtras reports whether m has constants or defaults to generate.
func hasExtras(m *protogen.Message) bool {
	return len(messageOptions(m).GetConstants()) > 0 || len(defaultFields(m)) > 0
}

// walkMessages calls fn for every message of ms and their nested messages, depth first in
// declaration order.
func walkMessages(ms []*protogen.Message, fn func(*protogen.Message)) {
	for _, m := range ms {
		fn(m)
		walkMessages(m.Messages, fn)
	}
}

// fileHasExtras reports whether a message of f has constants or defaults.
func fileHasExtras(f *protogen.File) bool {
	found := false
	walkMessages(f.Messages, func(m *protogen.Message) { found = found || hasExtras(m) })
	return found
}

// messageNames are the identifiers generated for a message's constants and constructor.
type messageNames struct {
	ctor   string            // New<Message>; "" when no field has a default
	consts map[string]string // constant name → identifier
}

// allocMessage takes the identifiers of m's constants and constructor.
func (n *namer) allocMessage(m *protogen.Message) *messageNames {
	mn := &messageNames{consts: map[string]string{}}
	for _, c := range messageOptions(m).GetConstants() {
		if isGoIdentPart(c.GetName()) && mn.consts[c.GetName()] == "" {
			mn.consts[c.GetName()] = n.alloc(m.GoIdent.GoName + "_" + c.GetName())
		}
	}
	if len(defaultFields(m)) > 0 {
		mn.ctor = n.alloc("New" + m.GoIdent.GoName)
	}
	return mn
}

// checkConstants reports constants that cannot become Go constants.
func checkConstants(ds *diagnostics, desc protoreflect.Descriptor, cs []*kdbusv1.Constant) {
	seen := map[string]bool{}
	for _, c := range cs {
		name := c.GetName()
		switch {
		case !isGoIdentPart(name):
			ds.add(desc, fmt.Sprintf("constant name %q is not an identifier", name), "use letters, digits and underscores, not starting with a digit")
			continue
		case seen[name]:
			ds.add(desc, fmt.Sprintf("constant %s is declared twice", name), "give each constant its own name")
			continue
		}
		seen[name] = true
		if _, err := constLiteral(c); err != nil {
			ds.add(desc, fmt.Sprintf("constant %s: %v", name, err), "set one of int, float, string or bool, and a go_type that holds it")
		}
	}
}

// constLiteral returns the Go type (possibly empty) and literal of c.
func constLiteral(c *kdbusv1.Constant) (string, error) {
	t := c.GetGoType()
	switch v := c.GetValue().(type) {
	case *kdbusv1.Constant_Int:
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		switch t {
		case "":
		case "int8":
			lo, hi = math.MinInt8, math.MaxInt8
		case "int16":
			lo, hi = math.MinInt16, math.MaxInt16
		case "int32":
			lo, hi = math.MinInt32, math.MaxInt32
		case "int64":
		case "uint16":
			lo, hi = 0, math.MaxUint16
		case "float32", "float64":
		default:
			return "", fmt.Errorf("go_type %q cannot hold an integer", t)
		}
		if v.Int < lo || v.Int > hi {
			return "", fmt.Errorf("%d does not fit go_type %s", v.Int, t)
		}
		return strconv.FormatInt(v.Int, 10), nil
	case *kdbusv1.Constant_Float:
		if t != "" && t != "float32" && t != "float64" {
			return "", fmt.Errorf("go_type %q cannot hold a float", t)
		}
		if math.IsNaN(v.Float) || math.IsInf(v.Float, 0) {
			return "", fmt.Errorf("%v cannot be a Go constant", v.Float)
		}
		s := strconv.FormatFloat(v.Float, 'g', -1, 64)
		if t == "float32" {
			s = strconv.FormatFloat(float64(float32(v.Float)), 'g', -1, 32)
		}
		return s, nil
	case *kdbusv1.Constant_String_:
		if t != "" && t != "string" {
			return "", fmt.Errorf("go_type %q cannot hold a string", t)
		}
		return strconv.Quote(v.String_), nil
	case *kdbusv1.Constant_Bool:
		if t != "" && t != "bool" {
			return "", fmt.Errorf("go_type %q cannot hold a bool", t)
		}
		return strconv.FormatBool(v.Bool), nil
	}
	return "", fmt.Errorf("no value is set")
}

// checkDefaults reports field defaults that cannot be honoured.
func checkDefaults(ds *diagnostics, m *protogen.Message) {
	for _, f := range defaultFields(m) {
		if _, err := defaultLiteral(f, func(id protogen.GoIdent) string { return id.GoName }); err != nil {
			ds.add(f.Desc, fmt.Sprintf("default %q: %v", fieldOptions(f.Desc).GetDefault(), err), "defaults are supported on singular scalar, string and enum fields outside oneofs")
		}
	}
}

// defaultLiteral returns the Go expression of f's default: a literal, an enum value, or a
// proto.String(…)-style pointer for a field with presence.
func defaultLiteral(f *protogen.Field, ident func(protogen.GoIdent) string) (string, error) {
	text := fieldOptions(f.Desc).GetDefault()
	fd := f.Desc
	if fd.IsList() || fd.IsMap() {
		return "", fmt.Errorf("field %s is repeated", fd.Name())
	}
	if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() {
		return "", fmt.Errorf("field %s is a oneof member", fd.Name())
	}
	var lit, ptr string
	switch fd.Kind() {
	case protoreflect.BoolKind:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return "", fmt.Errorf("not a bool")
		}
		lit, ptr = strconv.FormatBool(b), "Bool"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		v, err := strconv.ParseInt(text, 0, 32)
		if err != nil {
			return "", fmt.Errorf("not a 32-bit integer")
		}
		lit, ptr = strconv.FormatInt(v, 10), "Int32"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		v, err := strconv.ParseInt(text, 0, 64)
		if err != nil {
			return "", fmt.Errorf("not a 64-bit integer")
		}
		lit, ptr = strconv.FormatInt(v, 10), "Int64"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		v, err := strconv.ParseUint(text, 0, 32)
		if err != nil {
			return "", fmt.Errorf("not an unsigned 32-bit integer")
		}
		lit, ptr = strconv.FormatUint(v, 10), "Uint32"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		v, err := strconv.ParseUint(text, 0, 64)
		if err != nil {
			return "", fmt.Errorf("not an unsigned 64-bit integer")
		}
		lit, ptr = strconv.FormatUint(v, 10), "Uint64"
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		ptr = "Float64"
		if fd.Kind() == protoreflect.FloatKind {
			bits, ptr = 32, "Float32"
		}
		v, err := strconv.ParseFloat(text, bits)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return "", fmt.Errorf("not a finite number")
		}
		lit = strconv.FormatFloat(v, 'g', -1, bits)
	case protoreflect.StringKind:
		lit, ptr = strconv.Quote(text), "String"
	case protoreflect.EnumKind:
		for _, v := range f.Enum.Values {
			if string(v.Desc.Name()) == text {
				lit = ident(v.GoIdent)
			}
		}
		if lit == "" {
			return "", fmt.Errorf("enum %s has no value %s", f.Enum.Desc.FullName(), text)
		}
		if fd.HasPresence() {
			return lit + ".Enum()", nil
		}
		return lit, nil
	default:
		return "", fmt.Errorf("field %s is of kind %s", fd.Name(), fd.Kind())
	}
	if fd.HasPresence() {
		return ident(protoPkg.Ident(ptr)) + "(" + lit + ")", nil
	}
	return lit, nil
}

// constBlock writes a const block of cs named by names.
func (e *emitter) constBlock(doc string, cs []*kdbusv1.Constant, names map[string]string) {
	if len(cs) == 0 {
		return
	}
	e.P("// ", doc)
	e.P("const (")
	for _, c := range cs {
		lit, err := constLiteral(c)
		if err != nil || names[c.GetName()] == "" {
			continue // reported while planning
		}
		if t := c.GetGoType(); t != "" {
			e.P(names[c.GetName()], " ", t, " = ", lit)
		} else {
			e.P(names[c.GetName()], " = ", lit)
		}
	}
	e.P(")")
	e.P()
}

// messageExtras writes the constants and constructors of the file's messages.
func (e *emitter) messageExtras(names map[*protogen.Message]*messageNames) {
	walkMessages(e.p.file.Messages, func(m *protogen.Message) {
		mn := names[m]
		if mn == nil {
			return
		}
		e.constBlock("Constants of "+string(m.Desc.FullName())+".", messageOptions(m).GetConstants(), mn.consts)
		if mn.ctor == "" {
			return
		}
		t := e.ident(m.GoIdent)
		e.P("// ", mn.ctor, " returns a ", m.GoIdent.GoName, " holding the defaults its .proto declares")
		e.P("// (proto3 fields have none of their own).")
		e.P("func ", mn.ctor, "() *", t, " {")
		e.P("return &", t, "{")
		for _, f := range defaultFields(m) {
			lit, err := defaultLiteral(f, e.ident)
			if err != nil {
				continue // reported while planning
			}
			e.P(f.GoName, ": ", lit, ",")
		}
		e.P("}")
		e.P("}")
		e.P()
	})
}
