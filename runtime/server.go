package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kdbus-go/kdbus/introspect"
	"github.com/kdbus-go/kdbus/wire"
)

// Standard interface names.
const (
	IntrospectableInterface = "org.freedesktop.DBus.Introspectable"
	PeerInterface           = "org.freedesktop.DBus.Peer"
	PropertiesInterface     = "org.freedesktop.DBus.Properties"
)

// Registrar is what generated Register functions register services with; *Conn is one.
type Registrar interface {
	Register(desc *ServiceDesc, impl any, opts ...RegisterOption) error
}

// RegisterOption adjusts one registration.
type RegisterOption func(*registration)

type registration struct {
	path  wire.ObjectPath
	props PropertyHost
}

// AtPath serves the service at path instead of the service's default path.
func AtPath(path wire.ObjectPath) RegisterOption {
	return func(r *registration) { r.path = path }
}

// object is a path served by this connection: the services registered there.
type object struct {
	services []*service
}

type service struct {
	desc  *ServiceDesc
	impl  any
	props PropertyHost // nil when the service declares no properties
}

// Register serves impl, which must implement desc's server interface, at desc's path (or the
// path AtPath gives). One interface can be registered once per path.
func (c *Conn) Register(desc *ServiceDesc, impl any, opts ...RegisterOption) error {
	if err := desc.check(); err != nil {
		return err
	}
	desc.registerErrors()
	r := registration{path: desc.Path}
	for _, opt := range opts {
		opt(&r)
	}
	if err := wire.ValidateObjectPath(string(r.path)); err != nil {
		return err
	}
	if desc.HandlerType != nil {
		want := reflect.TypeOf(desc.HandlerType).Elem()
		if impl == nil || !reflect.TypeOf(impl).Implements(want) {
			return fmt.Errorf("runtime: cannot register %T for %s: it does not implement %v", impl, desc.Interface, want)
		}
	}
	switch {
	case desc.Properties != nil && r.props == nil:
		return fmt.Errorf("runtime: cannot register %s without its property store: pass one with WithProperties (generated Register functions take it as an argument)", desc.Interface)
	case desc.Properties == nil && r.props != nil:
		return fmt.Errorf("runtime: %s declares no properties, but a property store was given", desc.Interface)
	case r.props != nil && r.props.propertySet() != desc.Properties:
		return fmt.Errorf("runtime: the property store given for %s holds the properties of %s", desc.Interface, r.props.propertySet().propertiesInterface())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	obj := c.objects[r.path]
	if obj == nil {
		obj = &object{}
		c.objects[r.path] = obj
	}
	for _, s := range obj.services {
		if s.desc.Interface == desc.Interface {
			return fmt.Errorf("runtime: interface %s is already registered at %s", desc.Interface, r.path)
		}
	}
	obj.services = append(obj.services, &service{desc: desc, impl: impl, props: r.props})
	if r.props != nil {
		r.props.bind(c, r.path)
	}
	return nil
}

// Unregister stops serving interface iface at path.
func (c *Conn) Unregister(path wire.ObjectPath, iface string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	obj := c.objects[path]
	if obj == nil {
		return
	}
	obj.services = slices.DeleteFunc(obj.services, func(s *service) bool {
		if s.desc.Interface != iface {
			return false
		}
		if s.props != nil {
			s.props.unbind(c, path)
		}
		return true
	})
	if len(obj.services) == 0 {
		delete(c.objects, path)
	}
}

// incoming is a method call waiting for a worker.
type incoming struct {
	msg   *wire.Message
	fds   []int
	src   inbound     // released once the call is handled
	begin *callBegin  // the Begin that announced the call, or nil
	sc    *servedCall // the call's entry in the served-call table, or nil
	scv   servedCall  // where sc points for a call run by the workers
}

// accept takes a method call from the read loop: a stream's opening call starts the stream,
// anything else goes to the workers.
func (c *Conn) accept(r inbound) {
	m := r.Msg
	if m.Sender != "" && m.Sender[0] == ':' && !c.vanishWatch.Load() {
		c.watchVanished()
	}
	c.mu.Lock()
	b := c.takeBeginLocked(m)
	c.mu.Unlock()
	in := &incoming{msg: m, fds: r.FDs, src: r, begin: b}
	if b != nil && b.flags&beginStream != 0 {
		c.openServed(in)
		return
	}
	c.enqueue(in)
}

// enqueue hands a call to a worker. At most maxConcurrent handlers run and maxQueued calls
// wait; a call beyond both is refused with LimitsExceeded. Workers start on demand and exit
// after idling for a while. No-reply calls go to their object's queue instead (enqueueOneway).
// enqueue runs on the read loop, and never blocks.
func (c *Conn) enqueue(in *incoming) {
	c.mu.Lock()
	if c.inflight >= c.opts.maxConcurrent+c.opts.maxQueued {
		c.mu.Unlock()
		closeAll(in.fds)
		in.src.detach()
		if in.msg.Flags&wire.FlagNoReplyExpected != 0 {
			c.refused.Add(1)
			return
		}
		// This is the connection's reader: it must not wait for the socket, which the bus
		// stops draining while this connection's earlier messages sit unread at a slow
		// receiver. So the refusal is written by a goroutine of its own, at most
		// maxBusyReplies at a time; beyond that the caller hears NoReply from the bus when
		// its call times out, and Stats counts the call as refused.
		if c.busyReplies.Add(1) > maxBusyReplies {
			c.busyReplies.Add(-1)
			c.refused.Add(1)
			return
		}
		err := Errorf(ResourceExhausted, "%s is busy: %d calls are running and %d waiting; try again later", c.UniqueName(), c.opts.maxConcurrent, c.opts.maxQueued)
		go func() {
			defer c.busyReplies.Add(-1)
			c.replyError(in.msg, err)
		}()
		return
	}
	c.inflight++
	if in.msg.Flags&wire.FlagNoReplyExpected != 0 {
		c.enqueueOneway(in)
		c.mu.Unlock()
		return
	}
	// The call can be cancelled from now on, while it waits too.
	in.sc = &in.scv
	c.served[callKey{in.msg.Sender, in.msg.Serial}] = in.sc
	switch {
	case c.idle > 0:
		c.idle-- // an idle worker will take it
	case c.workers < c.opts.maxConcurrent:
		c.workers++
		go c.worker()
	}
	c.work <- in // never blocks: the channel holds maxConcurrent+maxQueued
	c.mu.Unlock()
}

// maxBusyReplies bounds the refusals of calls over the limits that are being written at once.
const maxBusyReplies = 64

// worker runs queued calls. A worker counts as idle while it waits; enqueue un-counts one for
// each call it queues, so idle is the number of waiting workers not yet spoken for.
func (c *Conn) worker() {
	idle := time.NewTimer(idleWorkerTimeout)
	defer idle.Stop()
	for {
		var in *incoming
		var ok bool
		idle.Reset(idleWorkerTimeout)
		select {
		case in, ok = <-c.work:
		case <-idle.C:
			c.mu.Lock()
			if len(c.work) == 0 {
				c.idle--
				c.workers--
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			in, ok = <-c.work
		}
		if !ok {
			return // the connection ended
		}
		c.dispatch(in)
		c.mu.Lock()
		c.inflight--
		c.idle++
		c.mu.Unlock()
	}
}

// onewayQueue holds the no-reply calls to one object that wait for the one before them.
type onewayQueue struct {
	calls []*incoming
}

// enqueueOneway queues a no-reply call behind the other no-reply calls to the same object
// path: they run one at a time, in the order they arrived, as binder runs oneway
// transactions to one object. Calls that expect a reply are not held back by them, nor they
// by those. A goroutine per object with waiting calls runs them; the calls count against
// the connection's limits like any other. c.mu is held.
func (c *Conn) enqueueOneway(in *incoming) {
	q := c.oneway[in.msg.Path]
	if q != nil {
		q.calls = append(q.calls, in)
		return
	}
	q = &onewayQueue{calls: []*incoming{in}}
	c.oneway[in.msg.Path] = q
	go c.runOneway(in.msg.Path, q)
}

// runOneway runs the calls of q in order until none is left.
func (c *Conn) runOneway(path wire.ObjectPath, q *onewayQueue) {
	for {
		c.mu.Lock()
		if len(q.calls) == 0 {
			delete(c.oneway, path)
			c.mu.Unlock()
			return
		}
		in := q.calls[0]
		q.calls[0] = nil
		q.calls = q.calls[1:]
		c.mu.Unlock()
		c.dispatch(in)
		c.mu.Lock()
		c.inflight--
		c.mu.Unlock()
	}
}

// dispatch runs one incoming call and sends its reply.
func (c *Conn) dispatch(in *incoming) {
	m := in.msg
	defer closeAll(in.fds)
	defer in.src.release()
	buf := getBuffer()
	defer putBuffer(buf)
	var e wire.Encoder
	e.Reset((*buf)[:0], wire.NativeOrder)
	defer e.Sent()
	sig, err := c.handle(in, &e)
	if in.sc != nil {
		c.endServed(m)
	}
	if m.Flags&wire.FlagNoReplyExpected != 0 {
		return
	}
	if err != nil {
		c.replyError(m, err)
		return
	}
	*buf = e.Bytes()
	rm := &wire.Message{
		Order: wire.NativeOrder, Type: wire.MethodReturn, ReplySerial: m.Serial,
		Destination: m.Sender, Signature: sig, Body: e.Bytes(),
	}
	// A bus that checks a call's payloads checks the reply's too.
	c.t.Send(context.Background(), rm, e.FDs(), sendOptions{payloads: e.PayloadMask()})
}

func (c *Conn) replyError(m *wire.Message, err error) {
	if m.Flags&wire.FlagNoReplyExpected != 0 {
		return
	}
	e := toError(err)
	body, _ := wire.Marshal(wire.NativeOrder, "s", e.Message)
	c.t.Send(context.Background(), &wire.Message{
		Order: wire.NativeOrder, Type: wire.Error, ReplySerial: m.Serial, Destination: m.Sender,
		ErrorName: e.Name, Signature: "s", Body: body,
	}, nil, sendOptions{})
}

// handle finds the handler for the call and runs it, writing the reply body into e.
func (c *Conn) handle(in *incoming, e *wire.Encoder) (sig wire.Signature, err error) {
	m, fds, src := in.msg, in.fds, &in.src
	defer func() {
		if p := recover(); p != nil {
			slog.Error("kdbus runtime: handler panicked", "interface", m.Interface, "member", m.Member, "panic", p, "stack", string(debug.Stack()))
			err = Errorf(Internal, "the handler for %s.%s failed: %v", m.Interface, m.Member, p)
		}
	}()
	switch m.Interface {
	case PeerInterface:
		return c.handlePeer(m, e)
	case IntrospectableInterface:
		if m.Member == "Introspect" && m.Signature == "" {
			e.String(c.introspect(m.Path))
			return "s", nil
		}
		return "", unknownMethod(m)
	case PropertiesInterface:
		return c.handleProperties(m, src, e)
	case ReflectionInterface:
		return c.handleReflection(m, e)
	}
	c.mu.Lock()
	obj := c.objects[m.Path]
	var svc *service
	var md *MethodDesc
	if obj != nil {
		for _, s := range obj.services {
			if m.Interface != "" && s.desc.Interface != m.Interface {
				continue
			}
			if d := s.desc.method(m.Member); d != nil {
				svc, md = s, d
				break
			}
			if m.Interface != "" {
				svc = s
			}
		}
	}
	hasChildren := obj == nil && c.hasChildrenLocked(m.Path)
	c.mu.Unlock()
	switch {
	case m.Interface == "" && m.Member == "Introspect" && obj == nil:
		e.String(c.introspect(m.Path))
		return "s", nil
	case obj == nil && !hasChildren:
		return "", Errorf(Unimplemented, "no object at path %s", m.Path).withName(ErrorUnknownObject)
	case md == nil && svc == nil && m.Interface != "":
		return "", Errorf(Unimplemented, "object %s does not implement interface %s", m.Path, m.Interface).withName(ErrorUnknownInterface)
	case md == nil:
		return "", unknownMethod(m)
	}
	if md.stream != nil {
		return "", notAStreamOpening(svc.desc.Interface, md)
	}
	body, err := adaptBody(m.Body, m.Order, m.Signature, md.In)
	if err != nil {
		if notEvolution(err) {
			return "", Errorf(InvalidArgument, "%s.%s takes arguments of signature %q, the call carried %q", svc.desc.Interface, m.Member, md.In, m.Signature)
		}
		return "", Errorf(InvalidArgument, "arguments of %s do not decode as %q: %v", m.Member, m.Signature, err)
	}
	base, cancel := c.serveContext(m, src.stamp, in.begin, in.sc)
	defer cancel()
	cl := &Caller{conn: c, Sender: m.Sender, Path: m.Path, Interface: svc.desc.Interface, Member: m.Member, stamp: src.stamp, src: src, serial: m.Serial, unary: true}
	if in.begin != nil {
		cl.md = in.begin.md
	}
	ctx := withCaller(base, cl)
	var d wire.Decoder
	d.Reset(body, m.Order)
	d.SetFDs(fds)
	err = md.handle(svc.impl, ctx, &d, e, c.unaryServer)
	if m.Flags&wire.FlagNoReplyExpected == 0 {
		cl.finishUnary()
	}
	if err != nil {
		return "", err
	}
	return md.Out, nil
}

func unknownMethod(m *wire.Message) error {
	return Errorf(Unimplemented, "no method %s with signature %q on interface %q at %s", m.Member, m.Signature, m.Interface, m.Path)
}

func (e *Error) withName(name string) *Error {
	e.Name = name
	return e
}

func (c *Conn) handlePeer(m *wire.Message, e *wire.Encoder) (wire.Signature, error) {
	switch {
	case m.Member == "Ping" && m.Signature == "":
		return "", nil
	case m.Member == "GetMachineId" && m.Signature == "":
		id, err := machineID()
		if err != nil {
			return "", Errorf(Unavailable, "%v", err)
		}
		e.String(id)
		return "s", nil
	}
	return "", unknownMethod(m)
}

var machineIDOnce = sync.OnceValues(func() (string, error) {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(b)); len(id) == 32 {
				return id, nil
			}
		}
	}
	return "", fmt.Errorf("no machine ID: neither /etc/machine-id nor /var/lib/dbus/machine-id holds one (systemd-machine-id-setup or dbus-uuidgen --ensure creates it)")
})

func machineID() (string, error) { return machineIDOnce() }

// handleProperties answers org.freedesktop.DBus.Properties from the property stores of the
// interfaces registered at the message's path; the standard interfaces have no properties.
func (c *Conn) handleProperties(m *wire.Message, src *inbound, e *wire.Encoder) (wire.Signature, error) {
	var d wire.Decoder
	d.Reset(m.Body, m.Order)
	iface := d.String()
	if d.Err() != nil {
		return "", Errorf(InvalidArgument, "Properties.%s needs the interface name first: %v", m.Member, d.Err())
	}
	c.mu.Lock()
	var svc *service
	if obj := c.objects[m.Path]; obj != nil {
		for _, s := range obj.services {
			if s.desc.Interface == iface {
				svc = s
			}
		}
	}
	c.mu.Unlock()
	standard := iface == PeerInterface || iface == IntrospectableInterface || iface == PropertiesInterface || iface == ReflectionInterface
	if svc == nil && !standard && iface != "" {
		return "", Errorf(Unimplemented, "object %s does not implement interface %s", m.Path, iface).withName(ErrorUnknownInterface)
	}
	var props PropertyHost
	if svc != nil {
		props = svc.props
	}
	pc := PropertyCall{Interface: iface}
	var info *MethodInfo
	switch {
	case m.Member == "GetAll" && m.Signature == "s":
		info = &propertyGetAllInfo
	case m.Member == "Get" && m.Signature == "ss":
		info = &propertyGetInfo
		pc.Name = d.String()
	case m.Member == "Set" && m.Signature == "ssv":
		info = &propertySetInfo
		pc.Name = d.String()
		if props == nil {
			return "", unknownProperty(iface, pc.Name)
		}
		v, err := props.decodeSet(pc.Name, &d)
		if err != nil {
			return "", err
		}
		pc.Value = v
	default:
		return "", unknownMethod(m)
	}
	ctx := c.ctx
	if m.Member == "Set" || c.unaryServer != nil {
		ctx = withCaller(c.ctx, &Caller{conn: c, Sender: m.Sender, Path: m.Path, Interface: iface, Member: m.Member, stamp: src.stamp})
	}
	if c.unaryServer == nil {
		return serveProperty(ctx, m.Member, props, &pc, e)
	}
	// The interceptors see a *PropertyCall; the handler writes the reply into e itself, and
	// returns no value.
	call := pc
	var sig wire.Signature
	_, err := c.serveCall(ctx, info, &call, func(ctx context.Context, req any) (any, error) {
		pc, ok := req.(*PropertyCall)
		if !ok || pc == nil {
			return nil, Errorf(Internal, "an interceptor passed a %T as the request of Properties.%s; want a *runtime.PropertyCall", req, m.Member)
		}
		var err error
		sig, err = serveProperty(ctx, m.Member, props, pc, e)
		return nil, err
	})
	return sig, err
}

// serveProperty answers Get, Set or GetAll (member) of pc from props, which is nil when the
// interface has no properties.
func serveProperty(ctx context.Context, member string, props PropertyHost, pc *PropertyCall, e *wire.Encoder) (wire.Signature, error) {
	switch member {
	case "GetAll":
		if props == nil {
			a := e.BeginArray(8)
			e.EndArray(a)
		} else {
			props.getAll(e)
		}
		return "a{sv}", nil
	case "Get":
		if props == nil {
			return "", unknownProperty(pc.Interface, pc.Name)
		}
		if err := props.get(pc.Name, e); err != nil {
			return "", err
		}
		return "v", nil
	default: // Set
		if props == nil {
			return "", unknownProperty(pc.Interface, pc.Name)
		}
		return "", props.set(ctx, pc.Name, pc.Value)
	}
}

// introspect returns the document for path: the interfaces registered there and the names of
// the next path elements below it that lead to registered objects.
func (c *Conn) introspect(path wire.ObjectPath) string {
	c.mu.Lock()
	var ifaces []string
	if obj := c.objects[path]; obj != nil {
		if servesDescriptors(obj.services) {
			ifaces = append(ifaces, ReflectionXML)
		}
		for _, s := range obj.services {
			ifaces = append(ifaces, s.desc.XML)
		}
	}
	children := c.childrenLocked(path)
	c.mu.Unlock()
	return introspect.Document(ifaces, children)
}

func (c *Conn) childrenLocked(path wire.ObjectPath) []string {
	prefix := string(path)
	if prefix != "/" {
		prefix += "/"
	}
	seen := map[string]bool{}
	var out []string
	for p := range c.objects {
		rest, ok := strings.CutPrefix(string(p), prefix)
		if !ok || rest == "" {
			continue
		}
		child, _, _ := strings.Cut(rest, "/")
		if !seen[child] {
			seen[child] = true
			out = append(out, child)
		}
	}
	slices.Sort(out)
	return out
}

func (c *Conn) hasChildrenLocked(path wire.ObjectPath) bool {
	return len(c.childrenLocked(path)) > 0
}
