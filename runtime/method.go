package runtime

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MethodInfo names a method for interceptors and errors.
type MethodInfo struct {
	Interface string
	Member    string
	NoReply   bool
	// ClientStreams and ServerStreams are true for the streaming sides of a stream method.
	ClientStreams, ServerStreams bool
	// Kind says what passes through the interceptor.
	Kind CallKind
}

// CallKind says what passes through an interceptor.
type CallKind uint8

// The kinds of call that pass through interceptors.
const (
	KindMethod   CallKind = iota // a unary method of a generated service (or a raw call)
	KindStream                   // a stream's opening (client) / its handler (server)
	KindProperty                 // org.freedesktop.DBus.Properties Get/Set/GetAll
	KindDriver                   // the runtime's own calls to the bus driver
	KindSignal                   // a signal emitted (client chain) or delivered to a subscriber (server chain)
)

// String names the kind: "method", "stream", "property", "driver" or "signal".
func (k CallKind) String() string {
	switch k {
	case KindMethod:
		return "method"
	case KindStream:
		return "stream"
	case KindProperty:
		return "property"
	case KindDriver:
		return "driver"
	case KindSignal:
		return "signal"
	}
	return "CallKind(" + strconv.Itoa(int(k)) + ")"
}

// FullName returns "interface.member".
func (m *MethodInfo) FullName() string { return m.Interface + "." + m.Member }

// UnaryMethod describes one request/response method: its D-Bus member name and the codecs of
// its arguments. Generated code declares one per rpc and calls Invoke on the client side and
// Desc on the server side.
type UnaryMethod[Req, Resp any] struct {
	Interface string
	Name      string
	In        kdbusimpl.Codec[Req]
	Out       kdbusimpl.Codec[Resp]
	// NoReply sends calls with NO_REPLY_EXPECTED and returns without waiting.
	NoReply bool

	infoCache atomic.Pointer[MethodInfo]
}

// info returns the method's MethodInfo, made on first use and shared by all its calls.
func (m *UnaryMethod[Req, Resp]) info() *MethodInfo {
	if p := m.infoCache.Load(); p != nil {
		return p
	}
	m.infoCache.CompareAndSwap(nil, &MethodInfo{Interface: m.Interface, Member: m.Name, NoReply: m.NoReply, Kind: KindMethod})
	return m.infoCache.Load()
}

// Invoke calls the method on the object o and decodes the reply. The call passes the
// connection's client interceptors (KindMethod) with req and the response to decode into.
func (m *UnaryMethod[Req, Resp]) Invoke(ctx context.Context, o *Object, req *Req, opts ...CallOption) (*Resp, error) {
	resp := new(Resp)
	var err error
	if o.conn.unaryClient != nil {
		err = o.conn.invokeCall(ctx, m.info(), req, resp, func(ctx context.Context, _ *MethodInfo, req, resp any) error {
			return invoke(ctx, o, m, req.(*Req), resp.(*Resp), opts)
		})
	} else {
		err = invoke(ctx, o, m, req, resp, opts)
	}
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// invoke encodes req, makes the call and decodes the reply into resp.
func invoke[Req, Resp any](ctx context.Context, o *Object, m *UnaryMethod[Req, Resp], req *Req, resp *Resp, opts []CallOption) error {
	var co callOptions
	for _, opt := range opts {
		opt(&co)
	}
	if o.dest == "" && o.conn.UniqueName() != "" {
		return Errorf(FailedPrecondition, "no destination for %s.%s: the service declares no bus_name; pass runtime.WithDestination to the client", m.Interface, m.Name)
	}
	if m.NoReply {
		if err := o.awaitReady(ctx, &co); err != nil {
			return err
		}
	}
	msg := o.newCall(m.Interface, m.Name, m.In.Sig, m.NoReply, &co)
	buf := getBuffer()
	defer putBuffer(buf)
	var e wire.Encoder
	e.Reset((*buf)[:0], msg.Order)
	m.In.Encode(&e, req)
	defer e.Sent()
	if err := e.Err(); err != nil {
		return Errorf(InvalidArgument, "encoding the arguments of %s: %v", m.Name, err)
	}
	if err := checkFDs(&e, "the call to "+m.Name); err != nil {
		return err
	}
	msg.Body = e.Bytes()
	*buf = msg.Body
	if m.NoReply {
		return o.conn.send(ctx, msg, e.FDs(), e.PayloadMask(), co.waitDelivery)
	}
	reply, err := o.conn.callWith(ctx, msg, e.FDs(), e.PayloadMask(), &co)
	for owned := 0; err != nil; {
		var again bool
		if again, err = o.retryWhenReady(ctx, &co, err, &owned); !again {
			return err
		}
		reply, err = o.conn.callWith(ctx, msg, e.FDs(), e.PayloadMask(), &co)
	}
	defer reply.closeFDs()
	body, err := adaptBody(reply.Msg.Body, reply.Msg.Order, reply.Msg.Signature, m.Out.Sig)
	if err != nil {
		if notEvolution(err) {
			return Errorf(Internal, "reply to %s has signature %q, want %q: client and server disagree on the interface", m.Name, reply.Msg.Signature, m.Out.Sig)
		}
		return Errorf(Internal, "decoding the reply to %s: %v", m.Name, err)
	}
	var d wire.Decoder
	d.Reset(body, reply.Msg.Order)
	d.SetFDs(reply.FDs)
	m.Out.Decode(&d, resp)
	held := d.Held()
	if err := d.Done(); err != nil {
		closeAllClosers(held)
		return Errorf(Internal, "decoding the reply to %s: %v", m.Name, err)
	}
	if len(held) > 0 {
		keepResponsePayloads(resp, held)
	}
	return nil
}

// Desc returns the server-side description of the method. call invokes the implementation:
// generated code passes a function that asserts srv to the service's server interface.
func (m *UnaryMethod[Req, Resp]) Desc(call func(srv any, ctx context.Context, req *Req) (*Resp, error)) MethodDesc {
	info := m.info()
	return MethodDesc{
		Name:    m.Name,
		In:      m.In.Sig,
		Out:     m.Out.Sig,
		NoReply: m.NoReply,
		handle: func(srv any, ctx context.Context, d *wire.Decoder, e *wire.Encoder, ic UnaryServerInterceptor) error {
			req := new(Req)
			m.In.Decode(d, req)
			// The arguments are copied out (payloads have mappings of their own): the
			// message's slot in a native receive pool goes back to the bus now, not after
			// the handler, so a slow handler does not hold its sender's quota.
			if c := CallerFrom(ctx); c != nil && c.src != nil {
				c.src.release()
			}
			if err := d.Done(); err != nil {
				closeAllClosers(d.Held())
				return Errorf(InvalidArgument, "arguments of %s do not decode as %q: %v", m.Name, m.In.Sig, err)
			}
			if held := d.Held(); len(held) > 0 {
				s := &payloadScope{held: held}
				ctx = context.WithValue(ctx, payloadKey{}, s)
				defer s.end()
			}
			var resp *Resp
			var err error
			if ic == nil {
				resp, err = call(srv, ctx, req)
			} else {
				var r any
				r, err = ic(ctx, req, info, func(ctx context.Context, req any) (any, error) {
					return call(srv, ctx, req.(*Req))
				})
				resp, _ = r.(*Resp)
			}
			if err != nil {
				return err
			}
			if resp == nil {
				resp = new(Resp)
			}
			m.Out.Encode(e, resp)
			if err := e.Err(); err != nil {
				return Errorf(Internal, "encoding the reply of %s: %v", m.Name, err)
			}
			if err := checkFDs(e, "the reply of "+m.Name); err != nil {
				return err
			}
			return nil
		},
	}
}

// MethodDesc is the server-side description of a method, made by UnaryMethod.Desc.
type MethodDesc struct {
	Name    string
	In, Out wire.Signature
	NoReply bool
	handle  func(srv any, ctx context.Context, d *wire.Decoder, e *wire.Encoder, ic UnaryServerInterceptor) error
	stream  *streamDesc // set for a stream method, made by StreamMethod's …StreamDesc
}

// ServiceDesc describes a service for registration: its D-Bus coordinates, its methods and its
// introspection XML. Generated code declares one per service.
type ServiceDesc struct {
	// Interface is the D-Bus interface name.
	Interface string
	// Path is the default object path.
	Path wire.ObjectPath
	// BusName is the well-known name the service owns, or "".
	BusName string
	// HandlerType is a nil pointer to the server interface, used to check implementations.
	HandlerType any
	// ProtoFile points at the descriptor of the .proto file that declares the service, the
	// File_… variable of protoc-gen-go's output, which is set once the package is initialized.
	// An object that serves a service with one answers ReflectionInterface with it and its
	// imports. Nil serves no descriptors.
	ProtoFile *protoreflect.FileDescriptor
	// ProtoService is the full name of the proto service, such as "example.greeter.v1.Greeter".
	ProtoService string
	// Methods are the service's methods.
	Methods []MethodDesc
	// Properties describes the service's properties (a *Properties[T]), or is nil when it
	// has none. A service with properties is registered with a store of their values.
	Properties PropertySet
	// XML is the <interface> element, as introspect.Interface.XML writes it.
	XML string
	// Errors are the service's own errors, each with its D-Bus name and the code the service
	// declares for it. Once the descriptor is used (NewObject, Conn.Register), CodeForErrorName
	// maps those names to those codes, so clients receive them with their codes.
	Errors []*Error
}

func (d *ServiceDesc) method(member string) *MethodDesc {
	for i := range d.Methods {
		if d.Methods[i].Name == member {
			return &d.Methods[i]
		}
	}
	return nil
}

func (d *ServiceDesc) check() error {
	if err := wire.ValidateInterfaceName(d.Interface); err != nil {
		return fmt.Errorf("service descriptor: %w", err)
	}
	if err := wire.ValidateObjectPath(string(d.Path)); err != nil {
		return fmt.Errorf("service descriptor for %s: %w", d.Interface, err)
	}
	for _, m := range d.Methods {
		if m.handle == nil {
			return fmt.Errorf("service descriptor for %s: method %s was not made by UnaryMethod.Desc", d.Interface, m.Name)
		}
	}
	return nil
}
