package generator

import (
	"fmt"
	"slices"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/gofeaturespb"
)

// kind says how a proto value is carried in D-Bus. The first group are leaves: the values a
// field, a repeated element, a map key or value, or a oneof member holds. The second group
// are the forms a field takes around its leaf.
type kind int

const (
	kScalar kind = iota // a basic type: a proto scalar or enum
	kBytes              // ay: proto bytes
	kMemfd              // h: proto bytes marked memfd, carried as a sealed memfd
	kStruct             // (…): a message's fields
	kEmpty              // b: a message with no fields, which D-Bus cannot make a struct of
	kProto              // ay: a message of a cycle of message types, serialized
	kWKT                // a well-known type's own mapping
	kUnwrap             // a message of one field marked unwrap: that field's type, not a struct

	kOptional // aT with 0 or 1 element: a field with explicit presence
	kList     // aT: a repeated field
	kMap      // a{KV}: a map field
	kOneof    // (sv): a oneof's member name and value
)

// sigCap is where signature lengths stop counting: far beyond what D-Bus allows, small enough
// never to overflow however often message types repeat inside one another.
const sigCap = 1 << 20

// node is the D-Bus type of one proto value in one position. Leaves and field forms share it;
// a struct leaf points at the info of its message, which is shared by every use.
type node struct {
	kind   kind
	sig    string // the signature; "" when longer than wire.MaxSignatureLength
	sigLen int    // the signature's length, saturating at sigCap
	// The deepest nesting of arrays, of structs and dict entries (both as the signature
	// counts them) and of all containers including variants (as values count them).
	arrays, structs, total int
	// dynamic: the value holds a Struct, Value or ListValue, whose codecs need the depth.
	dynamic bool

	field   *protogen.Field // the field whose value this is (for a map: the map field)
	leafFD  *protogen.Field // for a leaf: the field that gives its type (a map's key or value field)
	msg     *info           // kStruct, kUnwrap: the message
	message *protogen.Message
	wkt     *wktInfo
	elem    *node // kOptional, kList: the element; kMap: the value
	key     *node // kMap: the key
	oneof   *protogen.Oneof
	members []*node // kOneof: one leaf per member, as oneof.Fields
}

// info is a message expanded into a sequence of values: method arguments or struct fields.
type info struct {
	msg   *protogen.Message
	units []*unit

	sig                    string
	sigLen                 int
	arrays, structs, total int
	dynamic                bool

	// Set when code is planned for a file: the names of the message's codec functions.
	encName, decName string
}

// unit is one argument or struct field: a field, or a whole oneof.
type unit struct {
	name string // the argument name: the field's or the oneof's
	n    *node
}

// wktInfo describes how a well-known type travels.
type wktInfo struct {
	name string // the suffix of kdbusimpl's functions: kdbusimpl.Encode<name>, Decode<name>, <name>Codec
	sig  string
	// nesting of the value as a field
	arrays, structs, total int
	dynamic                bool
	// the arguments when it is a whole request or response
	args []argSpec
}

type argSpec struct{ name, sig string }

var wkts = map[protoreflect.FullName]*wktInfo{
	"google.protobuf.Timestamp":   {name: "Timestamp", sig: "(xi)", structs: 1, total: 1, args: []argSpec{{"seconds", "x"}, {"nanos", "i"}}},
	"google.protobuf.Duration":    {name: "Duration", sig: "(xi)", structs: 1, total: 1, args: []argSpec{{"seconds", "x"}, {"nanos", "i"}}},
	"google.protobuf.Empty":       {name: "Empty", sig: "b"},
	"google.protobuf.DoubleValue": {name: "DoubleValue", sig: "d", args: []argSpec{{"value", "d"}}},
	"google.protobuf.FloatValue":  {name: "FloatValue", sig: "d", args: []argSpec{{"value", "d"}}},
	"google.protobuf.Int64Value":  {name: "Int64Value", sig: "x", args: []argSpec{{"value", "x"}}},
	"google.protobuf.UInt64Value": {name: "UInt64Value", sig: "t", args: []argSpec{{"value", "t"}}},
	"google.protobuf.Int32Value":  {name: "Int32Value", sig: "i", args: []argSpec{{"value", "i"}}},
	"google.protobuf.UInt32Value": {name: "UInt32Value", sig: "u", args: []argSpec{{"value", "u"}}},
	"google.protobuf.BoolValue":   {name: "BoolValue", sig: "b", args: []argSpec{{"value", "b"}}},
	"google.protobuf.StringValue": {name: "StringValue", sig: "s", args: []argSpec{{"value", "s"}}},
	"google.protobuf.BytesValue":  {name: "BytesValue", sig: "ay", arrays: 1, total: 1, args: []argSpec{{"value", "ay"}}},
	"google.protobuf.Struct":      {name: "Struct", sig: "a{sv}", arrays: 1, structs: 1, total: 3, dynamic: true, args: []argSpec{{"fields", "a{sv}"}}},
	"google.protobuf.Value":       {name: "Value", sig: "v", total: 1, dynamic: true, args: []argSpec{{"value", "v"}}},
	"google.protobuf.ListValue":   {name: "ListValue", sig: "av", arrays: 1, total: 2, dynamic: true, args: []argSpec{{"values", "av"}}},
	"google.protobuf.Any":         {name: "Any", sig: "(say)", arrays: 1, structs: 1, total: 2, args: []argSpec{{"type_url", "s"}, {"value", "ay"}}},
	"google.protobuf.FieldMask":   {name: "FieldMask", sig: "as", arrays: 1, total: 1, args: []argSpec{{"paths", "as"}}},
	// kdbus.v1 types (proto/kdbus/v1/types.proto): what D-Bus carries and protobuf cannot.
	"kdbus.v1.ObjectRef": {name: "ObjectRef", sig: "(so)", structs: 1, total: 1, args: []argSpec{{"bus_name", "s"}, {"path", "o"}}},
	"kdbus.v1.UnixFD":    {name: "UnixFD", sig: "h", args: []argSpec{{"fd", "h"}}},
	"kdbus.v1.Variant":   {name: "Variant", sig: "v", total: 1, dynamic: true, args: []argSpec{{"value", "v"}}},
}

const emptyName protoreflect.FullName = "google.protobuf.Empty"

// Field numbers of the options messages in the descriptor protos, for source paths.
const (
	fieldOptionsField   = 8 // FieldDescriptorProto.options
	serviceOptionsField = 3 // ServiceDescriptorProto.options
	methodOptionsField  = 4 // MethodDescriptorProto.options
)

// model maps the messages of one plugin run onto D-Bus types. It is shared by all files so
// that every message is analysed once.
type model struct {
	gen       *protogen.Plugin
	messages  map[protoreflect.FullName]*protogen.Message
	recursive map[protoreflect.FullName]bool
	infos     map[protoreflect.FullName]*info
	diags     *diagnostics
	warn      func(file, format string, args ...any) // nil: no warnings
	memfdSeen map[protoreflect.FullName]bool
	// serialized holds the messages already searched for memfd fields that travel inside a
	// recursive message (serializedMemfd).
	serialized map[protoreflect.FullName]bool

	// The fallback decisions (fallback.go) the mapping follows: opaque holds the field
	// declarations whose message values travel serialized wherever they appear, whole the
	// messages that travel as one serialized argument where they are a whole request, response,
	// stream frame or signal.
	opaque map[protoreflect.FullName]bool
	whole  map[protoreflect.FullName]bool
}

func newModel(gen *protogen.Plugin, diags *diagnostics, warn func(file, format string, args ...any)) *model {
	m := &model{
		gen:        gen,
		messages:   map[protoreflect.FullName]*protogen.Message{},
		infos:      map[protoreflect.FullName]*info{},
		diags:      diags,
		warn:       warn,
		memfdSeen:  map[protoreflect.FullName]bool{},
		serialized: map[protoreflect.FullName]bool{},
		opaque:     map[protoreflect.FullName]bool{},
		whole:      map[protoreflect.FullName]bool{},
	}
	var walk func(ms []*protogen.Message)
	walk = func(ms []*protogen.Message) {
		for _, msg := range ms {
			m.messages[msg.Desc.FullName()] = msg
			walk(msg.Messages)
		}
	}
	for _, f := range gen.Files {
		walk(f.Messages)
	}
	m.recursive = findRecursive(m.messages)
	return m
}

// derive returns a model of the same messages that follows the given fallback decisions,
// reporting to diags and warn (nil: no warnings).
func (m *model) derive(opaque, whole map[protoreflect.FullName]bool, diags *diagnostics, warn func(file, format string, args ...any)) *model {
	return &model{
		gen:        m.gen,
		messages:   m.messages,
		recursive:  m.recursive,
		infos:      map[protoreflect.FullName]*info{},
		diags:      diags,
		warn:       warn,
		memfdSeen:  map[protoreflect.FullName]bool{},
		serialized: map[protoreflect.FullName]bool{},
		opaque:     opaque,
		whole:      whole,
	}
}

// valueMessage returns the message a field's values are of: the message of a message field or
// of a map's value, nil for other fields.
func valueMessage(f *protogen.Field) *protogen.Message {
	if f.Desc.IsMap() {
		return f.Message.Fields[1].Message
	}
	return f.Message
}

// findRecursive returns the messages that are part of a cycle in the graph whose edges go from
// a message to the message types of its fields (of any kind: singular, repeated, map value,
// oneof member). Well-known types are leaves of that graph: their mappings do not recurse.
func findRecursive(messages map[protoreflect.FullName]*protogen.Message) map[protoreflect.FullName]bool {
	// Tarjan's strongly connected components, iterating messages in sorted order so that the
	// result does not depend on map order (it does not anyway, but the walk stays repeatable).
	names := sortedNames(messages)
	index := map[protoreflect.FullName]int{}
	low := map[protoreflect.FullName]int{}
	onStack := map[protoreflect.FullName]bool{}
	var stack []protoreflect.FullName
	result := map[protoreflect.FullName]bool{}
	next := 0
	edges := func(name protoreflect.FullName) []protoreflect.FullName {
		var out []protoreflect.FullName
		for _, f := range messages[name].Fields {
			if vm := valueMessage(f); vm != nil && wkts[vm.Desc.FullName()] == nil {
				out = append(out, vm.Desc.FullName())
			}
		}
		return out
	}
	var connect func(v protoreflect.FullName)
	connect = func(v protoreflect.FullName) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		self := false
		for _, w := range edges(v) {
			if w == v {
				self = true
			}
			if _, seen := index[w]; !seen {
				if messages[w] == nil {
					continue
				}
				connect(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var scc []protoreflect.FullName
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, w)
				if w == v {
					break
				}
			}
			if len(scc) > 1 || self {
				for _, w := range scc {
					result[w] = true
				}
			}
		}
	}
	for _, n := range names {
		if _, seen := index[n]; !seen {
			connect(n)
		}
	}
	return result
}

// messageInfo expands a message into its units. It is never called for a message that is part
// of a cycle except as a whole request or response, whose fields of cyclic types become
// serialized leaves, so the expansion always ends.
func (m *model) messageInfo(msg *protogen.Message) *info {
	name := msg.Desc.FullName()
	if in := m.infos[name]; in != nil {
		return in
	}
	in := &info{msg: msg}
	m.infos[name] = in
	if msg.APILevel == gofeaturespb.GoFeatures_API_OPAQUE {
		m.diags.add(msg.Desc, "the message uses Go's opaque API, whose fields generated codecs cannot reach",
			"generate it with the open API (features.(pb.go).api_level = API_OPEN) or carry it as bytes")
	}
	fields := append([]*protogen.Field(nil), msg.Fields...)
	sortFieldsByNumber(fields)
	seenOneof := map[*protogen.Oneof]bool{}
	for _, f := range fields {
		m.checkMemfd(f)
		m.checkStringType(f)
		if od := f.Desc.ContainingOneof(); od != nil && !od.IsSynthetic() {
			if seenOneof[f.Oneof] {
				continue
			}
			seenOneof[f.Oneof] = true
			in.units = append(in.units, &unit{name: string(od.Name()), n: m.oneofNode(f.Oneof)})
			continue
		}
		name := string(f.Desc.Name())
		if o := fieldOptions(f.Desc); o != nil && o.ArgName != nil {
			name = o.GetArgName()
		}
		in.units = append(in.units, &unit{name: name, n: m.applyDBusType(f, m.fieldNode(f))})
	}
	for _, u := range in.units {
		in.sig += u.n.sig
		in.sigLen = satAdd(in.sigLen, u.n.sigLen)
		in.arrays = max(in.arrays, u.n.arrays)
		in.structs = max(in.structs, u.n.structs)
		in.total = max(in.total, u.n.total)
		in.dynamic = in.dynamic || u.n.dynamic
	}
	if in.sigLen > wire.MaxSignatureLength {
		in.sig = ""
	}
	return in
}

func satAdd(a, b int) int { return min(a+b, sigCap) }

// fieldNode maps a field that is not a oneof member.
func (m *model) fieldNode(f *protogen.Field) *node {
	switch {
	case f.Desc.IsMap():
		key := m.leaf(f, f.Message.Fields[0])
		val := m.leaf(f, f.Message.Fields[1])
		n := &node{kind: kMap, field: f, key: key, elem: val}
		n.setSig("a{"+key.sig+val.sig+"}", 3+key.sigLen+val.sigLen, key.sig != "" && val.sig != "")
		n.arrays, n.structs, n.total = 1+val.arrays, 1+val.structs, 2+val.total
		n.dynamic = val.dynamic
		return n
	case f.Desc.IsList():
		return wrapArray(kList, f, m.leaf(f, f))
	case hasPresenceWrapper(f):
		return wrapArray(kOptional, f, m.leaf(f, f))
	}
	return m.leaf(f, f)
}

// hasPresenceWrapper reports whether f travels as a 0-or-1 element array: a singular field
// with explicit presence that is neither required nor a oneof member.
func hasPresenceWrapper(f *protogen.Field) bool {
	fd := f.Desc
	if fd.IsList() || fd.IsMap() || !fd.HasPresence() || fd.Cardinality() == protoreflect.Required {
		return false
	}
	od := fd.ContainingOneof()
	return od == nil || od.IsSynthetic()
}

func wrapArray(k kind, f *protogen.Field, elem *node) *node {
	n := &node{kind: k, field: f, elem: elem}
	n.setSig("a"+elem.sig, 1+elem.sigLen, elem.sig != "")
	n.arrays, n.structs, n.total = 1+elem.arrays, elem.structs, 1+elem.total
	n.dynamic = elem.dynamic
	return n
}

func (n *node) setSig(sig string, length int, known bool) {
	n.sigLen = min(length, sigCap)
	if known && n.sigLen <= wire.MaxSignatureLength {
		n.sig = sig
	}
}

// oneofNode maps a oneof: (sv), the member's name and its value in a variant.
func (m *model) oneofNode(o *protogen.Oneof) *node {
	n := &node{kind: kOneof, oneof: o, sig: "(sv)", sigLen: 4, structs: 1}
	inner := 0
	for _, f := range o.Fields {
		leaf := m.applyDBusType(f, m.leaf(f, f))
		n.members = append(n.members, leaf)
		n.dynamic = n.dynamic || leaf.dynamic
		inner = max(inner, leaf.total)
		// A variant's signature is a signature of its own, with its own limits, which the
		// fallback (fallback.go) makes it fit.
	}
	n.total = 2 + inner
	return n
}

// leaf maps the values of fd, which is f itself or, for a map field f, its key or value field.
func (m *model) leaf(f, fd *protogen.Field) *node {
	n := &node{field: f, leafFD: fd}
	switch fd.Desc.Kind() {
	case protoreflect.BoolKind:
		n.sig = "b"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind, protoreflect.EnumKind:
		n.sig = "i"
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n.sig = "u"
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n.sig = "x"
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n.sig = "t"
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		n.sig = "d"
	case protoreflect.StringKind:
		n.sig = "s"
		if f == fd && !f.Desc.IsMap() {
			switch fieldOptions(f.Desc).GetStringType() {
			case kdbusv1.StringType_STRING_TYPE_OBJECT_PATH:
				n.sig = "o"
			case kdbusv1.StringType_STRING_TYPE_SIGNATURE:
				n.sig = "g"
			}
		}
	case protoreflect.BytesKind:
		n.kind, n.sig, n.arrays, n.total = kBytes, "ay", 1, 1
		if f == fd && fieldOptions(f.Desc).GetMemfd() {
			n.kind, n.sig, n.arrays, n.total = kMemfd, "h", 0, 0
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		msg := fd.Message
		n.message = msg
		name := msg.Desc.FullName()
		switch w := wkts[name]; {
		case w != nil:
			n.kind, n.wkt, n.sig = kWKT, w, w.sig
			n.arrays, n.structs, n.total, n.dynamic = w.arrays, w.structs, w.total, w.dynamic
		case m.recursive[name]:
			n.kind, n.sig, n.arrays, n.total = kProto, "ay", 1, 1
			m.serializedMemfd(msg, m.serialized, func(memfd *protogen.Field) {
				m.warnf(memfd.Desc.ParentFile().Path(), "%s is marked memfd, but wherever %s is a field it travels as serialized protobuf (ay, being part of a cycle of message types), and there the bytes travel inline inside it, not as a memfd; hold the payload in a message outside the cycle to send it as a memfd",
					memfd.Desc.FullName(), msg.Desc.FullName())
			})
		case m.opaque[f.Desc.FullName()]:
			// A fallback decision: this field's values travel serialized to fit D-Bus's limits.
			n.kind, n.sig, n.arrays, n.total = kProto, "ay", 1, 1
			m.serializedMemfd(msg, map[protoreflect.FullName]bool{}, func(memfd *protogen.Field) {
				m.warnf(memfd.Desc.ParentFile().Path(), "%s is marked memfd, but where %s is serialized to fit D-Bus's limits (as the value of %s), the bytes travel inline inside it, not as a memfd",
					memfd.Desc.FullName(), msg.Desc.FullName(), f.Desc.FullName())
			})
		default:
			in := m.messageInfo(msg)
			if messageOptions(msg).GetUnwrap() {
				if len(in.units) == 1 && in.units[0].n.kind != kOneof {
					n.kind, n.msg = kUnwrap, in
					n.setSig(in.sig, in.sigLen, in.sig != "")
					n.arrays, n.structs, n.total, n.dynamic = in.arrays, in.structs, in.total, in.dynamic
					return n
				}
				m.diags.add(msg.Desc, "option unwrap: the message must have exactly one field, not in a oneof, to travel as that field's type",
					"give the message one field, or remove (kdbus.v1.message).unwrap")
			}
			if len(in.units) == 0 {
				n.kind, n.sig = kEmpty, "b"
				break
			}
			n.kind, n.msg = kStruct, in
			n.setSig("("+in.sig+")", 2+in.sigLen, in.sig != "")
			n.arrays, n.structs, n.total, n.dynamic = in.arrays, 1+in.structs, 1+in.total, in.dynamic
			return n
		}
	}
	n.sigLen = len(n.sig)
	return n
}

// checkMemfd rejects the memfd option on fields that are not bytes.
func (m *model) checkMemfd(f *protogen.Field) {
	opts := fieldOptions(f.Desc)
	if !opts.GetMemfd() || m.memfdSeen[f.Desc.FullName()] {
		return
	}
	m.memfdSeen[f.Desc.FullName()] = true
	if f.Desc.Kind() != protoreflect.BytesKind || f.Desc.IsMap() {
		m.diags.addAt(f.Desc, optionPath(f.Location.Path, fieldOptionsField, int32(kdbusv1.E_Field.TypeDescriptor().Number()), 1),
			"the memfd option applies only to bytes fields (singular, optional, repeated or oneof members)",
			"remove (kdbus.v1.field).memfd, or make the field bytes")
	}
}

// checkStringType rejects the string_type option on fields that are not strings, or are maps.
func (m *model) checkStringType(f *protogen.Field) {
	if fieldOptions(f.Desc).GetStringType() == kdbusv1.StringType_STRING_TYPE_UNSPECIFIED {
		return
	}
	if f.Desc.Kind() != protoreflect.StringKind || f.Desc.IsMap() {
		m.diags.addAt(f.Desc, optionPath(f.Location.Path, fieldOptionsField, int32(kdbusv1.E_Field.TypeDescriptor().Number()), 5),
			"the string_type option applies only to string fields (singular, optional, repeated or oneof members), not to "+kindText(f),
			"remove (kdbus.v1.field).string_type, or make the field a string")
	}
}

func kindText(f *protogen.Field) string {
	if f.Desc.IsMap() {
		return "map fields"
	}
	return f.Desc.Kind().String() + " fields"
}

// serializedMemfd checks the memfd fields of msg and of every message it contains, which
// travel inside a serialized message: there they are plain bytes, so it calls warn
// for each, to say that such fields travel inline.
func (m *model) serializedMemfd(msg *protogen.Message, seen map[protoreflect.FullName]bool, warn func(memfd *protogen.Field)) {
	if seen[msg.Desc.FullName()] {
		return
	}
	seen[msg.Desc.FullName()] = true
	for _, f := range msg.Fields {
		if fieldOptions(f.Desc).GetMemfd() {
			m.checkMemfd(f)
			if f.Desc.Kind() == protoreflect.BytesKind {
				warn(f)
			}
		}
		if f.Message != nil && wkts[f.Message.Desc.FullName()] == nil {
			m.serializedMemfd(f.Message, seen, warn)
		}
	}
}

// warnf passes a warning on, unless the model is one the fallback only tries out.
func (m *model) warnf(file, format string, args ...any) {
	if m.warn != nil {
		m.warn(file, format, args...)
	}
}

// metric selects one of a node's nesting depths.
type metric int

const (
	metricArrays metric = iota
	metricStructs
	metricTotal
)

func (n *node) get(mt metric) int {
	switch mt {
	case metricArrays:
		return n.arrays
	case metricStructs:
		return n.structs
	}
	return n.total
}

// own returns how much n itself adds to the metric, before its children.
func (n *node) own(mt metric) int {
	switch n.kind {
	case kBytes, kProto:
		if mt == metricStructs {
			return 0
		}
		return 1
	case kWKT:
		return n.get(mt)
	case kStruct:
		if mt == metricArrays {
			return 0
		}
		return 1
	case kUnwrap:
		return 0
	case kOptional, kList:
		if mt == metricStructs {
			return 0
		}
		return 1
	case kMap:
		switch mt {
		case metricArrays, metricStructs:
			return 1
		}
		return 2
	case kOneof:
		switch mt {
		case metricStructs:
			return 1
		case metricTotal:
			return 2
		}
	}
	return 0
}

// children returns the nodes inside n that count towards the metric.
func (n *node) children(mt metric) []*node {
	switch n.kind {
	case kStruct, kUnwrap:
		var c []*node
		for _, u := range n.msg.units {
			c = append(c, u.n)
		}
		return c
	case kOptional, kList, kMap:
		return []*node{n.elem}
	case kOneof:
		if mt == metricTotal {
			return n.members
		}
	}
	return nil
}

func lenText(n int) string {
	if n >= sigCap {
		return fmt.Sprintf("more than %d", sigCap)
	}
	return fmt.Sprint(n)
}

// fieldOptions returns the field's kdbus options, or nil.
func fieldOptions(fd protoreflect.FieldDescriptor) *kdbusv1.FieldOptions {
	o, _ := extension(fd.Options(), kdbusv1.E_Field).(*kdbusv1.FieldOptions)
	return o
}

func sortFieldsByNumber(fs []*protogen.Field) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Desc.Number() < fs[j-1].Desc.Number(); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

func sortedNames(messages map[protoreflect.FullName]*protogen.Message) []protoreflect.FullName {
	names := make([]protoreflect.FullName, 0, len(messages))
	for n := range messages {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// applyDBusType returns n, the mapping of field f, changed as f's dbus_type option says: basic
// types replaced by others the field's proto type can hold, and a presence wrapper left out.
func (m *model) applyDBusType(f *protogen.Field, n *node) *node {
	want := fieldOptions(f.Desc).GetDbusType()
	if want == "" {
		return n
	}
	path := optionPath(f.Location.Path, fieldOptionsField, int32(kdbusv1.E_Field.TypeDescriptor().Number()), 8)
	if err := wire.ValidateSingle(want); err != nil {
		m.diags.addAt(f.Desc, path, fmt.Sprintf("option dbus_type: %v", err), "give one complete D-Bus type, such as \"ao\" or \"a{sv}\"")
		return n
	}
	t := wire.MustParseType(want)
	if r := overrideNode(n, t); r != nil {
		return r
	}
	if n.kind == kOptional {
		if r := overrideNode(n.elem, t); r != nil {
			return r
		}
	}
	m.diags.addAt(f.Desc, path, fmt.Sprintf("option dbus_type: the field cannot travel as %q; its default D-Bus type is %q", want, n.sig),
		"change only basic types the field's proto type holds (s to o or g for strings, u to y or q for uint32, i to n for int32) or leave out the presence array; see docs/mapping.md, \"Exact D-Bus types\"")
	return n
}

// overrideNode returns a copy of n of type t, or nil when n cannot travel as t.
func overrideNode(n *node, t *wire.Type) *node {
	c := *n
	switch n.kind {
	case kScalar:
		if !basicCompatible(n.leafFD.Desc.Kind(), t.Code) {
			return nil
		}
		c.sig, c.sigLen = string(t.Sig), 1
		return &c
	case kOptional, kList:
		if t.Code != wire.TypeArray || t.Elem.Code == wire.TypeDictEntry {
			return nil
		}
		e := overrideNode(n.elem, t.Elem)
		if e == nil {
			return nil
		}
		c.elem = e
		c.setSig("a"+e.sig, 1+e.sigLen, true)
		return &c
	case kMap:
		if !t.IsDict() {
			return nil
		}
		k, v := overrideNode(n.key, t.Elem.Fields[0]), overrideNode(n.elem, t.Elem.Fields[1])
		if k == nil || v == nil {
			return nil
		}
		c.key, c.elem = k, v
		c.setSig("a{"+k.sig+v.sig+"}", 3+k.sigLen+v.sigLen, true)
		return &c
	}
	if n.sig != "" && n.sig == string(t.Sig) {
		return n
	}
	return nil
}

// basicCompatible reports whether values of proto kind k can travel as the basic D-Bus type
// code.
func basicCompatible(k protoreflect.Kind, code byte) bool {
	switch k {
	case protoreflect.StringKind:
		return code == 's' || code == 'o' || code == 'g'
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return code == 'u' || code == 'y' || code == 'q'
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return code == 'i' || code == 'n'
	}
	return false
}
