package generator

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// Mapping is the D-Bus mapping of the services of a set of .proto files, exactly as the code
// the generator writes for them carries their messages, for tools that handle messages
// without generated code (dynamicpb messages built from descriptors a service serves).
type Mapping struct {
	// Files holds every file of the set; Types resolves their messages, enums and extensions
	// (for protojson's Any).
	Files *protoregistry.Files
	Types *dynamicpb.Types

	services []*ServiceMapping
}

// ServiceMapping is one service's D-Bus form.
type ServiceMapping struct {
	Interface, Path, BusName string
	Desc                     protoreflect.ServiceDescriptor
	Methods                  []*MethodMapping
	Signals                  []*SignalMapping
	Properties               []*PropertyMapping
	// PropertiesMessage is the message whose fields are the properties, or nil.
	PropertiesMessage protoreflect.MessageDescriptor
}

// MethodMapping is one rpc: its member name and the codecs of its request and response (of
// their frames, for a streaming side).
type MethodMapping struct {
	Member                       string
	Desc                         protoreflect.MethodDescriptor
	In, Out                      *MessageCodec
	NoReply                      bool
	ClientStreams, ServerStreams bool
}

// SignalMapping is one signal: its member name and the codec of its message.
type SignalMapping struct {
	Member string
	Codec  *MessageCodec
}

// PropertyMapping is one property: a field of the service's properties message.
type PropertyMapping struct {
	Name   string
	Sig    string
	Access string // "read", "write" or "readwrite"
	Field  protoreflect.FieldDescriptor
	u      *unit
}

// MessageCodec carries a message as a whole request, response, signal or stream frame.
type MessageCodec struct {
	// Sig is the signature of the arguments.
	Sig  string
	Desc protoreflect.MessageDescriptor
	top  *topCodec
}

// NewMapping maps the services of files, which must hold every file they import, as the
// generator maps them. A file without a go_package gets one made up from its directory, which
// changes nothing in the mapping.
func NewMapping(files []*descriptorpb.FileDescriptorProto) (*Mapping, error) {
	req := &pluginpb.CodeGeneratorRequest{ProtoFile: files}
	var params []string
	for _, f := range files {
		if len(f.GetService()) > 0 {
			req.FileToGenerate = append(req.FileToGenerate, f.GetName())
		}
		if f.GetOptions().GetGoPackage() == "" {
			dir := path.Dir(f.GetName())
			params = append(params, "M"+f.GetName()+"=descriptors.invalid/"+strings.Trim(dir, "./")+"/pkg"+sanitize(strings.ReplaceAll(dir, "/", "_")))
		}
	}
	req.Parameter = proto.String(strings.Join(params, ","))
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
		return nil, fmt.Errorf("reading the descriptors: %w", err)
	}
	g := &generator{gen: gen, models: map[string]*model{}, fallbacks: map[string][]decision{}, warned: map[string]bool{}}
	g.base = newModel(gen, &g.diags, g.warnf)
	g.namers, g.serviceNames, g.messageNames = packageNamers(gen, g.serviceDecls)
	var plans []*filePlan
	for _, f := range gen.Files {
		if f.Generate {
			g.model = g.fileModel(f)
			plans = append(plans, g.planFile(f))
		}
	}
	if err := g.diags.err(); err != nil {
		return nil, fmt.Errorf("the services do not map onto D-Bus: %w", err)
	}
	m := &Mapping{Files: new(protoregistry.Files)}
	for _, f := range gen.Files {
		if err := m.Files.RegisterFile(f.Desc); err != nil {
			return nil, err
		}
	}
	m.Types = dynamicpb.NewTypes(m.Files)
	for _, p := range plans {
		for _, sp := range p.services {
			sm := &ServiceMapping{Interface: sp.iface, Path: sp.path, BusName: sp.bus, Desc: sp.svc.Desc}
			for _, mp := range sp.methods {
				sm.Methods = append(sm.Methods, &MethodMapping{
					Member: mp.member, Desc: mp.m.Desc, NoReply: mp.noReply,
					In: newMessageCodec(mp.in), Out: newMessageCodec(mp.out),
					ClientStreams: mp.clientStreams, ServerStreams: mp.serverStreams,
				})
			}
			for _, sg := range sp.signals {
				sm.Signals = append(sm.Signals, &SignalMapping{Member: sg.member, Codec: newMessageCodec(sg.codec)})
			}
			if sp.props != nil {
				sm.PropertiesMessage = sp.props.msg.Desc
				for _, pr := range sp.props.props {
					sm.Properties = append(sm.Properties, &PropertyMapping{
						Name: pr.name, Sig: pr.u.n.sig, Access: accessText(pr.access), Field: pr.field.Desc, u: pr.u,
					})
				}
			}
			m.services = append(m.services, sm)
		}
	}
	return m, nil
}

func newMessageCodec(c *topCodec) *MessageCodec {
	return &MessageCodec{Sig: c.sig, Desc: c.msg.Desc, top: c}
}

// Services returns the mapped services.
func (m *Mapping) Services() []*ServiceMapping { return m.services }

// Service returns the service with D-Bus interface iface, or nil.
func (m *Mapping) Service(iface string) *ServiceMapping {
	for _, s := range m.services {
		if s.Interface == iface {
			return s
		}
	}
	return nil
}

// ServiceByName returns the service with proto full name name, or nil.
func (m *Mapping) ServiceByName(name protoreflect.FullName) *ServiceMapping {
	for _, s := range m.services {
		if s.Desc.FullName() == name {
			return s
		}
	}
	return nil
}

// Method returns the method with D-Bus member name member, or nil.
func (s *ServiceMapping) Method(member string) *MethodMapping {
	for _, mm := range s.Methods {
		if mm.Member == member {
			return mm
		}
	}
	return nil
}

// Signal returns the signal with D-Bus member name member, or nil.
func (s *ServiceMapping) Signal(member string) *SignalMapping {
	for _, sg := range s.Signals {
		if sg.Member == member {
			return sg
		}
	}
	return nil
}

// Property returns the property named name, or nil.
func (s *ServiceMapping) Property(name string) *PropertyMapping {
	for _, p := range s.Properties {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// New returns an empty message of the codec's type.
func (c *MessageCodec) New() *dynamicpb.Message { return dynamicpb.NewMessage(c.Desc) }

// Encode appends m, a message of the codec's type, as the codec's arguments.
func (c *MessageCodec) Encode(e *wire.Encoder, m protoreflect.Message) {
	switch t := c.top; {
	case t.msg.Desc.FullName() == emptyName:
	case t.runtime != "":
		w := dynWKTs[t.msg.Desc.FullName()]
		w.top(e, toConcrete(e, m, w.new()))
	case t.whole:
		kdbusimpl.EncodeProto(e, m.Interface())
	default:
		encodeInfo(e, t.info, m, 1)
	}
}

// Decode reads the codec's arguments into m, a message of the codec's type; errors are
// reported by d.
func (c *MessageCodec) Decode(d *wire.Decoder, m protoreflect.Message) {
	switch t := c.top; {
	case t.msg.Desc.FullName() == emptyName:
	case t.runtime != "":
		w := dynWKTs[t.msg.Desc.FullName()]
		fromConcrete(d, w.topDec(d), m)
	case t.whole:
		kdbusimpl.DecodeProto(d, m.Interface())
	default:
		decodeInfo(d, t.info, m, 1)
	}
}

// Encode appends the property's value, the field of m (a properties message), as its
// signature's value.
func (p *PropertyMapping) Encode(e *wire.Encoder, m protoreflect.Message) {
	encodeUnit(e, p.u, m, propertyDepth)
}

// Decode reads the property's value into its field of m.
func (p *PropertyMapping) Decode(d *wire.Decoder, m protoreflect.Message) {
	decodeUnit(d, p.u, m, propertyDepth)
}

func encodeInfo(e *wire.Encoder, in *info, m protoreflect.Message, depth int) {
	for _, u := range in.units {
		encodeUnit(e, u, m, depth)
	}
}

// encodeUnit appends a unit of m as the generated encoder of its message does; depth is that
// function's depth.
func encodeUnit(e *wire.Encoder, u *unit, m protoreflect.Message, depth int) {
	n := u.n
	if n.kind == kOneof {
		e.BeginStruct()
		which := m.WhichOneof(n.oneof.Desc)
		for i, f := range n.oneof.Fields {
			if f.Desc == which {
				mb := n.members[i]
				e.String(string(f.Desc.Name()))
				e.Variant(wire.Signature(mb.sig))
				encodeLeaf(e, mb, m.Get(f.Desc), depth+2)
				return
			}
		}
		e.String("")
		e.Variant("s")
		e.String("")
		return
	}
	fd := n.field.Desc
	switch n.kind {
	case kOptional:
		a := e.BeginArray(alignOf(n.elem.sig))
		if m.Has(fd) {
			encodeLeaf(e, n.elem, m.Get(fd), depth+1)
		}
		e.EndArray(a)
	case kList:
		a := e.BeginArray(alignOf(n.elem.sig))
		l := m.Get(fd).List()
		for i := range l.Len() {
			encodeLeaf(e, n.elem, l.Get(i), depth+1)
		}
		e.EndArray(a)
	case kMap:
		a := e.BeginArray(8)
		mp := m.Get(fd).Map()
		var keys []protoreflect.MapKey
		mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			keys = append(keys, k)
			return true
		})
		slices.SortFunc(keys, compareKeys)
		for _, k := range keys {
			e.BeginStruct()
			encodeLeaf(e, n.key, k.Value(), depth+2)
			encodeLeaf(e, n.elem, mp.Get(k), depth+2)
		}
		e.EndArray(a)
	default:
		encodeLeaf(e, n, m.Get(fd), depth)
	}
}

// compareKeys orders map keys as generated code does: false before true, numbers and strings
// ascending.
func compareKeys(a, b protoreflect.MapKey) int {
	switch x := a.Interface().(type) {
	case bool:
		y := b.Bool()
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case int32:
		return cmp.Compare(x, b.Interface().(int32))
	case int64:
		return cmp.Compare(x, b.Interface().(int64))
	case uint32:
		return cmp.Compare(x, b.Interface().(uint32))
	case uint64:
		return cmp.Compare(x, b.Interface().(uint64))
	}
	return strings.Compare(a.String(), b.String())
}

// encodeLeaf appends the value v of leaf n at depth (the containing function's depth plus the
// leaf's offset).
func encodeLeaf(e *wire.Encoder, n *node, v protoreflect.Value, depth int) {
	switch n.kind {
	case kScalar:
		switch n.sig {
		case "o":
			e.ObjectPath(wire.ObjectPath(v.String()))
			return
		case "g":
			e.Signature(wire.Signature(v.String()))
			return
		}
		switch n.leafFD.Desc.Kind() {
		case protoreflect.BoolKind:
			e.Bool(v.Bool())
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			e.Int32(int32(v.Int()))
		case protoreflect.EnumKind:
			e.Int32(int32(v.Enum()))
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			e.Uint32(uint32(v.Uint()))
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			e.Int64(v.Int())
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			e.Uint64(v.Uint())
		case protoreflect.DoubleKind, protoreflect.FloatKind:
			e.Double(v.Float())
		case protoreflect.StringKind:
			e.String(v.String())
		}
	case kBytes:
		e.ByteArray(v.Bytes())
	case kMemfd:
		kdbusimpl.AppendMemfd(e, v.Bytes())
	case kStruct:
		e.BeginStruct()
		encodeInfo(e, n.msg, v.Message(), depth+1)
	case kEmpty:
		e.Bool(true)
	case kProto:
		kdbusimpl.EncodeProto(e, v.Message().Interface())
	case kWKT:
		w := dynWKTs[n.message.Desc.FullName()]
		w.enc(e, toConcrete(e, v.Message(), w.new()), depth)
	}
}

func decodeInfo(d *wire.Decoder, in *info, m protoreflect.Message, depth int) {
	for _, u := range in.units {
		decodeUnit(d, u, m, depth)
	}
}

// decodeUnit reads a unit into m as the generated decoder of its message does.
func decodeUnit(d *wire.Decoder, u *unit, m protoreflect.Message, depth int) {
	n := u.n
	if n.kind == kOneof {
		oname := qualifiedName(n.oneof.Desc)
		d.BeginStruct()
		name, sig := d.String(), d.Variant()
		if d.Err() != nil {
			return
		}
		if name == "" {
			kdbusimpl.SkipVariantValue(d, sig)
			return
		}
		for i, f := range n.oneof.Fields {
			if string(f.Desc.Name()) != name {
				continue
			}
			mb := n.members[i]
			if string(sig) != mb.sig {
				kdbusimpl.BadOneofVariant(d, oname, name, sig, wire.Signature(mb.sig))
				return
			}
			v := decodeLeaf(d, mb, depth+2, func() protoreflect.Value { return m.NewField(f.Desc) })
			if d.Err() == nil {
				m.Set(f.Desc, v)
			}
			return
		}
		kdbusimpl.UnknownOneofMember(d, oname, name)
		return
	}
	fd := n.field.Desc
	field := func() protoreflect.Value { return m.NewField(fd) }
	switch n.kind {
	case kOptional:
		if end := d.BeginArray(alignOf(n.elem.sig)); d.More(end) {
			v := decodeLeaf(d, n.elem, depth+1, field)
			if d.Err() == nil {
				m.Set(fd, v)
			}
			if d.More(end) {
				kdbusimpl.ExtraPresenceElement(d, qualifiedName(fd))
			}
		}
	case kList:
		l := m.Mutable(fd).List()
		for end := d.BeginArray(alignOf(n.elem.sig)); d.More(end); {
			v := decodeLeaf(d, n.elem, depth+1, l.NewElement)
			if d.Err() != nil {
				return
			}
			l.Append(v)
		}
	case kMap:
		mp := m.Mutable(fd).Map()
		for end := d.BeginArray(8); d.More(end); {
			d.BeginStruct()
			k := decodeLeaf(d, n.key, depth+2, nil)
			v := decodeLeaf(d, n.elem, depth+2, mp.NewValue)
			if d.Err() != nil {
				return
			}
			mp.Set(k.MapKey(), v)
		}
	default:
		v := decodeLeaf(d, n, depth, field)
		if d.Err() == nil {
			m.Set(fd, v)
		}
	}
}

// decodeLeaf reads a value of leaf n; fresh makes the empty message a message leaf fills.
func decodeLeaf(d *wire.Decoder, n *node, depth int, fresh func() protoreflect.Value) protoreflect.Value {
	switch n.kind {
	case kScalar:
		switch n.sig {
		case "o":
			return protoreflect.ValueOfString(string(d.ObjectPath()))
		case "g":
			return protoreflect.ValueOfString(string(d.Signature()))
		}
		switch n.leafFD.Desc.Kind() {
		case protoreflect.BoolKind:
			return protoreflect.ValueOfBool(d.Bool())
		case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
			return protoreflect.ValueOfInt32(d.Int32())
		case protoreflect.EnumKind:
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(d.Int32()))
		case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
			return protoreflect.ValueOfUint32(d.Uint32())
		case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
			return protoreflect.ValueOfInt64(d.Int64())
		case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
			return protoreflect.ValueOfUint64(d.Uint64())
		case protoreflect.DoubleKind:
			return protoreflect.ValueOfFloat64(d.Double())
		case protoreflect.FloatKind:
			return protoreflect.ValueOfFloat32(float32(d.Double()))
		case protoreflect.StringKind:
			return protoreflect.ValueOfString(d.String())
		}
	case kBytes:
		return protoreflect.ValueOfBytes(bytes.Clone(d.ByteArray()))
	case kMemfd:
		return protoreflect.ValueOfBytes(kdbusimpl.DecodeMemfd(d))
	case kStruct:
		v := fresh()
		d.BeginStruct()
		decodeInfo(d, n.msg, v.Message(), depth+1)
		return v
	case kEmpty:
		d.Bool()
		return fresh()
	case kProto:
		v := fresh()
		kdbusimpl.DecodeProto(d, v.Message().Interface())
		return v
	case kWKT:
		w := dynWKTs[n.message.Desc.FullName()]
		c := w.dec(d, depth)
		v := fresh()
		fromConcrete(d, c, v.Message())
		return v
	}
	panic(fmt.Sprintf("generator: no decoding for leaf kind %d", n.kind))
}

// toConcrete copies m into dst, a message of the generated type of m's well-known type.
func toConcrete(e *wire.Encoder, m protoreflect.Message, dst proto.Message) proto.Message {
	if err := convert(m.Interface(), dst); err != nil {
		e.SetErr(err)
	}
	return dst
}

// fromConcrete copies src, of a generated well-known type, into m.
func fromConcrete(d *wire.Decoder, src proto.Message, m protoreflect.Message) {
	if d.Err() != nil || src == nil {
		return
	}
	if err := convert(src, m.Interface()); err != nil {
		d.SetErr(err)
	}
}

func convert(src, dst proto.Message) error {
	b, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(src)
	if err != nil {
		return err
	}
	if err := (proto.UnmarshalOptions{AllowPartial: true, Merge: true}).Unmarshal(b, dst); err != nil {
		return errors.New("converting " + string(src.ProtoReflect().Descriptor().FullName()) + ": " + err.Error())
	}
	return nil
}
