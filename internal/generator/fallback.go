package generator

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The fallback. Where D-Bus cannot hold a message's typed form (a signature over its length,
// nesting past its depths), values travel as ay holding the message serialized, as recursive
// messages always do. It is decided per generated file, from the file's services alone, one
// step at a time until everything fits:
//
//   - a site (the arguments of a method, stream frame or signal, a property, a oneof member's
//     variant) nests too deeply: the message field on the deepest path that is deepest while
//     leaving room for its ay is serialized;
//   - a site's signature is too long: the message field declaration whose serialization
//     removes the fewest characters while removing enough is serialized, or, when none is
//     enough alone, the one that removes the most (ties by full name); when serializing every
//     message field would not be enough, the arguments' whole message travels as one ay.
//
// A field declaration, once chosen, is serialized wherever its message appears in the file's
// mapping, so each message keeps one codec per generated file.

// limits are what D-Bus allows at one site: a signature's length, the nesting of arrays and
// of structs in it, and the nesting of containers in its values.
type limits struct{ sig, arrays, structs, total int }

func (l limits) get(mt metric) int {
	switch mt {
	case metricArrays:
		return l.arrays
	case metricStructs:
		return l.structs
	}
	return l.total
}

var (
	// argLimits hold for the arguments of a method call, reply or signal.
	argLimits = limits{wire.MaxSignatureLength, wire.MaxArrayDepth, wire.MaxStructDepth, wire.MaxTotalDepth}
	// frameLimits hold for a stream frame's fields, which travel as a struct in the array of a
	// Data signal "uua(FRAME)".
	frameLimits = limits{wire.MaxSignatureLength - frameSigExtra, wire.MaxArrayDepth - 1, wire.MaxStructDepth - 1, wire.MaxTotalDepth - 2}
	// propLimits hold for a property's value, which travels in a variant inside GetAll's a{sv}.
	propLimits = limits{wire.MaxSignatureLength, wire.MaxArrayDepth, wire.MaxStructDepth, wire.MaxTotalDepth - 3}
	// memberLimits hold for a oneof member's variant, a signature of its own; its containers
	// count in the site that holds the oneof.
	memberLimits = limits{wire.MaxSignatureLength, wire.MaxArrayDepth, wire.MaxStructDepth, sigCap}
)

type siteKind int

const (
	siteArgs     siteKind = iota // the fields of a message as arguments (a method, a frame, a signal)
	siteProperty                 // one property's value
	siteMember                   // one oneof member's value in its variant
)

// site is one place whose D-Bus form must fit limits.
type site struct {
	kind  siteKind
	where protoreflect.Descriptor // the rpc or service, the property's field or the oneof member
	what  string                  // the site in words: "the in-arguments of rpc x.Svc.Get"
	msg   *protogen.Message       // siteArgs: the message whose fields are the arguments
	lim   limits
	frame bool
	nodes []*node // the arguments; the property's or member's value
}

// violation is how a site goes beyond its limits.
type violation struct {
	sig          bool   // the signature is too long; otherwise the nesting of mt is too deep
	mt           metric // !sig: the nesting
	node         *node  // !sig: the argument or value that nests too deeply
	value, limit int
}

// decision is one step of the fallback: serialize field's values, or the whole message
// whole where it is a site's arguments.
type decision struct {
	field  *protogen.Field
	whole  *protogen.Message
	reason string // the site's problem, for the warning
}

// fileSites lists the sites of file f under model m: the oneof members' variants first, then
// each service's methods, signals and properties in declaration order.
func fileSites(f *protogen.File, m *model) []*site {
	var out []*site
	args := func(msg *protogen.Message, where protoreflect.Descriptor, what string, frame bool) {
		name := msg.Desc.FullName()
		if name == emptyName || wkts[name] != nil || m.whole[name] {
			return
		}
		s := &site{kind: siteArgs, where: where, what: what + " (the fields of " + string(name) + ")", msg: msg, lim: argLimits, frame: frame}
		if frame {
			s.lim = frameLimits
		}
		for _, u := range m.messageInfo(msg).units {
			s.nodes = append(s.nodes, u.n)
		}
		out = append(out, s)
	}
	for _, s := range f.Services {
		for _, md := range s.Methods {
			in, out := "in-arguments", "out-arguments"
			if md.Desc.IsStreamingClient() {
				in = "client stream frames"
			}
			if md.Desc.IsStreamingServer() {
				out = "server stream frames"
			}
			args(md.Input, md.Desc, "the "+in+" of rpc "+string(md.Desc.FullName()), md.Desc.IsStreamingClient())
			args(md.Output, md.Desc, "the "+out+" of rpc "+string(md.Desc.FullName()), md.Desc.IsStreamingServer())
		}
		opts := serviceOptions(s)
		for _, name := range opts.GetSignals() {
			if msg := m.resolveMessage(s, name); msg != nil {
				args(msg, s.Desc, "the arguments of signal "+string(msg.Desc.Name())+" of service "+string(s.Desc.FullName()), false)
			}
		}
		if name := opts.GetProperties(); name != "" {
			msg := m.resolveMessage(s, name)
			if msg != nil && wkts[msg.Desc.FullName()] == nil && msg.Desc.FullName() != emptyName {
				for _, u := range m.messageInfo(msg).units {
					if u.n.kind == kOneof {
						continue
					}
					out = append(out, &site{kind: siteProperty, where: u.n.field.Desc, lim: propLimits, nodes: []*node{u.n},
						what: "the value of property " + propertyName(u.n.field) + " of service " + string(s.Desc.FullName())})
				}
			}
		}
	}
	var members []*site
	seen := map[*info]bool{}
	seenOneof := map[*node]bool{}
	var visit func(n *node)
	visit = func(n *node) {
		switch n.kind {
		case kStruct, kUnwrap:
			if !seen[n.msg] {
				seen[n.msg] = true
				for _, u := range n.msg.units {
					visit(u.n)
				}
			}
		case kOptional, kList, kMap:
			visit(n.elem)
		case kOneof:
			if seenOneof[n] {
				return
			}
			seenOneof[n] = true
			for i, mb := range n.members {
				fd := n.oneof.Fields[i].Desc
				members = append(members, &site{kind: siteMember, where: fd, lim: memberLimits, nodes: []*node{mb},
					what: "the variant of oneof member " + string(fd.FullName())})
				visit(mb)
			}
		}
	}
	for _, s := range out {
		for _, n := range s.nodes {
			visit(n)
		}
	}
	return append(members, out...)
}

// check returns how s goes beyond its limits, nesting first, or nil when it fits.
func (s *site) check() *violation {
	for _, n := range s.nodes {
		for _, mt := range []metric{metricArrays, metricStructs, metricTotal} {
			if n.get(mt) > s.lim.get(mt) {
				return &violation{mt: mt, node: n, value: n.get(mt), limit: s.lim.get(mt)}
			}
		}
	}
	if l := s.sigLen(); l > s.lim.sig {
		return &violation{sig: true, value: l, limit: s.lim.sig}
	}
	return nil
}

func (s *site) sigLen() int {
	l := 0
	for _, n := range s.nodes {
		l = satAdd(l, n.sigLen)
	}
	return l
}

// text says what is wrong with s, for warnings and diagnostics.
func (v *violation) text(s *site) string {
	if v.sig {
		allows := fmt.Sprintf("D-Bus allows %d", v.limit)
		if s.frame {
			allows = fmt.Sprintf("a stream frame allows %d (D-Bus's %d, less the %d of the Data signal around it)", v.limit, wire.MaxSignatureLength, frameSigExtra)
		}
		return fmt.Sprintf("%s would have a signature of %s characters; %s", s.what, lenText(v.value), allows)
	}
	within := ""
	if s.frame {
		within = " inside a stream frame"
	}
	switch v.mt {
	case metricArrays:
		return fmt.Sprintf("in %s, arrays would nest %d deep; D-Bus allows %d in one signature%s", s.what, v.value, v.limit, within)
	case metricStructs:
		return fmt.Sprintf("in %s, structs would nest %d deep; D-Bus allows %d in one signature%s", s.what, v.value, v.limit, within)
	}
	return fmt.Sprintf("in %s, values would nest %d containers deep, counting variants; D-Bus allows %d here", s.what, v.value, v.limit)
}

// resolveFallback works out the fallback decisions that make every site of file f fit, in
// the order taken. A site that no decision can make fit (which the mapping does not produce)
// is reported as an error.
func (g *generator) resolveFallback(f *protogen.File) (opaque, whole map[protoreflect.FullName]bool, steps []decision) {
	opaque, whole = map[protoreflect.FullName]bool{}, map[protoreflect.FullName]bool{}
	for {
		m := g.base.derive(opaque, whole, &diagnostics{}, nil)
		var s *site
		var v *violation
		for _, cand := range fileSites(f, m) {
			if v = cand.check(); v != nil {
				s = cand
				break
			}
		}
		if s == nil {
			return opaque, whole, steps
		}
		d := decide(s, v)
		switch {
		case d != nil && d.field != nil && !opaque[d.field.Desc.FullName()]:
			opaque[d.field.Desc.FullName()] = true
		case d != nil && d.whole != nil && !whole[d.whole.Desc.FullName()]:
			whole[d.whole.Desc.FullName()] = true
		default:
			g.diags.add(s.where, v.text(s), "serialize part of it yourself: move it into a bytes field")
			return opaque, whole, steps
		}
		steps = append(steps, *d)
	}
}

// decide chooses the next fallback step for site s, which goes beyond its limits as v says;
// nil when no step helps.
func decide(s *site, v *violation) *decision {
	reason := v.text(s)
	if !v.sig {
		if f := cutFor(v.node, v.mt, v.limit); f != nil {
			return &decision{field: f, reason: reason}
		}
		if s.kind == siteArgs {
			return &decision{whole: s.msg, reason: reason}
		}
		return nil
	}
	savings, fields := sigSavings(s.nodes)
	names := make([]protoreflect.FullName, 0, len(savings))
	for n := range savings {
		names = append(names, n)
	}
	slices.Sort(names)
	excess := v.value - v.limit
	var best protoreflect.FullName
	for _, n := range names {
		if savings[n] >= excess && (best == "" || savings[n] < savings[best]) {
			best = n
		}
	}
	if best == "" {
		least := 0
		for _, n := range s.nodes {
			least = satAdd(least, minSigLen(n))
		}
		if least > v.limit {
			if s.kind == siteArgs {
				return &decision{whole: s.msg, reason: reason}
			}
			return nil
		}
		for _, n := range names {
			if best == "" || savings[n] > savings[best] {
				best = n
			}
		}
	}
	if best == "" {
		return nil
	}
	return &decision{field: fields[best], reason: reason}
}

// sigSavings returns, for each message field declaration whose values are structs in the
// signature of nodes (not inside variants), how many characters serializing it would remove
// from that signature, counting every place it appears.
func sigSavings(nodes []*node) (map[protoreflect.FullName]int, map[protoreflect.FullName]*protogen.Field) {
	fields := map[protoreflect.FullName]*protogen.Field{}
	memo := map[*info]map[protoreflect.FullName]int{}
	var ofInfo func(in *info) map[protoreflect.FullName]int
	var ofNode func(n *node, acc map[protoreflect.FullName]int)
	ofNode = func(n *node, acc map[protoreflect.FullName]int) {
		switch n.kind {
		case kStruct:
			name := n.field.Desc.FullName()
			fields[name] = n.field
			acc[name] = satAdd(acc[name], n.sigLen-len("ay"))
			for k, c := range ofInfo(n.msg) {
				acc[k] = satAdd(acc[k], c)
			}
		case kUnwrap:
			for k, c := range ofInfo(n.msg) {
				acc[k] = satAdd(acc[k], c)
			}
		case kOptional, kList, kMap:
			ofNode(n.elem, acc)
		}
	}
	ofInfo = func(in *info) map[protoreflect.FullName]int {
		if acc, ok := memo[in]; ok {
			return acc
		}
		acc := map[protoreflect.FullName]int{}
		for _, u := range in.units {
			ofNode(u.n, acc)
		}
		memo[in] = acc
		return acc
	}
	total := map[protoreflect.FullName]int{}
	for _, n := range nodes {
		ofNode(n, total)
	}
	return total, fields
}

// minSigLen is the length of n's signature with every message it holds as a struct serialized.
func minSigLen(n *node) int {
	switch n.kind {
	case kStruct:
		return len("ay")
	case kUnwrap:
		return minSigLen(n.msg.units[0].n)
	case kOptional, kList:
		return satAdd(1, minSigLen(n.elem))
	case kMap:
		return satAdd(3+n.key.sigLen, minSigLen(n.elem))
	}
	return n.sigLen
}

// cutFor follows the deepest path of metric mt inside n, as far as limit allows, and returns
// the deepest message field on it whose values, serialized, keep the path within limit; nil
// when there is none.
func cutFor(n *node, mt metric, limit int) *protogen.Field {
	serialized := (&node{kind: kProto}).own(mt) // what an ay adds in place of the struct
	budget := limit
	var cut *protogen.Field
	for n != nil {
		if n.kind == kStruct && budget >= serialized {
			cut = n.field
		}
		own := n.own(mt)
		if own > budget {
			break
		}
		budget -= own
		var deepest *node
		for _, c := range n.children(mt) {
			if c.get(mt) > budget && (deepest == nil || c.get(mt) > deepest.get(mt)) {
				deepest = c
			}
		}
		n = deepest
	}
	return cut
}

// warnFallback warns about each fallback decision of a generated file.
func (g *generator) warnFallback(p *filePlan, steps []decision) {
	for _, d := range steps {
		if d.field == nil {
			continue
		}
		msg := valueMessage(d.field)
		g.warnAt(locate(d.field.Desc, nil, fmt.Sprintf("sent as serialized protobuf (ay, annotated %s=%s) in the D-Bus mapping of %s, to fit D-Bus's limits: %s",
			AnnotationProto, msg.Desc.FullName(), p.file.Desc.Path(), d.reason), ""))
	}
	reasons := map[protoreflect.FullName]string{}
	for _, d := range steps {
		if d.whole != nil {
			reasons[d.whole.Desc.FullName()] = d.reason
		}
	}
	warnWhole := func(where protoreflect.Descriptor, what string, c *topCodec) {
		if !c.whole {
			return
		}
		name := c.msg.Desc.FullName()
		g.warnAt(locate(where, nil, fmt.Sprintf("%s are sent as one argument, ay %s holding %s serialized as protobuf (annotated %s), to fit D-Bus's limits: %s, and serializing its message fields would not be enough",
			what, c.args[0].Name, name, AnnotationProto, reasons[name]), ""))
		g.model.serializedMemfd(c.msg, map[protoreflect.FullName]bool{}, func(memfd *protogen.Field) {
			g.warnf(memfd.Desc.ParentFile().Path(), "%s is marked memfd, but where %s travels whole, serialized to fit D-Bus's limits, the bytes travel inline inside it, not as a memfd",
				memfd.Desc.FullName(), name)
		})
	}
	for _, sp := range p.services {
		for _, mp := range sp.methods {
			in, out := "its in-arguments", "its out-arguments"
			if mp.clientStreams {
				in = "its client stream frames"
			}
			if mp.serverStreams {
				out = "its server stream frames"
			}
			warnWhole(mp.m.Desc, in, mp.in)
			warnWhole(mp.m.Desc, out, mp.out)
		}
		for _, sg := range sp.signals {
			warnWhole(sp.svc.Desc, "the arguments of signal "+sg.member, sg.codec)
		}
	}
}

// wholeArgName names the one argument of a message that travels whole: the message's name in
// lower case with underscores between words (FileDescriptorSet: file_descriptor_set).
func wholeArgName(msg *protogen.Message) string {
	name := []rune(string(msg.Desc.Name()))
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) && i > 0 {
			prev := name[i-1]
			nextLower := i+1 < len(name) && unicode.IsLower(name[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
