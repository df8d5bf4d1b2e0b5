package generator

import (
	"fmt"
	"path"
	"strings"

	"github.com/kdbus-go/kdbus/introspect"
	kdbusv1 "github.com/kdbus-go/kdbus/proto/kdbus/v1"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Annotations of our own on arguments.
const (
	// AnnotationEnum names the proto enum an i argument (or its elements) holds.
	AnnotationEnum = "org.kdbusgo.Enum"
	// AnnotationProto names the message an ay argument (or its elements) holds serialized.
	AnnotationProto = "org.kdbusgo.Proto"
	// AnnotationMemfd marks an h argument (or its elements) as a sealed memfd whose
	// contents are the bytes of the field.
	AnnotationMemfd = "org.kdbusgo.Memfd"
)

// Annotations of our own on the opening call of a streaming rpc.
const (
	// AnnotationStream marks a method as a stream's opening call; its value says which sides
	// stream: "server", "client" or "bidi".
	AnnotationStream = "org.kdbusgo.Stream"
	// AnnotationStreamIn gives the D-Bus signature of the client's frames (client and bidi).
	AnnotationStreamIn = "org.kdbusgo.Stream.In"
	// AnnotationStreamOut gives the D-Bus signature of the server's frames (server and bidi).
	AnnotationStreamOut = "org.kdbusgo.Stream.Out"
)

// A stream frame travels as the struct of its message's fields inside the body "uua(FRAME)"
// of a Data signal: frameSigExtra more signature characters, one more array and struct level,
// and two more containers than the fields alone.
const frameSigExtra = len("uua()")

// filePlan is everything generated for one .proto file.
type filePlan struct {
	file     *protogen.File
	stem     string
	services []*servicePlan

	codecs     []*topCodec // whole requests and responses, in first-use order
	codecByMsg map[protoreflect.FullName]*topCodec
	infos      []*info // messages whose fields are encoded by functions of this file, in first-use order
	encNames   map[*info]string
	decNames   map[*info]string
}

// topCodec is the codec of a message as a whole request or response.
type topCodec struct {
	msg     *protogen.Message
	runtime string // the kdbusimpl codec variable for Empty and the well-known types
	whole   bool   // the fallback carries the message as one serialized argument (fallback.go)
	info    *info  // the message's units otherwise
	varName string // the generated codec variable
	sig     string
	args    []introspect.Arg // without direction
}

type servicePlan struct {
	svc              *protogen.Service
	names            *serviceNames
	iface, path, bus string
	errors           []string                // service-defined error names (the last element)
	errCodes         map[string]kdbusv1.Code // the codes of errors listed with one
	methods          []*methodPlan
	signals          []*signalPlan
	props            *propsPlan // nil without properties
	deprecated       bool
	xmlIface, xmlDoc string
}

type methodPlan struct {
	m                   *protogen.Method
	member              string
	noReply, deprecated bool
	in, out             *topCodec
	// clientStreams and serverStreams say which sides of a streaming rpc send frames.
	clientStreams, serverStreams bool
}

// streaming reports whether the method is a streaming rpc.
func (mp *methodPlan) streaming() bool { return mp.clientStreams || mp.serverStreams }

// streamKind is the value of the method's AnnotationStream: "server", "client" or "bidi".
func (mp *methodPlan) streamKind() string {
	switch {
	case mp.clientStreams && mp.serverStreams:
		return "bidi"
	case mp.clientStreams:
		return "client"
	}
	return "server"
}

const (
	hintInterface = "use two or more dot-separated elements of letters, digits and underscores, none starting with a digit, 255 characters at most, such as org.example.Greeter1"
	hintPath      = "use an absolute path of /-separated elements of letters, digits and underscores, such as /org/example/Greeter1"
	hintBusName   = "use two or more dot-separated elements of letters, digits, underscores and hyphens, none starting with a digit, such as org.example.Greeter1"
	hintMember    = "use letters, digits and underscores, not starting with a digit, 255 characters at most, such as SayHello"
)

func serviceOptions(s *protogen.Service) *kdbusv1.ServiceOptions {
	o, _ := extension(s.Desc.Options(), kdbusv1.E_Service).(*kdbusv1.ServiceOptions)
	return o
}

func methodOptions(m *protogen.Method) *kdbusv1.MethodOptions {
	o, _ := extension(m.Desc.Options(), kdbusv1.E_Method).(*kdbusv1.MethodOptions)
	return o
}

func (g *generator) planFile(f *protogen.File) *filePlan {
	p := &filePlan{
		file:       f,
		stem:       sanitize(path.Base(f.GeneratedFilenamePrefix)),
		codecByMsg: map[protoreflect.FullName]*topCodec{},
		encNames:   map[*info]string{},
		decNames:   map[*info]string{},
	}
	for _, s := range f.Services {
		p.services = append(p.services, g.planService(p, s))
		checkConstants(&g.diags, s.Desc, serviceOptions(s).GetConstants())
	}
	walkMessages(f.Messages, func(m *protogen.Message) {
		checkConstants(&g.diags, m.Desc, messageOptions(m).GetConstants())
		checkDefaults(&g.diags, m)
	})
	p.collectInfos()
	g.warnFallback(p, g.fallbacks[f.Desc.Path()])
	return p
}

func (g *generator) planService(p *filePlan, s *protogen.Service) *servicePlan {
	f := p.file
	opts := serviceOptions(s)
	ext := int32(kdbusv1.E_Service.TypeDescriptor().Number())
	optPath := func(sub ...int32) protoreflect.SourcePath {
		return optionPath(s.Location.Path, serviceOptionsField, ext, sub...)
	}
	sp := &servicePlan{
		svc:        s,
		names:      g.serviceNames[s],
		deprecated: s.Desc.Options().(*descriptorpb.ServiceOptions).GetDeprecated(),
	}
	name := string(s.Desc.Name())

	switch pkg := string(f.Desc.Package()); {
	case opts.GetInterface() != "":
		sp.iface = opts.GetInterface()
		if err := wire.ValidateInterfaceName(sp.iface); err != nil {
			g.diags.addAt(s.Desc, optPath(1), fmt.Sprintf("option interface: %v", err), hintInterface)
		}
	case pkg == "":
		g.diags.add(s.Desc, "the file has no package, so the service has no D-Bus interface name (one needs at least two dot-separated elements)",
			fmt.Sprintf("add a package statement such as \"package example.v1;\", or set option (kdbus.v1.service) = { interface: \"org.example.%s1\" }", name))
	default:
		sp.iface = pkg + "." + name
		if err := wire.ValidateInterfaceName(sp.iface); err != nil {
			g.diags.add(s.Desc, fmt.Sprintf("the interface name made of the package and the service name is not valid: %v", err),
				"set option (kdbus.v1.service).interface; "+hintInterface)
		}
	}

	if op := opts.GetObjectPath(); op != "" {
		sp.path = op
		if err := wire.ValidateObjectPath(op); err != nil {
			g.diags.addAt(s.Desc, optPath(2), fmt.Sprintf("option object_path: %v", err), hintPath)
		}
	} else if sp.iface != "" {
		sp.path = "/" + strings.ReplaceAll(sp.iface, ".", "/")
	}

	if bn := opts.GetBusName(); bn != "" {
		sp.bus = bn
		if err := wire.ValidateWellKnownName(bn); err != nil {
			g.diags.addAt(s.Desc, optPath(3), fmt.Sprintf("option bus_name: %v", err), hintBusName)
		}
	}

	seenErr := map[string]bool{}
	addError := func(e, opt string, errPath protoreflect.SourcePath) bool {
		switch {
		case !isGoIdentPart(e):
			g.diags.addAt(s.Desc, errPath, fmt.Sprintf("option %s: %q is not a D-Bus name element", opt, e),
				"name each error with letters, digits and underscores, not starting with a digit, such as NotReady; the interface name and \".Error.\" are prepended")
		case seenErr[e]:
			g.diags.addAt(s.Desc, errPath, fmt.Sprintf("option %s: %q is listed twice", opt, e), "list each error once, in errors or in error")
		default:
			seenErr[e] = true
			if sp.iface != "" {
				if err := wire.ValidateErrorName(sp.iface + ".Error." + e); err != nil {
					g.diags.addAt(s.Desc, errPath, fmt.Sprintf("option %s: %v", opt, err), "use a shorter error or interface name")
				}
			}
			sp.errors = append(sp.errors, e)
			return true
		}
		return false
	}
	for i, e := range opts.GetErrors() {
		addError(e, "errors", optPath(4, int32(i)))
	}
	for i, se := range opts.GetError() {
		errPath := optPath(8, int32(i))
		if _, ok := kdbusv1.Code_name[int32(se.GetCode())]; !ok {
			g.diags.addAt(s.Desc, errPath, fmt.Sprintf("option error: %q has code %d, which is not a status code", se.GetName(), se.GetCode()),
				"use one of the kdbus.v1.Code values, such as CODE_INVALID_ARGUMENT")
			continue
		}
		if addError(se.GetName(), "error", errPath) {
			if sp.errCodes == nil {
				sp.errCodes = map[string]kdbusv1.Code{}
			}
			sp.errCodes[se.GetName()] = se.GetCode()
		}
	}

	members := map[string]*protogen.Method{}
	mext := int32(kdbusv1.E_Method.TypeDescriptor().Number())
	for _, m := range s.Methods {
		mo := methodOptions(m)
		mPath := func(field int32) protoreflect.SourcePath {
			return optionPath(m.Location.Path, methodOptionsField, mext, field)
		}
		mp := &methodPlan{
			m:             m,
			member:        string(m.Desc.Name()),
			noReply:       mo.GetNoReply(),
			deprecated:    m.Desc.Options().(*descriptorpb.MethodOptions).GetDeprecated(),
			clientStreams: m.Desc.IsStreamingClient(),
			serverStreams: m.Desc.IsStreamingServer(),
		}
		if mem := mo.GetMember(); mem != "" {
			mp.member = mem
			if err := wire.ValidateMemberName(mem); err != nil {
				g.diags.addAt(m.Desc, mPath(2), fmt.Sprintf("option member: %v", err), hintMember)
			}
		}
		if prev := members[mp.member]; prev != nil {
			g.diags.add(m.Desc, fmt.Sprintf("D-Bus member name %q is already used by rpc %s", mp.member, prev.Desc.Name()),
				"give one of them another name with option (kdbus.v1.method).member")
		}
		members[mp.member] = m
		switch {
		case mp.noReply && mp.streaming():
			g.diags.addAt(m.Desc, mPath(1), "a streaming rpc cannot be no_reply: the reply to its opening call ends the stream with its status",
				"remove no_reply, or make the rpc unary")
		case mp.noReply && m.Output.Desc.FullName() != emptyName:
			g.diags.addAt(m.Desc, mPath(1), fmt.Sprintf("a no_reply method sends no reply, but it returns %s", m.Output.Desc.FullName()),
				"make the rpc return google.protobuf.Empty, or remove no_reply")
		}
		mp.in = g.topCodec(p, m.Input)
		mp.out = g.topCodec(p, m.Output)
		sp.methods = append(sp.methods, mp)
	}

	g.planSignals(p, sp, optPath)
	g.planProperties(sp, optPath)
	g.checkGoNames(sp)
	sp.buildXML()
	return sp
}

// topCodec returns the codec of msg as a whole request, response, signal or stream frame. Its
// arguments fit D-Bus's limits: the fallback decisions of the file's model (fallback.go) see
// to it.
func (g *generator) topCodec(p *filePlan, msg *protogen.Message) *topCodec {
	name := msg.Desc.FullName()
	if c := p.codecByMsg[name]; c != nil {
		return c
	}
	c := &topCodec{msg: msg}
	switch w := wkts[name]; {
	case name == emptyName:
		c.runtime = "EmptyCodec"
	case w != nil:
		c.runtime = w.name + "Codec"
		for _, a := range w.args {
			c.sig += a.sig
			c.args = append(c.args, introspect.Arg{Name: a.name, Type: a.sig})
		}
	case g.model.whole[name]:
		c.whole = true
		c.sig = "ay"
		c.args = []introspect.Arg{{Name: wholeArgName(msg), Type: "ay",
			Annotations: []introspect.Annotation{{Name: AnnotationProto, Value: string(name)}}}}
	default:
		c.info = g.model.messageInfo(msg)
		c.sig = c.info.sig
		for _, u := range c.info.units {
			c.args = append(c.args, unitArg(u))
		}
	}
	p.codecByMsg[name] = c
	p.codecs = append(p.codecs, c)
	return c
}

// unitArg describes a unit as an introspection argument, without direction.
func unitArg(u *unit) introspect.Arg {
	a := introspect.Arg{Name: u.name, Type: u.n.sig}
	if u.n.kind == kOneof {
		return a
	}
	if f, ok := fieldsAnnotation(u.n); ok {
		a.Annotations = append(a.Annotations, f)
	}
	leaf := u.n
	switch leaf.kind {
	case kOptional, kList, kMap:
		leaf = leaf.elem
	}
	switch {
	case leaf.leafFD.Desc.Kind() == protoreflect.EnumKind:
		a.Annotations = append(a.Annotations, introspect.Annotation{Name: AnnotationEnum, Value: string(leaf.leafFD.Enum.Desc.FullName())})
	case leaf.kind == kProto:
		a.Annotations = append(a.Annotations, introspect.Annotation{Name: AnnotationProto, Value: string(leaf.message.Desc.FullName())})
	case leaf.kind == kMemfd:
		a.Annotations = append(a.Annotations, introspect.Annotation{Name: AnnotationMemfd, Value: "true"})
	}
	if u.n.field.Desc.Options().(*descriptorpb.FieldOptions).GetDeprecated() {
		a.Annotations = append(a.Annotations, introspect.Annotation{Name: introspect.AnnotationDeprecated, Value: "true"})
	}
	return a
}

// docText is a leading comment as documentation text: one leading space per line removed,
// trailing spaces and surrounding blank lines dropped.
func docText(c protogen.Comments) string {
	lines := strings.Split(string(c), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(strings.TrimRight(l, " \t\r"), " ")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

func (sp *servicePlan) buildXML() {
	iface := introspect.Interface{Name: sp.iface}
	for _, mp := range sp.methods {
		im := introspect.Method{Name: mp.member}
		// A stream's opening call carries the request's fields only when the client sends
		// one request, and the response's only when the server sends one response.
		if !mp.clientStreams {
			for _, a := range mp.in.args {
				a.Direction = "in"
				im.Args = append(im.Args, a)
			}
		}
		if !mp.serverStreams {
			for _, a := range mp.out.args {
				a.Direction = "out"
				im.Args = append(im.Args, a)
			}
		}
		if mp.streaming() {
			im.Annotations = append(im.Annotations, introspect.Annotation{Name: AnnotationStream, Value: mp.streamKind()})
			if mp.clientStreams {
				im.Annotations = append(im.Annotations, introspect.Annotation{Name: AnnotationStreamIn, Value: mp.in.sig})
				im.Annotations = appendFrameFields(im.Annotations, AnnotationStreamIn, mp.in)
			}
			if mp.serverStreams {
				im.Annotations = append(im.Annotations, introspect.Annotation{Name: AnnotationStreamOut, Value: mp.out.sig})
				im.Annotations = appendFrameFields(im.Annotations, AnnotationStreamOut, mp.out)
			}
		}
		if mp.deprecated {
			im.Annotations = append(im.Annotations, introspect.Annotation{Name: introspect.AnnotationDeprecated, Value: "true"})
		}
		if mp.noReply {
			im.Annotations = append(im.Annotations, introspect.Annotation{Name: introspect.AnnotationNoReply, Value: "true"})
		}
		if doc := docText(mp.m.Comments.Leading); doc != "" {
			im.Annotations = append(im.Annotations, introspect.Annotation{Name: introspect.AnnotationDocString, Value: doc})
		}
		iface.Methods = append(iface.Methods, im)
	}
	for _, sg := range sp.signals {
		iface.Signals = append(iface.Signals, sg.xml())
	}
	if sp.props != nil {
		for _, pr := range sp.props.props {
			iface.Properties = append(iface.Properties, pr.xml())
		}
	}
	if sp.deprecated {
		iface.Annotations = append(iface.Annotations, introspect.Annotation{Name: introspect.AnnotationDeprecated, Value: "true"})
	}
	if doc := docText(sp.svc.Comments.Leading); doc != "" {
		iface.Annotations = append(iface.Annotations, introspect.Annotation{Name: introspect.AnnotationDocString, Value: doc})
	}
	sp.xmlIface = iface.XML()
	sp.xmlDoc = introspect.Document([]string{sp.xmlIface}, nil)
}

// collectInfos lists the messages whose field codecs the file needs: the whole requests and
// responses, and every message expanded as a struct inside them, depth first.
func (p *filePlan) collectInfos() {
	seen := map[*info]bool{}
	var visit func(in *info)
	var visitNode func(n *node)
	visit = func(in *info) {
		if seen[in] {
			return
		}
		seen[in] = true
		p.infos = append(p.infos, in)
		for _, u := range in.units {
			visitNode(u.n)
		}
	}
	visitNode = func(n *node) {
		switch n.kind {
		case kStruct, kUnwrap:
			visit(n.msg)
		case kOptional, kList, kMap:
			visitNode(n.elem)
		case kOneof:
			for _, mb := range n.members {
				visitNode(mb)
			}
		}
	}
	for _, c := range p.codecs {
		if c.info != nil {
			visit(c.info)
		}
	}
	for _, sp := range p.services {
		if sp.props != nil {
			for _, pr := range sp.props.props {
				visitNode(pr.u.n)
			}
		}
	}
}

// allocNames names the file's codec variables and functions.
func (p *filePlan) allocNames(gen *protogen.Plugin, n *namer) {
	for _, c := range p.codecs {
		if c.runtime == "" {
			c.varName = n.alloc("kdbusCodec_" + p.stem + "_" + codecKey(gen, p.file, c.msg))
		}
	}
	for _, in := range p.infos {
		key := codecKey(gen, p.file, in.msg)
		p.encNames[in] = n.alloc("kdbusEncode_" + p.stem + "_" + key)
		p.decNames[in] = n.alloc("kdbusDecode_" + p.stem + "_" + key)
	}
}
