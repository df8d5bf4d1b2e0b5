package generator

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kdbus-go/kdbus/introspect"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// AnnotationEmitsChanged is the standard annotation that says what PropertiesChanged carries
// for a property.
const AnnotationEmitsChanged = "org.freedesktop.DBus.Property.EmitsChangedSignal"

// signalPlan is one signal of a service: a message whose fields are its arguments.
type signalPlan struct {
	msg        *protogen.Message
	member     string
	codec      *topCodec
	deprecated bool
	filters    []filterPlan
}

// filterPlan is an argument of a signal that subscribers can filter on.
type filterPlan struct {
	index int
	field *protogen.Field
	sig   string // "s", "o" or "g"
	fn    string // the generated option's name
}

// propsPlan is a service's properties: the fields of one message.
type propsPlan struct {
	msg   *protogen.Message
	props []*propPlan
}

// propPlan is one property: one field of the properties message.
type propPlan struct {
	u         *unit
	field     *protogen.Field
	index     int // position in propsPlan.props, the runtime's property index
	name      string
	access    kdbusv1.PropertyAccess // READ, WRITE or READWRITE
	change    kdbusv1.PropertyChange // never UNSPECIFIED
	constName string
}

const (
	serviceOptSignals    = 5 // ServiceOptions.signals
	serviceOptProperties = 6 // ServiceOptions.properties
	fieldOptAccess       = 2
	fieldOptChange       = 3
	fieldOptPropertyName = 4
)

// resolveMessage finds the message a service option names: a name relative to the service's
// package, or a fully qualified one (with or without a leading dot).
func (m *model) resolveMessage(s *protogen.Service, name string) *protogen.Message {
	name = strings.TrimPrefix(name, ".")
	if pkg := string(s.Desc.ParentFile().Package()); pkg != "" {
		if msg := m.messages[protoreflect.FullName(pkg+"."+name)]; msg != nil {
			return msg
		}
	}
	return m.messages[protoreflect.FullName(name)]
}

// errorNames returns the names of a service's own errors: those of errors, then those of error.
func errorNames(opts *kdbusv1.ServiceOptions) []string {
	names := slices.Clone(opts.GetErrors())
	for _, se := range opts.GetError() {
		names = append(names, se.GetName())
	}
	return names
}

// serviceDecls resolves what s declares, for naming. Unresolvable names are left out here and
// reported when the service is planned.
func (g *generator) serviceDecls(s *protogen.Service) serviceDecls {
	opts := serviceOptions(s)
	m := g.fileModel(g.gen.FilesByPath[s.Desc.ParentFile().Path()])
	d := serviceDecls{
		errors:       errorNames(opts),
		filterable:   m.filterableFields,
		propFields:   propertyFields,
		propertyName: propertyName,
	}
	seen := map[*protogen.Message]bool{}
	for _, name := range opts.GetSignals() {
		if msg := g.base.resolveMessage(s, name); msg != nil && !seen[msg] {
			seen[msg] = true
			d.signals = append(d.signals, msg)
		}
	}
	if name := opts.GetProperties(); name != "" {
		d.props = g.base.resolveMessage(s, name)
	}
	return d
}

// signalUnits returns the arguments of a signal message: nil for messages that the runtime
// encodes itself (Empty and the other well-known types) and for those the fallback sends
// whole.
func (m *model) signalUnits(msg *protogen.Message) []*unit {
	if name := msg.Desc.FullName(); name == emptyName || wkts[name] != nil || m.whole[name] {
		return nil
	}
	return m.messageInfo(msg).units
}

// filterableFields returns the fields of a signal message that subscribers can filter on:
// single strings, object paths and signatures among the first 64 arguments, which match rules
// and bloom filters can name.
func (m *model) filterableFields(msg *protogen.Message) []*protogen.Field {
	var out []*protogen.Field
	for i, u := range m.signalUnits(msg) {
		if i > 63 {
			break
		}
		if u.n.kind == kScalar && (u.n.sig == "s" || u.n.sig == "o" || u.n.sig == "g") {
			out = append(out, u.n.field)
		}
	}
	return out
}

// propertyFields returns the fields of a properties message that are properties: all but the
// members of real oneofs, which are reported.
func propertyFields(msg *protogen.Message) []*protogen.Field {
	var out []*protogen.Field
	fields := append([]*protogen.Field(nil), msg.Fields...)
	sortFieldsByNumber(fields)
	for _, f := range fields {
		if od := f.Desc.ContainingOneof(); od != nil && !od.IsSynthetic() {
			continue
		}
		out = append(out, f)
	}
	return out
}

// propertyName is the D-Bus name of the property a field holds.
func propertyName(f *protogen.Field) string {
	if n := fieldOptions(f.Desc).GetPropertyName(); n != "" {
		return n
	}
	return f.GoName
}

func (g *generator) planSignals(p *filePlan, sp *servicePlan, optPath func(sub ...int32) protoreflect.SourcePath) {
	s := sp.svc
	members := map[string]bool{}
	for i, name := range serviceOptions(s).GetSignals() {
		path := optPath(serviceOptSignals, int32(i))
		msg := g.base.resolveMessage(s, name)
		if msg == nil {
			g.diags.addAt(s.Desc, path, fmt.Sprintf("option signals: no message %q", name),
				"name a message of the service's package, such as \"DoorChanged\", or give its full name, such as \"example.v1.DoorChanged\"")
			continue
		}
		member := string(msg.Desc.Name())
		if name := messageOptions(msg).GetSignalName(); name != "" {
			if err := wire.ValidateMemberName(name); err != nil {
				g.diags.add(msg.Desc, fmt.Sprintf("option signal_name: %v", err), "use letters, digits and underscores, not starting with a digit, such as \"NameOwnerChanged\"")
				continue
			}
			member = name
		}
		if members[member] {
			g.diags.addAt(s.Desc, path, fmt.Sprintf("option signals: signal %s is listed twice", member), "list each signal once; signals are named after their messages")
			continue
		}
		members[member] = true
		sg := &signalPlan{
			msg:        msg,
			member:     member,
			deprecated: msg.Desc.Options().(*descriptorpb.MessageOptions).GetDeprecated(),
		}
		sg.codec = g.topCodec(p, msg)
		if strings.Contains(sg.codec.sig, "h") {
			g.diags.addAt(s.Desc, path, fmt.Sprintf("signal %s carries file descriptors (a memfd field of %s); signals cannot", member, msg.Desc.FullName()),
				"send large payloads in method calls, or send a signal that tells subscribers to fetch them")
		}
		for i, u := range g.model.signalUnits(msg) {
			if fn := sp.names.filters[msg][u.n.field]; fn != "" && u.n.kind == kScalar {
				sg.filters = append(sg.filters, filterPlan{index: i, field: u.n.field, sig: u.n.sig, fn: fn})
			}
		}
		sp.signals = append(sp.signals, sg)
	}
	for _, mp := range sp.methods {
		if members[mp.member] {
			g.diags.add(mp.m.Desc, fmt.Sprintf("D-Bus member name %q is both a method and a signal", mp.member),
				"rename the rpc with option (kdbus.v1.method).member, or rename the signal's message")
		}
	}
}

func (g *generator) planProperties(sp *servicePlan, optPath func(sub ...int32) protoreflect.SourcePath) {
	s := sp.svc
	name := serviceOptions(s).GetProperties()
	if name == "" {
		return
	}
	path := optPath(serviceOptProperties)
	msg := g.base.resolveMessage(s, name)
	if msg == nil {
		g.diags.addAt(s.Desc, path, fmt.Sprintf("option properties: no message %q", name),
			"name a message of the service's package, such as \"VehicleState\", or give its full name")
		return
	}
	if wkts[msg.Desc.FullName()] != nil || msg.Desc.FullName() == emptyName {
		g.diags.addAt(s.Desc, path, fmt.Sprintf("option properties: %s is a well-known type", msg.Desc.FullName()),
			"declare a message of your own whose fields are the properties")
		return
	}
	in := g.model.messageInfo(msg)
	pp := &propsPlan{msg: msg}
	byField := map[*protogen.Field]*unit{}
	for _, u := range in.units {
		if u.n.kind == kOneof {
			g.diags.add(u.n.oneof.Desc, "a oneof cannot be a property: a property is one field",
				"make each member a property of its own, or move the oneof into a message field")
			continue
		}
		byField[u.n.field] = u
	}
	names := map[string]*protogen.Field{}
	fext := int32(kdbusv1.E_Field.TypeDescriptor().Number())
	for _, f := range propertyFields(msg) {
		u := byField[f]
		if u == nil {
			continue
		}
		fpath := func(sub int32) protoreflect.SourcePath {
			return optionPath(f.Location.Path, fieldOptionsField, fext, sub)
		}
		fo := fieldOptions(f.Desc)
		pr := &propPlan{
			u: u, field: f, index: len(pp.props), name: propertyName(f),
			constName: sp.names.propConsts[f],
		}
		if err := wire.ValidateMemberName(pr.name); err != nil {
			g.diags.addAt(f.Desc, fpath(fieldOptPropertyName), fmt.Sprintf("property name: %v", err), hintMember)
			continue
		}
		if prev := names[pr.name]; prev != nil {
			g.diags.add(f.Desc, fmt.Sprintf("property name %q is already used by field %s", pr.name, prev.Desc.Name()),
				"give one of them another name with option (kdbus.v1.field).property_name")
			continue
		}
		names[pr.name] = f
		switch fo.GetAccess() {
		case kdbusv1.PropertyAccess_PROPERTY_ACCESS_UNSPECIFIED, kdbusv1.PropertyAccess_PROPERTY_ACCESS_READ:
			pr.access = kdbusv1.PropertyAccess_PROPERTY_ACCESS_READ
		default:
			pr.access = fo.GetAccess()
		}
		readable := pr.access != kdbusv1.PropertyAccess_PROPERTY_ACCESS_WRITE
		writable := pr.access != kdbusv1.PropertyAccess_PROPERTY_ACCESS_READ
		switch c := fo.GetChange(); {
		case c == kdbusv1.PropertyChange_PROPERTY_CHANGE_UNSPECIFIED && readable:
			pr.change = kdbusv1.PropertyChange_PROPERTY_CHANGE_EMITS_VALUE
		case c == kdbusv1.PropertyChange_PROPERTY_CHANGE_UNSPECIFIED:
			pr.change = kdbusv1.PropertyChange_PROPERTY_CHANGE_INVALIDATES
		case c == kdbusv1.PropertyChange_PROPERTY_CHANGE_EMITS_VALUE && !readable:
			g.diags.addAt(f.Desc, fpath(fieldOptChange), "a write-only property cannot announce its value",
				"use PROPERTY_CHANGE_INVALIDATES or PROPERTY_CHANGE_NONE, or make the property readable")
			continue
		case c == kdbusv1.PropertyChange_PROPERTY_CHANGE_CONST && writable:
			g.diags.addAt(f.Desc, fpath(fieldOptAccess), "a const property cannot be writable",
				"make the property PROPERTY_ACCESS_READ, or give it another change behaviour")
			continue
		default:
			pr.change = c
		}
		switch {
		case strings.Contains(u.n.sig, "h"):
			g.diags.add(f.Desc, "a property cannot hold file descriptors (a memfd field)",
				"serve large payloads from a method")
			continue
		}
		pp.props = append(pp.props, pr)
	}
	if len(pp.props) == 0 && len(in.units) == 0 {
		g.diags.addAt(s.Desc, path, fmt.Sprintf("option properties: %s has no fields", msg.Desc.FullName()),
			"add a field per property")
	}
	sp.props = pp
}

// accessText is the access attribute of a property in introspection XML.
func accessText(a kdbusv1.PropertyAccess) string {
	switch a {
	case kdbusv1.PropertyAccess_PROPERTY_ACCESS_WRITE:
		return "write"
	case kdbusv1.PropertyAccess_PROPERTY_ACCESS_READWRITE:
		return "readwrite"
	}
	return "read"
}

// changeText is the value of the EmitsChangedSignal annotation.
func changeText(c kdbusv1.PropertyChange) string {
	switch c {
	case kdbusv1.PropertyChange_PROPERTY_CHANGE_INVALIDATES:
		return "invalidates"
	case kdbusv1.PropertyChange_PROPERTY_CHANGE_CONST:
		return "const"
	case kdbusv1.PropertyChange_PROPERTY_CHANGE_NONE:
		return "false"
	}
	return "true"
}

// signalXML describes a signal for introspection.
func (sg *signalPlan) xml() introspect.Signal {
	is := introspect.Signal{Name: sg.member}
	is.Args = append(is.Args, sg.codec.args...)
	if sg.deprecated {
		is.Annotations = append(is.Annotations, introspect.Annotation{Name: introspect.AnnotationDeprecated, Value: "true"})
	}
	if doc := docText(sg.msg.Comments.Leading); doc != "" {
		is.Annotations = append(is.Annotations, introspect.Annotation{Name: introspect.AnnotationDocString, Value: doc})
	}
	return is
}

// xml describes a property for introspection.
func (pr *propPlan) xml() introspect.Property {
	a := unitArg(pr.u)
	ip := introspect.Property{Name: pr.name, Type: a.Type, Access: accessText(pr.access)}
	ip.Annotations = append(ip.Annotations, introspect.Annotation{Name: AnnotationEmitsChanged, Value: changeText(pr.change)})
	ip.Annotations = append(ip.Annotations, a.Annotations...) // the type's annotations, and Deprecated
	if doc := docText(pr.field.Comments.Leading); doc != "" {
		ip.Annotations = append(ip.Annotations, introspect.Annotation{Name: introspect.AnnotationDocString, Value: doc})
	}
	return ip
}

// checkGoNames reports generated Go methods that would share a name: on the client
// interface (rpcs, property getters and setters, signal subscriptions) and on the property
// store (getters and setters).
func (g *generator) checkGoNames(sp *servicePlan) {
	type use struct {
		what string
		desc protoreflect.Descriptor
	}
	check := func(used map[string]use, name, what string, desc protoreflect.Descriptor) {
		if prev, ok := used[name]; ok {
			g.diags.add(desc, fmt.Sprintf("the generated Go method %s for %s clashes with the one for %s", name, what, prev.what),
				"rename the rpc, the field or the signal's message")
			return
		}
		used[name] = use{what, desc}
	}
	client := map[string]use{}
	for _, mp := range sp.methods {
		check(client, mp.m.GoName, "rpc "+string(mp.m.Desc.Name()), mp.m.Desc)
	}
	if pp := sp.props; pp != nil {
		store := map[string]use{}
		for _, pr := range pp.props {
			what := "property " + pr.name
			if readable(pr) {
				check(client, "Get"+pr.field.GoName, what, pr.field.Desc)
			}
			if writable(pr) {
				check(client, "Set"+pr.field.GoName, what, pr.field.Desc)
			}
			check(store, pr.field.GoName, what, pr.field.Desc)
			if pr.change != kdbusv1.PropertyChange_PROPERTY_CHANGE_CONST {
				check(store, "Set"+pr.field.GoName, what, pr.field.Desc)
			}
		}
		check(client, "GetProperties", "the properties", sp.svc.Desc)
		check(client, "WatchProperties", "the properties", sp.svc.Desc)
	}
	for _, sg := range sp.signals {
		check(client, "Subscribe"+sg.member, "signal "+sg.member, sg.msg.Desc)
	}
}
