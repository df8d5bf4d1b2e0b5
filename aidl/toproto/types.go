package toproto

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jhump/protoreflect/desc/builder"
	"github.com/kdbus-go/kdbus/aidl"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// spec is how one AIDL type is carried in a proto field.
type spec struct {
	typ      *builder.FieldType
	label    string // a name for wrapper and instantiation messages: "Int32", "Range"
	repeated bool
	key      *builder.FieldType // set for a map field
	service  string             // for an interface reference: the service's full name
	comments []string           // what the field's comment should say about the conversion
	enum     *aidl.Enum         // for an enum-typed value, to name defaults
	prefix   string             // the prefix of the enum's value names
	longEnum bool
}

// id says what s stands for, to tell apart types with the same label.
func (s spec) id() string {
	id := s.label
	if s.typ != nil {
		id = s.typ.GetTypeName()
		if m := s.typ.GetType(); id == "" {
			id = m.String()
		}
	}
	if s.repeated {
		id = "repeated " + id
	}
	return id
}

func scalar(t descriptorpb.FieldDescriptorProto_Type, label string) spec {
	return spec{typ: builder.FieldTypeScalar(t), label: label}
}

// typeOf maps an AIDL type onto a proto field type. subst gives the arguments of a generic
// parcelable being instantiated.
func (c *converter) typeOf(fb *builder.FileBuilder, t *aidl.Type, subst map[string]*aidl.Type) spec {
	if len(t.Dims) > 0 {
		elem := *t
		elem.Dims = t.Dims[1:]
		if len(elem.Dims) == 0 && elem.Kind == aidl.Builtin && elem.Name == "byte" {
			s := scalar(descriptorpb.FieldDescriptorProto_TYPE_BYTES, "Bytes")
			if d := t.Dims[0]; d.Size >= 0 {
				s.comments = append(s.comments, fmt.Sprintf("AIDL fixed-size array: byte[%d].", d.Size))
			}
			return s
		}
		s := c.repeatedOf(fb, &elem, subst, t.Pos)
		if d := t.Dims[0]; d.Size >= 0 {
			s.comments = append(s.comments, fmt.Sprintf("AIDL fixed-size array of %d elements.", d.Size))
			c.noteOnce("fixed-array", t.Pos, "fixed", "fixed-size arrays became repeated fields: proto cannot hold a length; the sizes are in the fields' comments")
		}
		return s
	}
	switch t.Kind {
	case aidl.TypeParam:
		if a := subst[t.Name]; a != nil {
			return c.typeOf(fb, a, nil)
		}
		c.note("generic", t.Pos, "type parameter %s has no argument here: it became bytes", t.Name)
		return scalar(descriptorpb.FieldDescriptorProto_TYPE_BYTES, "Bytes")
	case aidl.Builtin:
		return c.builtin(fb, t, subst)
	}
	switch d := t.Decl.(type) {
	case *aidl.Interface:
		c.uses[fb][typesFile] = true
		return spec{typ: builder.FieldTypeImportedMessage(objectRefMsg), label: "ObjectRef", service: c.serviceName(d),
			comments: []string{"A reference to an object serving " + c.serviceName(d) + "."}}
	case *aidl.Enum:
		if c.longEnum[d] {
			return spec{typ: builder.FieldTypeInt64(), label: "Int64", enum: d, longEnum: true,
				comments: []string{"Values of " + d.QualifiedName() + ", a long-backed enum kept as the constants of message " + d.Name + "."}}
		}
		if c.enums[d] == nil {
			break
		}
		return spec{typ: builder.FieldTypeEnum(c.enums[d]), label: d.Name, enum: d, prefix: c.enumPrefix[d]}
	case *aidl.Parcelable:
		if len(d.TypeParams) > 0 {
			return c.instance(d, t, subst)
		}
		if c.messages[d] == nil {
			break
		}
		return spec{typ: builder.FieldTypeMessage(c.messages[d]), label: strings.ReplaceAll(d.Name, ".", "")}
	case *aidl.Union:
		if c.messages[d] == nil {
			break
		}
		return spec{typ: builder.FieldTypeMessage(c.messages[d]), label: d.Name}
	}
	c.note("bytes", t.Pos, "type %s is not resolved: it became bytes", t.Name)
	return scalar(descriptorpb.FieldDescriptorProto_TYPE_BYTES, "Bytes")
}

func (c *converter) builtin(fb *builder.FileBuilder, t *aidl.Type, subst map[string]*aidl.Type) spec {
	T := descriptorpb.FieldDescriptorProto_TYPE_BOOL
	switch t.Name {
	case "boolean":
	case "byte":
		s := scalar(descriptorpb.FieldDescriptorProto_TYPE_INT32, "Int32")
		s.comments = []string{"AIDL byte: -128..127."}
		return s
	case "char":
		s := scalar(descriptorpb.FieldDescriptorProto_TYPE_UINT32, "Uint32")
		s.comments = []string{"AIDL char: one UTF-16 code unit."}
		return s
	case "int":
		T = descriptorpb.FieldDescriptorProto_TYPE_INT32
	case "long":
		T = descriptorpb.FieldDescriptorProto_TYPE_INT64
	case "float":
		T = descriptorpb.FieldDescriptorProto_TYPE_FLOAT
	case "double":
		T = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
	case "String", "CharSequence":
		T = descriptorpb.FieldDescriptorProto_TYPE_STRING
	case "IBinder":
		c.uses[fb][typesFile] = true
		return spec{typ: builder.FieldTypeImportedMessage(objectRefMsg), label: "ObjectRef", comments: []string{"A binder object: a reference to an object on the bus."}}
	case "FileDescriptor", "ParcelFileDescriptor":
		c.uses[fb][typesFile] = true
		return spec{typ: builder.FieldTypeImportedMessage(unixFDMsg), label: "UnixFD"}
	case "ParcelableHolder":
		c.noteOnce("bytes", t.Pos, "holder", "ParcelableHolder became bytes: an extension point proto expresses with its own extensions or Any")
		return scalar(descriptorpb.FieldDescriptorProto_TYPE_BYTES, "Bytes")
	case "List":
		if len(t.Args) == 1 {
			return c.repeatedOf(fb, t.Args[0], subst, t.Pos)
		}
		c.note("bytes", t.Pos, "a List without an element type became bytes: give it one (List<T>)")
		return scalar(descriptorpb.FieldDescriptorProto_TYPE_BYTES, "Bytes")
	case "Map":
		if len(t.Args) == 2 {
			return c.mapOf(fb, t, subst)
		}
		c.note("bytes", t.Pos, "a Map without key and value types became bytes: give them (Map<K, V>)")
		return scalar(descriptorpb.FieldDescriptorProto_TYPE_BYTES, "Bytes")
	default:
		c.note("bytes", t.Pos, "type %s has no proto counterpart: it became bytes", t.Name)
		return scalar(descriptorpb.FieldDescriptorProto_TYPE_BYTES, "Bytes")
	}
	return scalar(T, labelOf(T))
}

func labelOf(t descriptorpb.FieldDescriptorProto_Type) string {
	s := strings.ToLower(strings.TrimPrefix(t.String(), "TYPE_"))
	return strings.ToUpper(s[:1]) + s[1:]
}

// repeatedOf is a repeated field of elem; an element that is itself repeated travels in a
// wrapper message.
func (c *converter) repeatedOf(fb *builder.FileBuilder, elem *aidl.Type, subst map[string]*aidl.Type, at aidl.Pos) spec {
	s := c.typeOf(fb, elem, subst)
	if s.repeated || s.key != nil {
		s = c.wrapper(fb, s, at)
	}
	s.repeated = true
	return s
}

// wrapper returns a message <File><Label>List { repeated <elem> values = 1; } in fb. The
// name starts with the file's declaration, since every file of a package shares one scope.
func (c *converter) wrapper(fb *builder.FileBuilder, elem spec, at aidl.Pos) spec {
	name := c.prefix[fb] + elem.label + "List"
	if elem.key != nil {
		name = c.prefix[fb] + elem.label + "Map"
	}
	mb := c.extra[fb][name]
	if mb == nil {
		mb = builder.NewMessage(name)
		mb.SetComments(builder.Comments{LeadingComment: " " + name + " carries a list inside a list or a map: proto cannot nest repeated fields directly.\n"})
		c.try(at, mb.TryAddField(c.newField("values", elem, 1)))
		c.try(at, fb.TryAddMessage(mb))
		c.extra[fb][name] = mb
		c.noteOnce("wrapper", at, "wrapper "+name, "a list or map where proto allows only one value travels in the wrapper message %s", name)
	}
	return spec{typ: builder.FieldTypeMessage(mb), label: name}
}

// mapOf is a map field, or a repeated entry message where proto maps cannot hold the types.
func (c *converter) mapOf(fb *builder.FileBuilder, t *aidl.Type, subst map[string]*aidl.Type) spec {
	k, v := t.Args[0], t.Args[1]
	ks := c.typeOf(fb, k, subst)
	vs := c.typeOf(fb, v, subst)
	if vs.repeated || vs.key != nil {
		vs = c.wrapper(fb, vs, t.Pos)
	}
	switch ks.label {
	case "String", "Int32", "Int64", "Uint32", "Bool":
	default:
		c.note("map-entries", t.Pos, "map keys of type %s are not allowed in proto: the map became a list of entries", k.Name)
		name := c.prefix[fb] + ks.label + "To" + vs.label + "Entry"
		mb := c.extra[fb][name]
		if mb == nil {
			mb = builder.NewMessage(name)
			c.try(t.Pos, mb.TryAddField(c.newField("key", ks, 1)))
			c.try(t.Pos, mb.TryAddField(c.newField("value", vs, 2)))
			c.try(t.Pos, fb.TryAddMessage(mb))
			c.extra[fb][name] = mb
		}
		return spec{typ: builder.FieldTypeMessage(mb), label: name, repeated: true}
	}
	vs.key = ks.typ
	vs.label = ks.label + "To" + vs.label
	return vs
}

// instance returns the message that stands for a use of a generic parcelable.
func (c *converter) instance(d *aidl.Parcelable, t *aidl.Type, outer map[string]*aidl.Type) spec {
	if len(t.Args) != len(d.TypeParams) || c.files[d.File] == nil {
		c.note("generic", t.Pos, "%s is used without its type arguments: it became bytes", d.Name)
		return scalar(descriptorpb.FieldDescriptorProto_TYPE_BYTES, "Bytes")
	}
	fb := c.files[d.File]
	subst := map[string]*aidl.Type{}
	name, id := d.Name, ""
	if d.Parent == nil {
		name = c.topName(d)
	}
	for i, p := range d.TypeParams {
		a := t.Args[i]
		if a.Kind == aidl.TypeParam && outer[a.Name] != nil {
			a = outer[a.Name]
		}
		subst[p] = a
		as := c.typeOf(fb, a, nil)
		name += as.label
		id += "," + as.id()
	}
	// Two uses whose arguments have the same labels (Pair<a.Inner> and Pair<b.Inner>) take
	// the first free name of Name, Name_2, …
	base := name
	for n := 2; c.extra[fb][name] != nil && c.extraID[c.extra[fb][name]] != id; n++ {
		name = fmt.Sprintf("%s_%d", base, n)
	}
	mb := c.extra[fb][name]
	if mb == nil {
		mb = builder.NewMessage(name)
		mb.SetComments(comments(d.Doc, fmt.Sprintf("An instance of the generic parcelable %s.", d.QualifiedName())))
		c.try(t.Pos, fb.TryAddMessage(mb))
		c.extra[fb][name] = mb
		c.extraID[mb] = id
		c.fields(fb, mb, d, d.Fields, subst, false)
	}
	return spec{typ: builder.FieldTypeMessage(mb), label: name}
}

// newField builds a field of s.
func (c *converter) newField(name string, s spec, number int32) *builder.FieldBuilder {
	var f *builder.FieldBuilder
	if s.key != nil {
		f = builder.NewMapField(name, s.key, s.typ)
	} else {
		f = builder.NewField(name, s.typ)
		if s.repeated {
			f.SetRepeated()
		}
	}
	return f.SetNumber(number)
}

// oneofName names a union's oneof: value, unless a member takes that name (a oneof shares its
// message's scope with the fields); then the first of member, choice, value_oneof, value_oneof2,
// … that none takes.
func oneofName(fields []*aidl.Field) string {
	taken := map[string]bool{}
	for _, f := range fields {
		taken[snake(f.Name)] = true
	}
	for _, n := range []string{"value", "member", "choice", "value_oneof"} {
		if !taken[n] {
			return n
		}
	}
	for i := 2; ; i++ {
		if n := fmt.Sprintf("value_oneof%d", i); !taken[n] {
			return n
		}
	}
}

// fields converts parcelable fields or union members into mb.
func (c *converter) fields(fb *builder.FileBuilder, mb *builder.MessageBuilder, owner aidl.Decl, fields []*aidl.Field, subst map[string]*aidl.Type, union bool) {
	var oneof *builder.OneOfBuilder
	if union {
		oneof = builder.NewOneOf(oneofName(fields))
		c.try(owner.Base().Pos, mb.TryAddOneOf(oneof))
	}
	for i, f := range fields {
		s := c.typeOf(fb, f.Type, subst)
		if union && (s.repeated || s.key != nil) {
			c.note("wrapper", f.Pos, "union member %s is a list or map, which a oneof cannot hold: it travels in a wrapper message", f.Name)
			s = c.wrapper(fb, s, f.Pos)
		}
		fl := c.newField(snake(f.Name), s, int32(i+1))
		extra := append([]string(nil), s.comments...)
		fo := &kdbusv1.FieldOptions{Service: s.service}
		if f.Type.Nullable() {
			switch {
			case s.repeated || s.key != nil:
				c.note("nullable-repeated", f.Pos, "@nullable %s %s: a repeated field has no presence, so null and empty become the same", f.Type.Name, f.Name)
			case s.typ.GetType() == descriptorpb.FieldDescriptorProto_TYPE_STRING && !union:
				fl.SetProto3Optional(true)
			}
		}
		if f.DefaultValue != nil {
			if union {
				c.note("default", f.Pos, "union member %s has a default, which a oneof cannot hold; it is kept in the comment", f.Name)
				extra = append(extra, "AIDL default: "+valueText(f.DefaultValue, s)+".")
			} else if text, ok := defaultText(f.DefaultValue, s); ok {
				fo.Default = text
			} else {
				c.note("default", f.Pos, "the default of %s cannot be a field option; it is kept in the comment", f.Name)
				extra = append(extra, "AIDL default: "+valueText(f.DefaultValue, s)+".")
			}
		}
		fl.SetComments(withTrailing(comments(f.Doc, extra...), f.Trailing))
		c.fieldOptions(fb, fl, fo, f.Doc)
		if union {
			c.try(f.Pos, oneof.TryAddChoice(fl))
		} else {
			c.try(f.Pos, mb.TryAddField(fl))
		}
	}
}

func (c *converter) fieldOptions(fb *builder.FileBuilder, fl *builder.FieldBuilder, fo *kdbusv1.FieldOptions, doc *aidl.Doc) {
	opts := &descriptorpb.FieldOptions{}
	set := false
	if doc != nil && doc.Deprecated {
		opts.Deprecated, set = proto.Bool(true), true
	}
	if fo.Default != "" || fo.Service != "" {
		proto.SetExtension(opts, kdbusv1.E_Field, fo)
		c.uses[fb][optionsFile] = true
		set = true
	}
	if set {
		fl.SetOptions(opts)
	}
}

// defaultText is the (kdbus.v1.field).default text of v, when it can be one.
func defaultText(v *aidl.Value, s spec) (string, bool) {
	if s.repeated || s.key != nil {
		return "", false
	}
	switch v.Kind {
	case aidl.IntValue, aidl.CharValue:
		if s.enum != nil && !s.longEnum {
			if v.Enumerator != nil {
				return s.prefix + "_" + upperSnake(v.Enumerator.Name), true
			}
			for _, en := range s.enum.Enumerators {
				if en.Value == v.Int {
					return s.prefix + "_" + upperSnake(en.Name), true
				}
			}
			return "", false
		}
		return strconv.FormatInt(v.Int, 10), true
	case aidl.FloatValue:
		return floatText(v.Float, s.typ != nil && s.typ.GetType() == descriptorpb.FieldDescriptorProto_TYPE_FLOAT), true
	case aidl.BoolValue:
		return strconv.FormatBool(v.Bool), true
	case aidl.StringValue:
		return v.Str, v.Str != ""
	}
	return "", false
}

// valueText shows a value as AIDL would write it, for comments.
func valueText(v *aidl.Value, s spec) string {
	switch v.Kind {
	case aidl.ArrayValue:
		var parts []string
		for _, e := range v.Elems {
			parts = append(parts, valueText(e, s))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case aidl.StringValue:
		return strconv.Quote(v.Str)
	case aidl.NullValue:
		return "null"
	}
	t, _ := defaultText(v, spec{enum: s.enum, prefix: s.prefix, longEnum: s.longEnum})
	return t
}

// snake turns camelCase into snake_case: timeoutMs → timeout_ms.
func snake(s string) string {
	var b strings.Builder
	r := []rune(s)
	for i, c := range r {
		upper := c >= 'A' && c <= 'Z'
		if upper && i > 0 {
			prev := r[i-1]
			nextLower := i+1 < len(r) && r[i+1] >= 'a' && r[i+1] <= 'z'
			if prev >= 'a' && prev <= 'z' || prev >= '0' && prev <= '9' || (prev >= 'A' && prev <= 'Z' && nextLower) {
				b.WriteByte('_')
			}
		}
		if upper {
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// upperSnake turns a CamelCase name into UPPER_SNAKE: EffectStrength → EFFECT_STRENGTH.
func upperSnake(s string) string { return strings.ToUpper(snake(s)) }

// flatName is the name of an interface's service: services cannot nest, so an interface
// declared inside another type is named after the types around it (IOuterIInner).
func flatName(d *aidl.Interface) string {
	name := d.Name
	for p := d.Parent; p != nil; p = p.Base().Parent {
		name = p.Base().Name + name
	}
	return name
}

// serviceName is the proto full name of an interface's service.
func (c *converter) serviceName(d *aidl.Interface) string {
	return c.fullName(d.File, c.flatName(d))
}
