package runtime

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/runtime/kdbusimpl"
	"github.com/kdbus-go/kdbus/wire"
)

// SignalType describes one signal of a service: its D-Bus name and the codec of its
// arguments, which are the fields of the message T. Generated code declares one per signal
// and calls Emit on the server side and Subscribe on the client side.
type SignalType[T any] struct {
	Interface string
	Name      string
	Args      kdbusimpl.Codec[T]

	infoCache atomic.Pointer[MethodInfo]
}

// info returns the signal's MethodInfo, made on first use and shared by all its emissions
// and deliveries.
func (s *SignalType[T]) info() *MethodInfo {
	if p := s.infoCache.Load(); p != nil {
		return p
	}
	s.infoCache.CompareAndSwap(nil, &MethodInfo{Interface: s.Interface, Member: s.Name, NoReply: true, Kind: KindSignal})
	return s.infoCache.Load()
}

// Emitter sends a service's signals from one object path on one connection. Generated code
// wraps it in a type with a typed Emit method per signal.
type Emitter struct {
	conn *Conn
	path wire.ObjectPath
	dest string
}

// EmitOption adjusts an Emitter.
type EmitOption func(*Emitter)

// EmitAt emits from path instead of the service's default path: use the path the service was
// registered at with AtPath.
func EmitAt(path wire.ObjectPath) EmitOption { return func(e *Emitter) { e.path = path } }

// EmitTo sends the signals to one connection (a unique or well-known name) instead of
// broadcasting them to every subscriber.
func EmitTo(dest string) EmitOption { return func(e *Emitter) { e.dest = dest } }

// NewEmitter returns an emitter of desc's signals on conn, at desc's default path unless opts
// say otherwise.
func NewEmitter(conn *Conn, desc *ServiceDesc, opts ...EmitOption) *Emitter {
	e := &Emitter{conn: conn, path: desc.Path}
	for _, opt := range opts {
		opt(e)
	}
	return e
}

// Path returns the object path the signals are sent from.
func (em *Emitter) Path() wire.ObjectPath { return em.path }

// Emit sends the signal with arguments v. It returns once the signal is handed to the
// transport, and never waits for subscribers: on the native transport, kdbusd drops a signal
// that a subscriber's receive pool has no room for and tells that connection, which counts it
// in Conn.Stats().Dropped (the bus does not know which of its subscriptions wanted it); a
// subscription whose own buffer is full counts it in Signal.Lost.
//
// The signal passes the connection's client interceptors (KindSignal, NoReply) with v as the
// request and no response; an interceptor's error is Emit's, and the signal is not sent.
func (s *SignalType[T]) Emit(em *Emitter, v *T) error {
	if em.conn.unaryClient == nil {
		return s.emit(context.Background(), em, v)
	}
	return em.conn.invokeCall(context.Background(), s.info(), v, nil, func(ctx context.Context, _ *MethodInfo, req, _ any) error {
		v, ok := req.(*T)
		if !ok || v == nil {
			return Errorf(Internal, "an interceptor passed a %T as the arguments of signal %s; want a %T", req, s.Name, v)
		}
		return s.emit(ctx, em, v)
	})
}

// emit encodes and sends the signal.
func (s *SignalType[T]) emit(ctx context.Context, em *Emitter, v *T) error {
	buf := getBuffer()
	defer putBuffer(buf)
	var e wire.Encoder
	e.Reset((*buf)[:0], wire.NativeOrder)
	s.Args.Encode(&e, v)
	defer e.Sent()
	if err := e.Err(); err != nil {
		return Errorf(InvalidArgument, "encoding the arguments of signal %s: %v", s.Name, err)
	}
	if len(e.FDs()) > 0 {
		return Errorf(InvalidArgument, "signal %s carries file descriptors; signals cannot", s.Name)
	}
	*buf = e.Bytes()
	m := &wire.Message{
		Order: wire.NativeOrder, Type: wire.Signal, Path: em.path, Interface: s.Interface,
		Member: s.Name, Destination: em.dest, Signature: s.Args.Sig, Body: e.Bytes(),
	}
	return em.conn.send(ctx, m, nil, 0, false)
}

// Signal is one signal delivered to a subscriber: its arguments and where it came from.
type Signal[T any] struct {
	// Sender is the unique name of the connection that emitted the signal.
	Sender string
	// Path is the object path it was emitted from.
	Path wire.ObjectPath
	// Args holds the signal's arguments.
	Args *T
	// Lost is how many signals of the subscription were dropped just before this one
	// because the subscriber's buffer was full. Signals.Lost counts them all.
	Lost uint64
}

// Signals is a subscription to one signal: the matching signals arrive in order through a
// bounded buffer (Buffer sets its size). A subscriber that falls behind loses signals; it is
// told how many with the next signal it receives (Signal.Lost), and Lost counts them all.
type Signals[T any] struct {
	r   *rule
	box *mailbox[Signal[T]]
}

// C returns the channel of signals. It is closed by Close or the end of the connection.
func (s *Signals[T]) C() <-chan Signal[T] { return s.box.ch }

// Lost returns how many signals were dropped because the buffer was full.
func (s *Signals[T]) Lost() uint64 { return s.box.lost.Load() }

// Close ends the subscription and removes its match rule from the bus.
func (s *Signals[T]) Close() error { return s.r.remove() }

// SubscribeOption adjusts a subscription to a signal.
type SubscribeOption func(*subscribeConfig)

type subscribeConfig struct {
	buffer        int
	sender        *string
	path          *wire.ObjectPath
	pathNamespace wire.ObjectPath
	args          []argFilter
}

// argFilter asks for signals whose argument index equals value.
type argFilter struct {
	member string // the signal the filter was made for; "" for any
	index  int
	value  string
}

// DefaultSignalBuffer is how many signals a subscription buffers unless Buffer says
// otherwise.
const DefaultSignalBuffer = 64

// Buffer sets how many undelivered signals the subscription holds before it drops new ones.
func Buffer(n int) SubscribeOption { return func(c *subscribeConfig) { c.buffer = n } }

// FromSender subscribes to the signals of one sender, a unique or well-known bus name, instead
// of the client's destination; "" subscribes to every sender.
func FromSender(name string) SubscribeOption { return func(c *subscribeConfig) { c.sender = &name } }

// FromPath subscribes to the signals emitted from path, instead of the client's path; ""
// subscribes to every path.
func FromPath(path wire.ObjectPath) SubscribeOption {
	return func(c *subscribeConfig) { c.path = &path }
}

// FromPathNamespace subscribes to the signals emitted from path or any path below it.
func FromPathNamespace(path wire.ObjectPath) SubscribeOption {
	return func(c *subscribeConfig) { c.pathNamespace = path; c.path = new(wire.ObjectPath) }
}

// MatchArg subscribes to the signals named member whose argument index (counting from 0) is a
// string, object path or signature equal to value. Generated code offers a typed option per
// such argument (Match<Signal><Field>). On the native transport the filter is part of the
// bloom mask, so non-matching signals never wake the subscriber; on classic buses it is part
// of the match rule (argN for strings, argNpath for object paths); signatures are compared on
// arrival.
func MatchArg(member string, index int, value string) SubscribeOption {
	return func(c *subscribeConfig) {
		c.args = append(c.args, argFilter{member: member, index: index, value: value})
	}
}

// Subscribe subscribes to the signal on o's connection: by default, the signals o's
// destination emits from o's path.
func (s *SignalType[T]) Subscribe(ctx context.Context, o *Object, opts ...SubscribeOption) (*Signals[T], error) {
	cfg := subscribeConfig{buffer: DefaultSignalBuffer}
	for _, opt := range opts {
		opt(&cfg)
	}
	mr, exact, err := signalRule(s.Interface, s.Name, s.Args.Sig, o, &cfg)
	if err != nil {
		return nil, err
	}
	decode := s.Args.Decode
	sig := s.Args.Sig
	return subscribeDecoded(ctx, o.conn, mr, cfg.buffer, s.info(), func(m *wire.Message) (*T, bool) {
		if !exact.match(m) {
			return nil, false // an argument that only looked alike
		}
		body, err := adaptBody(m.Body, m.Order, m.Signature, sig)
		if err != nil {
			return nil, false // not this signal as declared, nor a version of it
		}
		args := new(T)
		var d wire.Decoder
		d.Reset(body, m.Order)
		decode(&d, args)
		return args, d.Done() == nil
	})
}

// subscribeDecoded adds rule mr to the bus and delivers the matching messages that decode
// turns into arguments, through a buffer of the given size. Each delivery passes the server
// interceptors as info, with the arguments (a *T) as the request.
func subscribeDecoded[T any](ctx context.Context, c *Conn, mr *match.Rule, buffer int, info *MethodInfo, decode func(*wire.Message) (*T, bool)) (*Signals[T], error) {
	box := newMailbox[Signal[T]](buffer)
	setLost := func(v *Signal[T], lost uint64) { v.Lost = lost }
	r := &rule{conn: c, match: mr, close: box.close, deliver: func(m *wire.Message, st stamp) {
		args, ok := decode(m)
		if !ok {
			return
		}
		if c.unaryServer == nil {
			box.put(Signal[T]{Sender: m.Sender, Path: m.Path, Args: args}, setLost)
			return
		}
		sender, path := m.Sender, m.Path
		c.interceptSignal(m, st, info, args, func(_ context.Context, req any) (any, error) {
			args, ok := req.(*T)
			if !ok || args == nil {
				return nil, Errorf(Internal, "an interceptor passed a %T as the arguments of signal %s; want a %T", req, info.Member, args)
			}
			box.put(Signal[T]{Sender: sender, Path: path, Args: args}, setLost)
			return nil, nil
		})
	}}
	if err := c.addRule(ctx, r); err != nil {
		return nil, err
	}
	return &Signals[T]{r: r, box: box}, nil
}

// interceptSignal passes a signal decoded for a subscription (args) through the server
// interceptors, as info, to deliver, which puts it into the subscription. It runs on the
// connection's reader; the interceptors see the sender as the Caller. A signal they refuse
// is not delivered.
func (c *Conn) interceptSignal(m *wire.Message, st stamp, info *MethodInfo, args any, deliver UnaryHandler) {
	ctx := withCaller(c.ctx, &Caller{conn: c, Sender: m.Sender, Path: m.Path, Interface: m.Interface, Member: m.Member, stamp: st, onReader: true})
	c.serveCall(ctx, info, args, deliver)
}

// exactArgs are the argument filters that the bus cannot check exactly: object paths (argNpath
// also matches prefixes) and signatures (match rules have no key for them).
type exactArgs []argFilter

func (x exactArgs) match(m *wire.Message) bool {
	for _, f := range x {
		if v, ok := stringArg(m, f.index); !ok || v != f.value {
			return false
		}
	}
	return true
}

// signalRule builds the match rule of a subscription to signal member of iface, whose
// arguments have signature sig.
func signalRule(iface, member string, sig wire.Signature, o *Object, cfg *subscribeConfig) (*match.Rule, exactArgs, error) {
	r := &match.Rule{Type: wire.Signal, Sender: o.dest, Interface: iface, Member: member, Path: o.path}
	if cfg.sender != nil {
		r.Sender = *cfg.sender
	}
	if r.Sender != "" {
		if err := wire.ValidateBusName(r.Sender); err != nil {
			return nil, nil, Errorf(InvalidArgument, "subscribing to %s: FromSender: %v", member, err)
		}
	}
	if cfg.path != nil {
		r.Path = *cfg.path
	}
	if cfg.pathNamespace != "" {
		if err := wire.ValidateObjectPath(string(cfg.pathNamespace)); err != nil {
			return nil, nil, Errorf(InvalidArgument, "subscribing to %s: FromPathNamespace: %v", member, err)
		}
		r.PathNamespace = cfg.pathNamespace
	}
	if r.Path != "" {
		if err := wire.ValidateObjectPath(string(r.Path)); err != nil {
			return nil, nil, Errorf(InvalidArgument, "subscribing to %s: FromPath: %v", member, err)
		}
	}
	var exact exactArgs
	types := argTypes(sig)
	for _, f := range cfg.args {
		if f.member != "" && f.member != member {
			return nil, nil, Errorf(InvalidArgument, "subscribing to %s with a filter made for signal %s", member, f.member)
		}
		if f.index < 0 || f.index >= len(types) || f.index > match.MaxArgIndex {
			return nil, nil, Errorf(InvalidArgument, "subscribing to %s: no argument %d to filter on (signature %q)", member, f.index, sig)
		}
		switch types[f.index] {
		case "s":
			r.Args = append(r.Args, match.ArgMatch{Index: f.index, Value: f.value})
		case "o":
			if err := wire.ValidateObjectPath(f.value); err != nil {
				return nil, nil, Errorf(InvalidArgument, "subscribing to %s: argument %d: %v", member, f.index, err)
			}
			r.ArgPaths = append(r.ArgPaths, match.ArgMatch{Index: f.index, Value: f.value})
			exact = append(exact, f)
		case "g":
			if err := wire.ValidateSignature(f.value); err != nil {
				return nil, nil, Errorf(InvalidArgument, "subscribing to %s: argument %d: %v", member, f.index, err)
			}
			exact = append(exact, f)
		default:
			return nil, nil, Errorf(InvalidArgument, "subscribing to %s: argument %d has type %q; only strings, object paths and signatures can be filtered on", member, f.index, types[f.index])
		}
	}
	if _, err := match.Parse(r.String()); err != nil {
		return nil, nil, Errorf(InvalidArgument, "subscribing to %s: %v", member, err)
	}
	return r, exact, nil
}

// argTypes splits a valid signature into its complete types.
func argTypes(sig wire.Signature) []string {
	var out []string
	for s := string(sig); s != ""; {
		n := wire.TypeLen(s)
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

// stringArg returns argument index of m when it is a string, object path or signature.
func stringArg(m *wire.Message, index int) (string, bool) {
	types := argTypes(m.Signature)
	if index >= len(types) {
		return "", false
	}
	var d wire.Decoder
	d.Reset(m.Body, m.Order)
	for _, t := range types[:index] {
		d.Skip(t)
	}
	var v string
	switch types[index] {
	case "s":
		v = d.String()
	case "o":
		v = string(d.ObjectPath())
	case "g":
		v = string(d.Signature())
	default:
		return "", false
	}
	return v, d.Err() == nil
}

// String describes the subscription's rule, for logs.
func (s *Signals[T]) String() string { return fmt.Sprintf("signals matching %s", s.r.match) }
