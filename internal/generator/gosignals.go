package generator

import (
	"strconv"
	"strings"

	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// propertyDepth is the nesting depth of a property's value inside GetAll's a{sv}: the array,
// the dict entry and the variant.
const propertyDepth = 3

// fieldGoType is the Go type of a field of a generated message (outside oneofs).
func (e *emitter) fieldGoType(f *protogen.Field) string {
	switch {
	case f.Desc.IsMap():
		return "map[" + e.goType(f.Message.Fields[0]) + "]" + e.goType(f.Message.Fields[1])
	case f.Desc.IsList():
		return "[]" + e.goType(f)
	case goPointer(f):
		return "*" + e.goType(f)
	}
	return e.goType(f)
}

// zeroValue is the zero value of fieldGoType(f).
func zeroValue(f *protogen.Field) string {
	switch {
	case f.Desc.IsMap(), f.Desc.IsList(), goPointer(f):
		return "nil"
	}
	switch f.Desc.Kind() {
	case protoreflect.BoolKind:
		return "false"
	case protoreflect.StringKind:
		return `""`
	case protoreflect.BytesKind, protoreflect.MessageKind, protoreflect.GroupKind:
		return "nil"
	}
	return "0"
}

func readable(pr *propPlan) bool { return pr.access != kdbusv1.PropertyAccess_PROPERTY_ACCESS_WRITE }
func writable(pr *propPlan) bool { return pr.access != kdbusv1.PropertyAccess_PROPERTY_ACCESS_READ }

// docLines writes a comment's text as Go comment lines after a first line.
func (e *emitter) docLines(first string, c protogen.Comments) {
	e.P("// ", first)
	if doc := docText(c); doc != "" {
		e.P("//")
		for _, l := range strings.Split(doc, "\n") {
			e.P(strings.TrimRight("// "+l, " "))
		}
	}
}

// memberConsts writes the constants naming the service's signals and properties.
func (e *emitter) memberConsts(sp *servicePlan) {
	n := sp.names
	name := sp.svc.Desc.Name()
	if len(sp.signals) > 0 {
		e.P("// D-Bus member names of the ", name, " service's signals.")
		e.P("const (")
		for _, sg := range sp.signals {
			e.P(n.sigConsts[sg.msg], " = ", strconv.Quote(sg.member))
		}
		e.P(")")
		e.P()
	}
	if sp.props != nil && len(sp.props.props) > 0 {
		e.P("// D-Bus names of the ", name, " service's properties.")
		e.P("const (")
		for _, pr := range sp.props.props {
			e.P(pr.constName, " = ", strconv.Quote(pr.name))
		}
		e.P(")")
		e.P()
	}
}

// clientMethods writes the client interface's methods for signals and properties.
func (e *emitter) clientMethods(sp *servicePlan) {
	if sp.props == nil && len(sp.signals) == 0 {
		return
	}
	ctx := e.g.QualifiedGoIdent(contextPkg.Ident("Context"))
	callOpt := e.rt("CallOption")
	subOpt := e.rt("SubscribeOption")
	if pp := sp.props; pp != nil {
		t := e.ident(pp.msg.GoIdent)
		for _, pr := range pp.props {
			f := pr.field
			if readable(pr) {
				e.docLines("Get"+f.GoName+" reads property "+pr.name+".", f.Comments.Leading)
				e.P("Get", f.GoName, "(ctx ", ctx, ", opts ...", callOpt, ") (", e.fieldGoType(f), ", error)")
			}
			if writable(pr) {
				e.docLines("Set"+f.GoName+" writes property "+pr.name+".", f.Comments.Leading)
				e.P("Set", f.GoName, "(ctx ", ctx, ", v ", e.fieldGoType(f), ", opts ...", callOpt, ") error")
			}
		}
		e.P("// GetProperties reads every readable property at once.")
		e.P("GetProperties(ctx ", ctx, ", opts ...", callOpt, ") (*", t, ", error)")
		e.P("// WatchProperties subscribes to the changes of the properties (PropertiesChanged). Read their")
		e.P("// current values with GetProperties after subscribing.")
		e.P("WatchProperties(ctx ", ctx, ", opts ...", subOpt, ") (*", e.rt("Signals"), "[", e.rt("PropertiesChanged"), "[", t, "]], error)")
	}
	for _, sg := range sp.signals {
		e.docLines("Subscribe"+sg.member+" subscribes to the "+sg.member+" signal.", sg.msg.Comments.Leading)
		e.P("Subscribe", sg.member, "(ctx ", ctx, ", opts ...", subOpt, ") (*", e.rt("Signals"), "[", e.ident(sg.msg.GoIdent), "], error)")
	}
}

// clientImpls writes the client's implementations of those methods.
func (e *emitter) clientImpls(sp *servicePlan) {
	if sp.props == nil && len(sp.signals) == 0 {
		return
	}
	n := sp.names
	if sp.props == nil && len(sp.signals) == 0 {
		return // nothing to write, and no context to import
	}
	ctx := e.g.QualifiedGoIdent(contextPkg.Ident("Context"))
	callOpt := e.rt("CallOption")
	subOpt := e.rt("SubscribeOption")
	if pp := sp.props; pp != nil {
		t := e.ident(pp.msg.GoIdent)
		for _, pr := range pp.props {
			f := pr.field
			if readable(pr) {
				e.P("func (c *", n.clientImpl, ") Get", f.GoName, "(ctx ", ctx, ", opts ...", callOpt, ") (", e.fieldGoType(f), ", error) {")
				e.P("v, err := ", n.propsVar, ".Get(ctx, c.obj, ", pr.constName, ", opts...)")
				e.P("if err != nil {")
				e.P("return ", zeroValue(f), ", err")
				e.P("}")
				e.P("return v.", f.GoName, ", nil")
				e.P("}")
				e.P()
			}
			if writable(pr) {
				e.P("func (c *", n.clientImpl, ") Set", f.GoName, "(ctx ", ctx, ", v ", e.fieldGoType(f), ", opts ...", callOpt, ") error {")
				e.P("return ", n.propsVar, ".Set(ctx, c.obj, ", pr.constName, ", &", t, "{", f.GoName, ": v}, opts...)")
				e.P("}")
				e.P()
			}
		}
		e.P("func (c *", n.clientImpl, ") GetProperties(ctx ", ctx, ", opts ...", callOpt, ") (*", t, ", error) {")
		e.P("return ", n.propsVar, ".GetAll(ctx, c.obj, opts...)")
		e.P("}")
		e.P()
		e.P("func (c *", n.clientImpl, ") WatchProperties(ctx ", ctx, ", opts ...", subOpt, ") (*", e.rt("Signals"), "[", e.rt("PropertiesChanged"), "[", t, "]], error) {")
		e.P("return ", n.propsVar, ".Watch(ctx, c.obj, opts...)")
		e.P("}")
		e.P()
	}
	for _, sg := range sp.signals {
		e.P("func (c *", n.clientImpl, ") Subscribe", sg.member, "(ctx ", ctx, ", opts ...", subOpt, ") (*", e.rt("Signals"), "[", e.ident(sg.msg.GoIdent), "], error) {")
		e.P("return ", n.sigVars[sg.msg], ".Subscribe(ctx, c.obj, opts...)")
		e.P("}")
		e.P()
	}
}

// signalsAndProperties writes the signal descriptions, the emitter, the argument filters, the
// property descriptions and the property store of a service.
func (e *emitter) signalsAndProperties(sp *servicePlan) {
	n := sp.names
	name := sp.svc.Desc.Name()
	for _, sg := range sp.signals {
		e.P("var ", n.sigVars[sg.msg], " = ", e.rt("SignalType"), "[", e.ident(sg.msg.GoIdent), "]{")
		e.P("Interface: ", n.iface, ",")
		e.P("Name: ", n.sigConsts[sg.msg], ",")
		e.P("Args: ", e.codecExpr(sg.codec), ",")
		e.P("}")
		e.P()
	}
	if len(sp.signals) > 0 {
		e.P("// ", n.emitter, " emits the signals of the ", name, " service from one object path.")
		e.P("type ", n.emitter, " struct {")
		e.P("em *", e.rt("Emitter"))
		e.P("}")
		e.P()
		e.P("// ", n.newEmitter, " returns an emitter of the ", name, " service's signals on conn, from ", n.path)
		e.P("// unless ", e.rt("EmitAt"), " says otherwise. Signals are broadcast unless ", e.rt("EmitTo"), " names a receiver.")
		e.P("func ", n.newEmitter, "(conn *", e.rt("Conn"), ", opts ...", e.rt("EmitOption"), ") *", n.emitter, " {")
		e.P("return &", n.emitter, "{em: ", e.rt("NewEmitter"), "(conn, &", n.desc, ", opts...)}")
		e.P("}")
		e.P()
		for _, sg := range sp.signals {
			e.docLines("Emit"+sg.member+" emits the "+sg.member+" signal with arguments v.", sg.msg.Comments.Leading)
			if sg.deprecated {
				e.P("//")
				e.P("// Deprecated: Do not use.")
			}
			e.P("func (x *", n.emitter, ") Emit", sg.member, "(v *", e.ident(sg.msg.GoIdent), ") error {")
			e.P("return ", n.sigVars[sg.msg], ".Emit(x.em, v)")
			e.P("}")
			e.P()
		}
		for _, sg := range sp.signals {
			for _, fp := range sg.filters {
				what := map[string]string{"s": "", "o": " (an object path)", "g": " (a signature)"}[fp.sig]
				e.P("// ", fp.fn, " subscribes only to the ", sg.member, " signals whose ", fp.field.Desc.Name(), " argument", what, " is v.")
				e.P("func ", fp.fn, "(v string) ", e.rt("SubscribeOption"), " {")
				e.P("return ", e.rt("MatchArg"), "(", n.sigConsts[sg.msg], ", ", fp.index, ", v)")
				e.P("}")
				e.P()
			}
		}
	}
	pp := sp.props
	if pp == nil {
		return
	}
	t := e.ident(pp.msg.GoIdent)
	wireEnc := "*" + e.wire("Encoder")
	wireDec := "*" + e.wire("Decoder")
	e.P("var ", n.propsVar, " = ", e.rt("Properties"), "[", t, "]{")
	e.P("Interface: ", n.iface, ",")
	e.P("Props: []", e.rt("Property"), "[", t, "]{")
	for _, pr := range pp.props {
		f := pr.field
		e.P("{")
		e.P("Name: ", pr.constName, ",")
		e.P("Sig: ", strconv.Quote(pr.u.n.sig), ",")
		e.P("Access: ", e.rt(map[string]string{"read": "Read", "write": "Write", "readwrite": "ReadWrite"}[accessText(pr.access)]), ",")
		e.P("Change: ", e.rt(map[string]string{"true": "ChangeEmitsValue", "invalidates": "ChangeInvalidates", "const": "ChangeConst", "false": "ChangeNone"}[changeText(pr.change)]), ",")
		e.tmp = 0
		e.P("Encode: func(e ", wireEnc, ", m *", t, ") {")
		if pr.u.n.dynamic {
			e.P("const depth = ", propertyDepth)
		}
		e.encodeUnit(pr.u)
		e.P("},")
		e.tmp = 0
		e.P("Decode: func(d ", wireDec, ", m *", t, ") {")
		if pr.u.n.dynamic {
			e.P("const depth = ", propertyDepth)
		}
		e.decodeUnit(pr.u)
		e.P("},")
		e.P("Copy: func(dst, src *", t, ") { dst.", f.GoName, " = src.", f.GoName, " },")
		e.P("},")
	}
	e.P("},")
	e.P("}")
	e.P()

	e.P("// ", n.props, " holds the values of the ", name, " service's properties on the server side. It")
	e.P("// answers org.freedesktop.DBus.Properties for every object it is registered with, and its setters")
	e.P("// announce changes with PropertiesChanged as each property declares. Values are kept, not copied:")
	e.P("// do not modify a map, slice or message after setting it. Update changes several at once;")
	e.P("// OnSet checks the writes of clients.")
	e.P("type ", n.props, " struct {")
	e.P("*", e.rt("PropertyStore"), "[", t, "]")
	e.P("}")
	e.P()
	e.P("// ", n.newProps, " returns a store of the ", name, " service's properties holding the values of")
	e.P("// initial's fields (nil: zero values).")
	e.P("func ", n.newProps, "(initial *", t, ") *", n.props, " {")
	e.P("return &", n.props, "{", n.propsVar, ".NewStore(initial)}")
	e.P("}")
	e.P()
	for _, pr := range pp.props {
		f := pr.field
		e.docLines(f.GoName+" returns the value of property "+pr.name+".", f.Comments.Leading)
		e.P("func (p *", n.props, ") ", f.GoName, "() ", e.fieldGoType(f), " {")
		e.P("return p.PropertyStore.Property(", pr.index, ").", f.GoName)
		e.P("}")
		e.P()
		if pr.change == kdbusv1.PropertyChange_PROPERTY_CHANGE_CONST {
			continue
		}
		what := map[string]string{
			"true":        "and announces the new value",
			"invalidates": "and announces that it changed (without the value)",
			"false":       "without announcing it",
		}[changeText(pr.change)]
		e.P("// Set", f.GoName, " sets property ", pr.name, " to v, ", what, " when it differs from the")
		e.P("// current value.")
		e.P("func (p *", n.props, ") Set", f.GoName, "(v ", e.fieldGoType(f), ") error {")
		e.P("return p.PropertyStore.SetProperty(", pr.index, ", &", t, "{", f.GoName, ": v})")
		e.P("}")
		e.P()
	}
}

// registerFunc writes the service's Register function.
func (e *emitter) registerFunc(sp *servicePlan, deprecated func()) {
	n := sp.names
	if sp.props == nil {
		e.P("// ", n.register, " serves impl on r at ", n.path, ", or at the path ", e.rt("AtPath"), " gives.")
		deprecated()
		e.P("func ", n.register, "(r ", e.rt("Registrar"), ", impl ", n.server, ", opts ...", e.rt("RegisterOption"), ") error {")
		e.checkEmbedding(n)
		e.P("return r.Register(&", n.desc, ", impl, opts...)")
		e.P("}")
		e.P()
		e.P("// ", n.export, " serves impl on conn at a new object path of its own and returns a reference")
		e.P("// to it, to pass to a peer (a callback, a session object) who calls it with ", n.newClient, "(conn,")
		e.P("// ", e.rt("Target"), "(ref)). ", e.rt("Conn"), ".Unexport stops serving it.")
		deprecated()
		e.P("func ", n.export, "(conn *", e.rt("Conn"), ", impl ", n.server, ") (*", e.rt("ObjectRef"), ", error) {")
		e.P("return conn.Export(func(r ", e.rt("Registrar"), ") error { return ", n.register, "(r, impl) })")
		e.P("}")
		e.P()
		return
	}
	e.P("// ", n.register, " serves impl and the property values in props on r at ", n.path, ", or at the")
	e.P("// path ", e.rt("AtPath"), " gives. One store may be registered at several paths or connections.")
	deprecated()
	e.P("func ", n.register, "(r ", e.rt("Registrar"), ", impl ", n.server, ", props *", n.props, ", opts ...", e.rt("RegisterOption"), ") error {")
	e.checkEmbedding(n)
	e.P("var store ", e.rt("PropertyHost"))
	e.P("if props != nil {")
	e.P("store = props.PropertyStore")
	e.P("}")
	e.P("return r.Register(&", n.desc, ", impl, append(opts[:len(opts):len(opts)], ", e.rt("WithProperties"), "(store))...)")
	e.P("}")
	e.P()
	e.P("// ", n.export, " serves impl and props on conn at a new object path of its own and returns a")
	e.P("// reference to it, to pass to a peer who calls it with ", n.newClient, "(conn, ", e.rt("Target"), "(ref)).")
	e.P("// ", e.rt("Conn"), ".Unexport stops serving it.")
	deprecated()
	e.P("func ", n.export, "(conn *", e.rt("Conn"), ", impl ", n.server, ", props *", n.props, ") (*", e.rt("ObjectRef"), ", error) {")
	e.P("return conn.Export(func(r ", e.rt("Registrar"), ") error { return ", n.register, "(r, impl, props) })")
	e.P("}")
	e.P()
}
