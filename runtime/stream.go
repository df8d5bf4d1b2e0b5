package runtime

import (
	"context"
	"fmt"

	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
)

// A stream is one D-Bus method call, the opening call, named after the rpc: its arguments are
// the request of a server-streaming rpc, its reply ends the stream (a method return for OK,
// carrying the response of a client-streaming rpc; an error for any other status). The frames
// travel beside it as Data signals between the two peers, with credit-based flow control;
// docs/streaming.md describes the wire.

// ClientStream is the caller's end of a stream, as interceptors see it.
type ClientStream interface {
	// Context returns the stream's context: the one it was opened with, ended with the stream.
	Context() context.Context
	// Header waits for the server's response header (or the end of the stream) and returns it.
	Header() (Metadata, error)
	// Trailer returns the server's trailer, once the stream ended.
	Trailer() Metadata
	// CloseSend tells the server that no more messages follow.
	CloseSend() error
	// SendMsg sends a message; it waits while the server's receive window is full. After
	// the stream ended it returns io.EOF; RecvMsg then returns the status.
	SendMsg(m any) error
	// RecvMsg receives the next message into m; io.EOF after a clean end, else the status
	// as an *Error.
	RecvMsg(m any) error
}

// ServerStream is the server's end of a stream, as interceptors see it.
type ServerStream interface {
	// Context returns the handler's context: the caller's deadline, cancelled when the caller
	// cancels or leaves; CallerFrom and MetadataFrom work on it.
	Context() context.Context
	// SetHeader adds md to the response header, sent before the first message.
	SetHeader(Metadata) error
	// SendHeader sends the response header now, with md added.
	SendHeader(Metadata) error
	// SetTrailer adds md to the trailer, sent when the handler returns.
	SetTrailer(Metadata)
	// SendMsg sends a message to the caller, waiting while its receive window is full.
	SendMsg(m any) error
	// RecvMsg receives the caller's next message into m; io.EOF once the caller closed its
	// side.
	RecvMsg(m any) error
}

// ServerStreamingClient is the caller's end of a server-streaming rpc.
type ServerStreamingClient[Res any] interface {
	// Recv returns the next message; io.EOF at the end of the stream.
	Recv() (*Res, error)
	ClientStream
}

// ServerStreamingServer is the server's end of a server-streaming rpc.
type ServerStreamingServer[Res any] interface {
	// Send sends a message to the caller.
	Send(*Res) error
	ServerStream
}

// ClientStreamingClient is the caller's end of a client-streaming rpc.
type ClientStreamingClient[Req, Res any] interface {
	// Send sends a message to the server.
	Send(*Req) error
	// CloseAndRecv closes the sending side and waits for the server's response.
	CloseAndRecv() (*Res, error)
	ClientStream
}

// ClientStreamingServer is the server's end of a client-streaming rpc.
type ClientStreamingServer[Req, Res any] interface {
	// Recv returns the caller's next message; io.EOF once the caller closed its side.
	Recv() (*Req, error)
	// SendAndClose sets the response, sent when the handler returns.
	SendAndClose(*Res) error
	ServerStream
}

// BidiStreamingClient is the caller's end of a bidirectional rpc.
type BidiStreamingClient[Req, Res any] interface {
	// Send sends a message to the server.
	Send(*Req) error
	// Recv returns the server's next message; io.EOF at the end of the stream.
	Recv() (*Res, error)
	ClientStream
}

// BidiStreamingServer is the server's end of a bidirectional rpc.
type BidiStreamingServer[Req, Res any] interface {
	// Recv returns the caller's next message; io.EOF once the caller closed its side.
	Recv() (*Req, error)
	// Send sends a message to the caller.
	Send(*Res) error
	ServerStream
}

// StreamMethod describes one streaming rpc: generated code declares one per rpc, and calls
// Open…Stream on the client side and …StreamDesc for the server's ServiceDesc.
type StreamMethod[Req, Resp any] struct {
	Interface, Name string
	// In encodes the caller's messages: the request of a server-streaming rpc, or every frame
	// the caller sends.
	In kdbusimpl.Codec[Req]
	// Out encodes the server's messages: every frame it sends, or the response of a
	// client-streaming rpc.
	Out kdbusimpl.Codec[Resp]
	// ClientStreams and ServerStreams say which sides stream.
	ClientStreams, ServerStreams bool
}

func (m *StreamMethod[Req, Resp]) info() *MethodInfo {
	return &MethodInfo{Interface: m.Interface, Member: m.Name, ClientStreams: m.ClientStreams, ServerStreams: m.ServerStreams, Kind: KindStream}
}

// openSigs returns the signatures of the opening call's arguments and of its reply.
func (m *StreamMethod[Req, Resp]) openSigs() (in, out wire.Signature) {
	if !m.ClientStreams {
		in = m.In.Sig
	}
	if !m.ServerStreams {
		out = m.Out.Sig
	}
	return in, out
}

// kind names the shape of the rpc as the introspection annotation does.
func (m *StreamMethod[Req, Resp]) kind() string {
	switch {
	case m.ClientStreams && m.ServerStreams:
		return "bidi"
	case m.ClientStreams:
		return "client"
	}
	return "server"
}

// codecs returns the functions that encode and decode the rpc's messages as untyped values.
func (m *StreamMethod[Req, Resp]) codecs() streamCodecs {
	name := m.Interface + "." + m.Name
	return streamCodecs{
		newOut: func() any { return new(Resp) },
		encIn: func(e *wire.Encoder, v any) {
			if r, ok := v.(*Req); ok {
				m.In.Encode(e, r)
			} else {
				e.SetErr(fmt.Errorf("%s sends %T, not %T", name, v, (*Req)(nil)))
			}
		},
		decIn: func(d *wire.Decoder, v any) {
			if r, ok := v.(*Req); ok {
				m.In.Decode(d, r)
			} else {
				d.SetErr(fmt.Errorf("%s receives %T, not %T", name, v, (*Req)(nil)))
			}
		},
		encOut: func(e *wire.Encoder, v any) {
			if r, ok := v.(*Resp); ok {
				m.Out.Encode(e, r)
			} else {
				e.SetErr(fmt.Errorf("%s sends %T, not %T", name, v, (*Resp)(nil)))
			}
		},
		decOut: func(d *wire.Decoder, v any) {
			if r, ok := v.(*Resp); ok {
				m.Out.Decode(d, r)
			} else {
				d.SetErr(fmt.Errorf("%s receives %T, not %T", name, v, (*Resp)(nil)))
			}
		},
	}
}

// streamCodecs encode and decode a stream's messages: In, the caller's; Out, the server's.
type streamCodecs struct {
	newOut        func() any
	encIn, encOut func(*wire.Encoder, any)
	decIn, decOut func(*wire.Decoder, any)
}

// OpenServerStream opens a server-streaming rpc on o with request req.
func (m *StreamMethod[Req, Resp]) OpenServerStream(ctx context.Context, o *Object, req *Req, opts ...CallOption) (ServerStreamingClient[Resp], error) {
	cs, err := m.open(ctx, o, req, opts)
	if err != nil {
		return nil, err
	}
	return &typedClient[Req, Resp]{cs}, nil
}

// OpenClientStream opens a client-streaming rpc on o.
func (m *StreamMethod[Req, Resp]) OpenClientStream(ctx context.Context, o *Object, opts ...CallOption) (ClientStreamingClient[Req, Resp], error) {
	cs, err := m.open(ctx, o, nil, opts)
	if err != nil {
		return nil, err
	}
	return &typedClient[Req, Resp]{cs}, nil
}

// OpenBidiStream opens a bidirectional rpc on o.
func (m *StreamMethod[Req, Resp]) OpenBidiStream(ctx context.Context, o *Object, opts ...CallOption) (BidiStreamingClient[Req, Resp], error) {
	cs, err := m.open(ctx, o, nil, opts)
	if err != nil {
		return nil, err
	}
	return &typedClient[Req, Resp]{cs}, nil
}

// open opens the stream through the connection's stream client interceptors.
func (m *StreamMethod[Req, Resp]) open(ctx context.Context, o *Object, req *Req, opts []CallOption) (ClientStream, error) {
	streamer := func(ctx context.Context, info *MethodInfo) (ClientStream, error) {
		var body func(*wire.Encoder)
		if !m.ClientStreams {
			if req == nil {
				req = new(Req)
			}
			body = func(e *wire.Encoder) { m.In.Encode(e, req) }
		}
		in, out := m.openSigs()
		return openClientStream(ctx, o, info, m.codecs(), in, out, m.In.Sig, m.Out.Sig, body, opts)
	}
	if ic := o.conn.streamClient; ic != nil {
		return ic(ctx, m.info(), streamer)
	}
	return streamer(ctx, m.info())
}

// typedClient is the caller's end of every shape of rpc, over a ClientStream (the runtime's,
// or an interceptor's wrapper).
type typedClient[Req, Res any] struct{ ClientStream }

// Send sends a message to the server.
func (x *typedClient[Req, Res]) Send(m *Req) error { return x.SendMsg(m) }

// Recv returns the server's next message.
func (x *typedClient[Req, Res]) Recv() (*Res, error) {
	m := new(Res)
	if err := x.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// CloseAndRecv closes the sending side and returns the server's response.
func (x *typedClient[Req, Res]) CloseAndRecv() (*Res, error) {
	if err := x.CloseSend(); err != nil {
		return nil, err
	}
	return x.Recv()
}

// ServerStreamDesc returns the server-side description of a server-streaming rpc; call runs
// the implementation.
func (m *StreamMethod[Req, Resp]) ServerStreamDesc(call func(srv any, req *Req, stream ServerStreamingServer[Resp]) error) MethodDesc {
	return m.desc(func(srv any, st ServerStream) error {
		req := new(Req)
		if err := st.RecvMsg(req); err != nil {
			return err
		}
		return call(srv, req, &typedServer[Req, Resp]{st})
	})
}

// ClientStreamDesc returns the server-side description of a client-streaming rpc.
func (m *StreamMethod[Req, Resp]) ClientStreamDesc(call func(srv any, stream ClientStreamingServer[Req, Resp]) error) MethodDesc {
	return m.desc(func(srv any, st ServerStream) error {
		return call(srv, &typedServer[Req, Resp]{st})
	})
}

// BidiStreamDesc returns the server-side description of a bidirectional rpc.
func (m *StreamMethod[Req, Resp]) BidiStreamDesc(call func(srv any, stream BidiStreamingServer[Req, Resp]) error) MethodDesc {
	return m.desc(func(srv any, st ServerStream) error {
		return call(srv, &typedServer[Req, Resp]{st})
	})
}

func (m *StreamMethod[Req, Resp]) desc(h StreamHandler) MethodDesc {
	in, out := m.openSigs()
	sd := &streamDesc{
		info: m.info(), handler: h, codecs: m.codecs(), kind: m.kind(),
		inFrames: m.In.Sig, outFrames: m.Out.Sig,
	}
	return MethodDesc{
		Name: m.Name, In: in, Out: out, stream: sd,
		handle: func(any, context.Context, *wire.Decoder, *wire.Encoder, UnaryServerInterceptor) error {
			return notAStreamOpening(m.Interface, &MethodDesc{Name: m.Name, stream: sd})
		},
	}
}

// streamDesc is the server side of a stream method.
type streamDesc struct {
	info    *MethodInfo
	handler StreamHandler
	codecs  streamCodecs
	kind    string // "server", "client" or "bidi"
	// inFrames and outFrames are the signatures of the caller's and the server's messages.
	inFrames, outFrames wire.Signature
}

// notAStreamOpening is the answer to a call of a stream method that did not come as a
// stream's opening, as from busctl.
func notAStreamOpening(iface string, md *MethodDesc) error {
	return NewError(ErrorNotSupported, fmt.Sprintf("%s.%s is a %s-streaming rpc: it can only be called as a stream, by a kdbus-go client, which announces the stream before the call", iface, md.Name, md.stream.kind))
}

// typedServer is the server's end of every shape of rpc, over a ServerStream.
type typedServer[Req, Res any] struct{ ServerStream }

// Send sends a message to the caller.
func (x *typedServer[Req, Res]) Send(m *Res) error { return x.SendMsg(m) }

// Recv returns the caller's next message.
func (x *typedServer[Req, Res]) Recv() (*Req, error) {
	m := new(Req)
	if err := x.RecvMsg(m); err != nil {
		return nil, err
	}
	return m, nil
}

// SendAndClose sets the response.
func (x *typedServer[Req, Res]) SendAndClose(m *Res) error { return x.SendMsg(m) }
