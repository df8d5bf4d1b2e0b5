package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jhump/protoreflect/desc"
	"github.com/jhump/protoreflect/desc/protoprint"
	"github.com/kdbus-go/kdbus/internal/generator"
	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/runtime"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

func (c *cli) list(ctx context.Context, args []string) int {
	all := c.fs.Bool("a", false, "list unique names (:1.N) too")
	pos, ok := c.parse(args, 0, 1, "[-a] [NAME]")
	if !ok {
		return 2
	}
	if err := c.connect(ctx); err != nil {
		return c.failErr(err)
	}
	var names []string
	if len(pos) == 1 {
		if err := c.checkName(ctx, pos[0]); err != nil {
			return c.failErr(err)
		}
		names = pos
	} else {
		lctx, cancel := context.WithTimeout(ctx, c.g.timeout)
		var err error
		names, err = c.conn.ListNames(lctx)
		cancel()
		if err != nil {
			return c.failErr(err)
		}
		slices.Sort(names)
	}
	for _, name := range names {
		if name == "org.freedesktop.DBus" || (!*all && strings.HasPrefix(name, ":")) {
			continue
		}
		fmt.Fprintln(c.stdout, name)
		objs, err := c.walk(ctx, name)
		if err != nil {
			fmt.Fprintf(c.stdout, "  (not introspectable: %v)\n", err)
			continue
		}
		for _, o := range objs {
			fmt.Fprintf(c.stdout, "  %s\n", o.path)
			for _, iface := range ownInterfaces(o.node) {
				fmt.Fprintf(c.stdout, "    %s\n", iface)
			}
		}
	}
	return 0
}

func (c *cli) describe(ctx context.Context, args []string) int {
	pos, ok := c.parse(args, 1, 3, "NAME [PATH] [INTERFACE]")
	if !ok {
		return 2
	}
	name, path, iface, _ := positional(pos, false)
	if path == "" && len(pos) == 2 {
		// NAME INTERFACE
		iface = pos[1]
	}
	var targets []*target
	if path != "" {
		t, err := c.resolve(ctx, name, path, "", nil)
		if err != nil {
			return c.failErr(err)
		}
		targets = append(targets, t)
	} else {
		if err := c.connect(ctx); err != nil {
			return c.failErr(err)
		}
		if err := c.checkName(ctx, name); err != nil {
			return c.failErr(err)
		}
		objs, err := c.walk(ctx, name)
		if err != nil {
			return c.failErr(err)
		}
		for _, o := range objs {
			if iface != "" && o.node.Interface(iface) == nil {
				continue
			}
			om, err := c.mappingAt(ctx, name, o.path, o.node)
			if err != nil {
				return c.failErr(err)
			}
			targets = append(targets, &target{dest: name, path: o.path, om: om})
		}
		if len(targets) == 0 {
			return c.fail("no object of %s has an interface %s; kdbusctl list %s shows its objects", name, iface, name)
		}
	}
	printed := map[string]bool{}
	for _, t := range targets {
		if status := c.describeObject(t, iface, printed); status != 0 {
			return status
		}
	}
	return 0
}

// describeObject prints the proto files of the services of t, each file once, and the
// introspection of its interfaces without descriptors.
func (c *cli) describeObject(t *target, iface string, printed map[string]bool) int {
	name := t.dest
	ifaces := ownInterfaces(t.om.node)
	if iface != "" {
		if t.om.node.Interface(iface) == nil {
			return c.fail("the object %s of %s has no interface %s; it has %s", t.path, name, iface, strings.Join(ifaces, ", "))
		}
		ifaces = []string{iface}
	}
	fmt.Fprintf(c.stdout, "// %s %s\n", name, t.path)
	printer := &protoprint.Printer{Compact: true, SortElements: false}
	for _, in := range ifaces {
		svc := t.om.services[in]
		if svc == nil {
			fmt.Fprintf(c.stdout, "\n// %s serves no proto descriptors; its D-Bus interface:\n", in)
			fmt.Fprint(c.stdout, t.om.node.Interface(in).XML())
			continue
		}
		fd := svc.Desc.ParentFile()
		fmt.Fprintf(c.stdout, "\n// %s is proto service %s, at %s in %s.\n", in, svc.Desc.FullName(), t.path, fd.Path())
		if printed[fd.Path()] {
			continue
		}
		printed[fd.Path()] = true
		wrapped, err := desc.WrapFile(fd)
		if err != nil {
			return c.fail("printing %s: %v", fd.Path(), err)
		}
		text, err := printer.PrintProtoToString(wrapped)
		if err != nil {
			return c.fail("printing %s: %v", fd.Path(), err)
		}
		fmt.Fprint(c.stdout, text)
	}
	return 0
}

func (c *cli) call(ctx context.Context, args []string) int {
	pos, ok := c.parse(args, 2, 4, "NAME [PATH] METHOD [JSON]")
	if !ok {
		return 2
	}
	name, path, method, data := positional(pos, true)
	if method == "" {
		c.fs.Usage()
		return 2
	}
	iface, member := splitMember(method)
	t, err := c.resolve(ctx, name, path, "a method "+method, func(n *introspect.Node) bool {
		return findMember(n, iface, member, "method") != nil
	})
	if err != nil {
		return c.failErr(err)
	}
	in := findMember(t.om.node, iface, member, "method")
	if in == nil {
		return c.fail("the object %s of %s has no method %s; kdbusctl describe %s %s lists its methods", t.path, name, method, name, t.path)
	}
	if svc := t.om.services[in.Name]; svc != nil {
		mm := svc.Method(member)
		if mm == nil {
			return c.fail("proto service %s has no method %s", svc.Desc.FullName(), member)
		}
		if mm.ClientStreams || mm.ServerStreams {
			return c.fail("%s.%s is a streaming rpc; kdbusctl calls unary methods only", in.Name, member)
		}
		req := mm.In.New()
		if err := JSONToMessage(t.om.mapping, []byte(data), req); err != nil {
			return c.fail("the request is not a %s in JSON: %v", mm.In.Desc.FullName(), err)
		}
		body, err := EncodeMessage(mm.In, req)
		if err != nil {
			return c.fail("encoding the request: %v", err)
		}
		reply, err := c.callRaw(ctx, name, t.path, in.Name, member, wire.Signature(mm.In.Sig), body)
		if err != nil {
			return c.failErr(err)
		}
		if mm.NoReply {
			return 0
		}
		resp, err := DecodeMessage(mm.Out, reply)
		if err != nil {
			return c.fail("decoding the reply: %v", err)
		}
		return c.printMessage(t.om.mapping, resp)
	}
	var inSig, outSig strings.Builder
	for _, m := range in.Methods {
		if m.Name != member {
			continue
		}
		for _, a := range m.Args {
			if a.Direction == "out" {
				outSig.WriteString(a.Type)
			} else {
				inSig.WriteString(a.Type)
			}
		}
	}
	vals, err := ArgsFromJSON(wire.Signature(inSig.String()), []byte(data))
	if err != nil {
		return c.fail("%v", err)
	}
	body, err := wire.Marshal(wire.NativeOrder, wire.Signature(inSig.String()), vals...)
	if err != nil {
		return c.fail("encoding the arguments: %v", err)
	}
	reply, err := c.callRaw(ctx, name, t.path, in.Name, member, wire.Signature(inSig.String()), body)
	if err != nil {
		return c.failErr(err)
	}
	out, err := wire.Unmarshal(reply.Body, reply.Order, reply.Signature)
	if err != nil {
		return c.fail("decoding the reply: %v", err)
	}
	c.printJSON(ValuesToJSON(out))
	return 0
}

func (c *cli) printMessage(m *generator.Mapping, msg protoreflect.Message) int {
	b, err := protojson.MarshalOptions{Resolver: m.Types}.Marshal(msg.Interface())
	if err != nil {
		return c.fail("printing the reply: %v", err)
	}
	c.stdout.Write(append(compactJSON(b), '\n'))
	return 0
}

// compactJSON removes the random spaces protojson puts in its output.
func compactJSON(b []byte) []byte {
	var v json.RawMessage = b
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

// JSONToMessage reads protojson (an empty string is the empty message) into msg.
func JSONToMessage(m *generator.Mapping, data []byte, msg protoreflect.Message) error {
	if strings.TrimSpace(string(data)) == "" {
		return nil
	}
	return protojson.UnmarshalOptions{Resolver: m.Types}.Unmarshal(data, msg.Interface())
}

// EncodeMessage encodes msg as the codec's arguments.
func EncodeMessage(codec *generator.MessageCodec, msg protoreflect.Message) ([]byte, error) {
	var e wire.Encoder
	e.Reset(nil, wire.NativeOrder)
	codec.Encode(&e, msg)
	defer e.Sent()
	if err := e.Err(); err != nil {
		return nil, err
	}
	if len(e.FDs()) > 0 {
		return nil, fmt.Errorf("the request carries file descriptors (memfd fields), which kdbusctl does not send")
	}
	return append([]byte(nil), e.Bytes()...), nil
}

// DecodeMessage decodes the body of m as the codec's arguments.
func DecodeMessage(codec *generator.MessageCodec, m *wire.Message) (*dynamicpb.Message, error) {
	if string(m.Signature) != codec.Sig {
		return nil, fmt.Errorf("the message has signature %q, %s travels as %q", m.Signature, codec.Desc.FullName(), codec.Sig)
	}
	msg := codec.New()
	d := wire.NewDecoder(m.Body, m.Order)
	codec.Decode(d, msg)
	err := d.Done()
	for _, h := range d.Held() {
		h.Close()
	}
	if err != nil {
		return nil, err
	}
	return msg, nil
}

// property finds a property of the target: its interface and, with descriptors, its mapping.
func (c *cli) property(ctx context.Context, name, path, prop string) (*target, *introspect.Interface, int) {
	iface, member := splitMember(prop)
	t, err := c.resolve(ctx, name, path, "a property "+prop, func(n *introspect.Node) bool {
		return findMember(n, iface, member, "property") != nil
	})
	if err != nil {
		return nil, nil, c.failErr(err)
	}
	in := findMember(t.om.node, iface, member, "property")
	if in == nil {
		return nil, nil, c.fail("the object %s of %s has no property %s", t.path, name, prop)
	}
	return t, in, 0
}

func (c *cli) get(ctx context.Context, args []string) int {
	pos, ok := c.parse(args, 2, 3, "NAME [PATH] PROPERTY")
	if !ok {
		return 2
	}
	name, path, prop, _ := positional(pos, false)
	t, in, status := c.property(ctx, name, path, prop)
	if t == nil {
		return status
	}
	_, member := splitMember(prop)
	body, _ := wire.Marshal(wire.NativeOrder, "ss", in.Name, member)
	reply, err := c.callRaw(ctx, name, t.path, runtime.PropertiesInterface, "Get", "ss", body)
	if err != nil {
		return c.failErr(err)
	}
	if svc := t.om.services[in.Name]; svc != nil && svc.Property(member) != nil {
		pm := svc.Property(member)
		d := wire.NewDecoder(reply.Body, reply.Order)
		sig := d.Variant()
		if d.Err() == nil && string(sig) != pm.Sig {
			return c.fail("property %s has signature %q, want %q", member, sig, pm.Sig)
		}
		msg := dynamicpb.NewMessage(svc.PropertiesMessage)
		pm.Decode(d, msg)
		err := d.Done()
		for _, h := range d.Held() {
			h.Close()
		}
		if err != nil {
			return c.fail("decoding property %s: %v", member, err)
		}
		return c.printField(t.om.mapping, msg, pm.Field)
	}
	v, err := wire.Unmarshal(reply.Body, reply.Order, reply.Signature)
	if err != nil {
		return c.fail("decoding property %s: %v", member, err)
	}
	c.printJSON(ValuesToJSON(v[0]))
	return 0
}

// printField prints the JSON of one field of msg, as protojson writes it inside the message.
func (c *cli) printField(m *generator.Mapping, msg protoreflect.Message, fd protoreflect.FieldDescriptor) int {
	b, err := protojson.MarshalOptions{Resolver: m.Types, EmitUnpopulated: true}.Marshal(msg.Interface())
	if err != nil {
		return c.fail("printing: %v", err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return c.fail("printing: %v", err)
	}
	v, ok := fields[fd.JSONName()]
	if !ok {
		v = json.RawMessage("null")
	}
	c.stdout.Write(append(compactJSON(v), '\n'))
	return 0
}

func (c *cli) set(ctx context.Context, args []string) int {
	pos, ok := c.parse(args, 3, 4, "NAME [PATH] PROPERTY JSON")
	if !ok {
		return 2
	}
	name, path, prop, data := positional(pos, true)
	t, in, status := c.property(ctx, name, path, prop)
	if t == nil {
		return status
	}
	_, member := splitMember(prop)
	var e wire.Encoder
	e.Reset(nil, wire.NativeOrder)
	e.String(in.Name)
	e.String(member)
	if svc := t.om.services[in.Name]; svc != nil && svc.Property(member) != nil {
		pm := svc.Property(member)
		msg := dynamicpb.NewMessage(svc.PropertiesMessage)
		obj, _ := json.Marshal(map[string]json.RawMessage{pm.Field.JSONName(): json.RawMessage(data)})
		if err := JSONToMessage(t.om.mapping, obj, msg); err != nil {
			return c.fail("the value is not a %s in JSON: %v", fieldType(pm.Field), err)
		}
		e.Variant(wire.Signature(pm.Sig))
		pm.Encode(&e, msg)
	} else {
		var sig string
		for _, p := range in.Properties {
			if p.Name == member {
				sig = p.Type
			}
		}
		vals, err := ArgsFromJSON(wire.Signature(sig), []byte("["+data+"]"))
		if err != nil {
			return c.fail("%v", err)
		}
		return c.setRaw(ctx, t, in.Name, member, sig, vals[0])
	}
	defer e.Sent()
	if err := e.Err(); err != nil {
		return c.fail("encoding the value: %v", err)
	}
	if _, err := c.callRaw(ctx, name, t.path, runtime.PropertiesInterface, "Set", "ssv", append([]byte(nil), e.Bytes()...)); err != nil {
		return c.failErr(err)
	}
	return 0
}

// setRaw sets a property of an interface without descriptors.
func (c *cli) setRaw(ctx context.Context, t *target, iface, member, sig string, v any) int {
	body, err := wire.Marshal(wire.NativeOrder, "ssv", iface, member, wire.Variant{Sig: wire.Signature(sig), Value: v})
	if err != nil {
		return c.fail("encoding the value: %v", err)
	}
	if _, err := c.callRaw(ctx, t.dest, t.path, runtime.PropertiesInterface, "Set", "ssv", body); err != nil {
		return c.failErr(err)
	}
	return 0
}

func fieldType(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.Message() != nil:
		return string(fd.Message().FullName())
	case fd.Enum() != nil:
		return string(fd.Enum().FullName())
	}
	return fd.Kind().String()
}

func (c *cli) watch(ctx context.Context, args []string) int {
	path := c.fs.String("path", "", "only signals from this object path")
	iface := c.fs.String("interface", "", "only signals of this interface")
	member := c.fs.String("member", "", "only signals with this member name")
	arg0 := c.fs.String("arg0", "", "only signals whose first argument is this string")
	count := c.fs.Int("n", 0, "stop after this many signals (0: run until interrupted)")
	pos, ok := c.parse(args, 1, 1, "[-path P] [-interface I] [-member M] [-arg0 S] [-n N] NAME")
	if !ok {
		return 2
	}
	name := pos[0]
	if err := c.connect(ctx); err != nil {
		return c.failErr(err)
	}
	if err := c.checkName(ctx, name); err != nil {
		return c.failErr(err)
	}
	// Signals carry their sender's unique name: match on the name's owner.
	sender := name
	if !strings.HasPrefix(name, ":") {
		octx, cancel := context.WithTimeout(ctx, c.g.timeout)
		owner, err := c.conn.GetNameOwner(octx, name)
		cancel()
		if err != nil {
			return c.failErr(err)
		}
		sender = owner
	}
	rule := &match.Rule{Type: wire.Signal, Sender: sender, Path: wire.ObjectPath(*path), Interface: *iface, Member: *member}
	if *arg0 != "" {
		rule.Args = []match.ArgMatch{{Index: 0, Value: *arg0}}
	}
	sctx, cancel := context.WithTimeout(ctx, c.g.timeout)
	sub, err := c.conn.Subscribe(sctx, rule, 256)
	cancel()
	if err != nil {
		return c.failErr(err)
	}
	defer sub.Close()
	// Say the subscription is in place, so that whoever waits for it can go on.
	fmt.Fprintf(c.stderr, "watching signals from %s\n", name)
	for n := 0; *count == 0 || n < *count; n++ {
		select {
		case <-ctx.Done():
			return 0
		case m, ok := <-sub.C():
			if !ok {
				return c.fail("the connection to the bus ended")
			}
			c.printJSON(c.signalJSON(ctx, m))
		}
	}
	return 0
}

// signalJSON describes a signal: its header and its arguments, as proto JSON when the
// sender serves descriptors for the signal.
func (c *cli) signalJSON(ctx context.Context, m *wire.Message) map[string]any {
	out := map[string]any{"sender": m.Sender, "path": string(m.Path), "interface": m.Interface, "member": m.Member}
	if om, err := c.mappingAt(ctx, m.Sender, m.Path, nil); err == nil {
		if svc := om.services[m.Interface]; svc != nil {
			if sg := svc.Signal(m.Member); sg != nil {
				if msg, err := DecodeMessage(sg.Codec, m); err == nil {
					if b, err := (protojson.MarshalOptions{Resolver: om.mapping.Types}).Marshal(msg); err == nil {
						out["type"] = string(sg.Codec.Desc.FullName())
						out["args"] = json.RawMessage(compactJSON(b))
						return out
					}
				}
			}
		}
	}
	if v, err := wire.Unmarshal(m.Body, m.Order, m.Signature); err == nil {
		out["args"] = ValuesToJSON(v)
	}
	return out
}
