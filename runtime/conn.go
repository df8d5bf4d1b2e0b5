// Package runtime is what generated code calls: a connection to a bus, typed calls with
// deadlines and cancellation, dispatch of incoming calls to registered servers, errors mapped
// between status codes and D-Bus error names, interceptors, the caller's identity, the
// standard interfaces (Introspectable, Peer, Properties) and bus name ownership.
//
// The codecs that generated code uses live in package kdbusimpl, which is for generated code
// only; users need this package alone.
package runtime

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// Option configures a Conn.
type Option func(*connOptions)

type connOptions struct {
	unaryClient   []UnaryClientInterceptor // first outermost; chained by newConn
	unaryServer   []UnaryServerInterceptor
	maxConcurrent int
	maxQueued     int
	peer          bool
	poolSize      int
	noLanes       bool

	streamClient []StreamClientInterceptor
	streamServer []StreamServerInterceptor
}

// WithUnaryClientInterceptor runs ic around every call this connection makes and every
// signal it emits (see UnaryClientInterceptor). Given several times, the interceptors chain
// in the order given, the first outermost.
func WithUnaryClientInterceptor(ic UnaryClientInterceptor) Option {
	return func(o *connOptions) { o.unaryClient = append(o.unaryClient, ic) }
}

// WithChainUnaryClientInterceptor adds ics to the connection's client interceptors, after
// any given before; the first is outermost.
func WithChainUnaryClientInterceptor(ics ...UnaryClientInterceptor) Option {
	return func(o *connOptions) { o.unaryClient = append(o.unaryClient, ics...) }
}

// WithUnaryServerInterceptor runs ic around every call this connection serves and every
// signal it delivers to a subscription (see UnaryServerInterceptor). Given several times,
// the interceptors chain in the order given, the first outermost.
func WithUnaryServerInterceptor(ic UnaryServerInterceptor) Option {
	return func(o *connOptions) { o.unaryServer = append(o.unaryServer, ic) }
}

// WithChainUnaryServerInterceptor adds ics to the connection's server interceptors, after
// any given before; the first is outermost.
func WithChainUnaryServerInterceptor(ics ...UnaryServerInterceptor) Option {
	return func(o *connOptions) { o.unaryServer = append(o.unaryServer, ics...) }
}

// WithMaxConcurrentCalls bounds how many handlers run at once (default 64) and how many
// incoming calls wait for one (default 1024). Calls beyond both get a LimitsExceeded error.
func WithMaxConcurrentCalls(running, queued int) Option {
	return func(o *connOptions) { o.maxConcurrent, o.maxQueued = max(running, 1), max(queued, 0) }
}

// WithPoolSize asks kdbusd for a receive pool of size bytes on the native transport (default
// 16 MiB; the bus grants 256 KiB to 256 MiB). A sender may fill about a sixth of a pool with
// messages the receiver has not asked for, so larger pools take larger unsolicited messages;
// pages cost memory only once used. Classic connections ignore it.
func WithPoolSize(size int) Option { return func(o *connOptions) { o.poolSize = size } }

// WithLanes lets a native connection open direct lanes to the peers it talks to (default on);
// off, every message goes through the bus. Classic connections ignore it.
func WithLanes(on bool) Option { return func(o *connOptions) { o.noLanes = !on } }

// PeerToPeer makes Dial skip Hello: the other end is a peer, not a bus.
func PeerToPeer() Option { return func(o *connOptions) { o.peer = true } }

// Conn is a connection to a bus (or a peer) that makes calls and serves registered objects.
// It is safe for concurrent use.
type Conn struct {
	t    transport
	opts connOptions
	// unaryClient and unaryServer are the connection's interceptors, chained once by
	// newConn; nil when there are none.
	unaryClient UnaryClientInterceptor
	unaryServer UnaryServerInterceptor

	mu      sync.Mutex
	pending map[uint32]chan reply
	objects map[wire.ObjectPath]*object
	matches map[*rule]struct{}
	owners  map[string]*ownerTrack // owners of well-known names that rules name as sender
	err     error                  // set once the connection is broken or closed
	done    chan struct{}

	// ctx is the parent of every handler's context; it ends with the connection.
	ctx    context.Context
	cancel context.CancelFunc

	work     chan *incoming
	workers  int // guarded by mu
	idle     int // guarded by mu
	inflight int // calls queued or running, guarded by mu

	// oneway holds the no-reply calls waiting for each object, run one at a time in order;
	// guarded by mu.
	oneway map[wire.ObjectPath]*onewayQueue

	creds    credCache
	received atomic.Uint64
	refused  atomic.Uint64 // calls refused for being over the limits that got no answer
	// busyReplies counts the refusals being written (enqueue).
	busyReplies atomic.Int32
	exports     atomic.Uint64 // paths handed out by Export

	// The call context and streams (callctx.go, stream*.go), guarded by mu.
	served        map[callKey]*servedCall // calls and streams being served, by caller and serial
	begins        beginTable              // Begins waiting for their call
	callMD        map[uint32]*callMeta    // response metadata of calls that asked for it
	clientStreams map[uint32]*stream      // streams this connection opened, by serial
	streams       int                     // streams being served
	callerStreams map[string]int          // streams being served, by caller

	vanishWatch atomic.Bool // the rule that reports callers leaving the bus is (being) added
	// loaned and loanedBatches count the received stream frames still on loan from the
	// transport.
	loaned        atomic.Int64
	loanedBatches atomic.Int32
	// queuedFDs counts the descriptors of received stream frames not yet read (stream_fds.go).
	queuedFDs atomic.Int64
	// The stream interceptors, each chain composed once.
	streamClient StreamClientInterceptor
	streamServer StreamServerInterceptor
}

type reply struct {
	inbound
	err error
}

// closeFDs is done with the reply: it closes the descriptors the caller did not take and
// releases the message's pool slice, so it runs after the body is decoded.
func (r *reply) closeFDs() {
	r.inbound.closeFDs()
	r.release()
}

// Dial connects to the bus at addr, a D-Bus address list, trying its entries in order:
// "kdbus:" entries over the native transport, "unix:" ones over the classic transport
// (authenticating and saying Hello). Other transports, "tcp:" among them, are skipped with an
// error that says why: kdbus-go is local IPC, whose policy and caller credentials need the
// kernel's word on each peer, which only a unix socket gives. A list such as
// "kdbus:path=/run/user/1000/kdbus;unix:path=/run/user/1000/bus" thus runs natively on kdbusd
// and classically on any other bus.
func Dial(ctx context.Context, addr string, opts ...Option) (*Conn, error) {
	var o connOptions
	for _, opt := range opts {
		opt(&o)
	}
	t, err := dialAddress(ctx, addr, o)
	if err != nil {
		return nil, err
	}
	return newConn(t, o), nil
}

// SessionBus connects to the session bus named by DBUS_SESSION_BUS_ADDRESS.
func SessionBus(ctx context.Context, opts ...Option) (*Conn, error) {
	addr, err := address.SessionBusAddress()
	if err != nil {
		return nil, err
	}
	return Dial(ctx, addr, opts...)
}

// SystemBus connects to the system bus.
func SystemBus(ctx context.Context, opts ...Option) (*Conn, error) {
	return Dial(ctx, address.SystemBusAddress(), opts...)
}

// NewConn serves an already authenticated transport connection.
func NewConn(t *classic.Conn, opts ...Option) *Conn {
	var o connOptions
	for _, opt := range opts {
		opt(&o)
	}
	return newConn(classicTransport{t}, o)
}

func newConn(t transport, o connOptions) *Conn {
	if o.maxConcurrent == 0 {
		o.maxConcurrent, o.maxQueued = 64, 1024
	}
	c := &Conn{
		t:       t,
		opts:    o,
		pending: make(map[uint32]chan reply),
		objects: make(map[wire.ObjectPath]*object),
		oneway:  make(map[wire.ObjectPath]*onewayQueue),
		matches: make(map[*rule]struct{}),
		owners:  make(map[string]*ownerTrack),
		done:    make(chan struct{}),
		work:    make(chan *incoming, o.maxConcurrent+o.maxQueued),

		served:        make(map[callKey]*servedCall),
		callMD:        make(map[uint32]*callMeta),
		clientStreams: make(map[uint32]*stream),
		streamClient:  ChainStreamClient(o.streamClient...),
		streamServer:  ChainStreamServer(o.streamServer...),
	}
	c.unaryClient, c.unaryServer = chainUnaryClient(o.unaryClient), chainUnaryServer(o.unaryServer)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.readLoop()
	return c
}

// UniqueName returns the connection's unique name on the bus.
func (c *Conn) UniqueName() string { return c.t.UniqueName() }

// Transport returns the underlying classic transport connection, or nil when the connection
// uses the native transport.
func (c *Conn) Transport() *classic.Conn { return c.t.Classic() }

// Native reports whether the connection uses the native transport.
func (c *Conn) Native() bool { return c.t.Native() }

// ConnStats counts a connection's traffic.
type ConnStats struct {
	// Received is the number of messages read from the transport.
	Received uint64
	// Wakeups is the number of times the connection's reader woke up with data: one per
	// batch of messages on the native transport; counted only there (0 on classic).
	Wakeups uint64
	// Dropped is the number of broadcasts the bus could not deliver to this connection
	// (native transport only).
	Dropped uint64
	// Undelivered is the number of no-reply messages sent without WaitDelivery that the
	// bus could not deliver (native transport only; Sync returns their errors).
	Undelivered uint64
	// Refused is the number of calls this connection did not run because its queue was full
	// (WithMaxConcurrentCalls) and whose callers got no answer from it: no-reply calls, and
	// calls refused while too many refusals were still being written (their callers hear
	// NoReply from the bus when the call times out). This is the only place they are counted.
	Refused uint64
}

// Stats returns the connection's counters.
func (c *Conn) Stats() ConnStats {
	s := c.t.Stats()
	s.Received, s.Refused = c.received.Load(), c.refused.Load()
	return s
}

// Done is closed when the connection is closed or breaks; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection. Pending calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.t.Close()
	<-c.done
	return nil
}

func (c *Conn) readLoop() {
	for {
		r, err := c.t.Recv()
		if err != nil {
			c.shutdown(err)
			return
		}
		c.received.Add(1)
		switch r.Msg.Type {
		case wire.MethodReturn, wire.Error:
			c.mu.Lock()
			ch, ok := c.pending[r.Msg.ReplySerial]
			var s *stream
			if ok {
				delete(c.pending, r.Msg.ReplySerial)
			} else {
				s = c.clientStreams[r.Msg.ReplySerial]
			}
			c.mu.Unlock()
			switch {
			case ok:
				ch <- reply{inbound: r}
			case s != nil:
				s.gotReply(r)
			default:
				// A late reply to a call whose caller gave up, or an unexpected one.
				r.closeFDs()
				r.release()
			}
		case wire.MethodCall:
			c.accept(r)
		case wire.Signal:
			if r.Msg.Interface == callInterface {
				c.handleCallSignal(r)
				continue
			}
			// Subscribers decode the body straight from a native receive pool, or copy it.
			c.deliverSignal(r.Msg, r.stamp)
			r.closeFDs()
			r.release()
		default:
			r.closeFDs() // unknown message types are ignored
			r.release()
		}
	}
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// shutdown fails every pending call with err and stops the workers.
func (c *Conn) shutdown(err error) {
	c.mu.Lock()
	c.err = err
	pending := c.pending
	c.pending = nil
	subs := c.matches
	c.matches = nil
	streams := c.clientStreams
	c.clientStreams = nil
	c.mu.Unlock()
	for _, ch := range pending {
		ch <- reply{err: err}
	}
	for _, s := range streams {
		s.finish(err, nil)
	}
	for r := range subs {
		r.once.Do(r.close)
	}
	close(c.work)
	c.cancel()
	close(c.done)
}

var replyChans = sync.Pool{New: func() any { return make(chan reply, 1) }}

// call sends m and waits for its reply, the end of ctx, or the end of the connection.
// payloads marks which of fds are sealed memfd payloads (wire.Encoder.PayloadMask), for the
// native bus to check.
func (c *Conn) call(ctx context.Context, m *wire.Message, fds []int, payloads uint64) (reply, error) {
	return c.callWith(ctx, m, fds, payloads, nil)
}

// callWith is call with the call's options: the Header and Trailer options receive the
// response metadata. Before the call it sends a Begin when the callee needs one to learn the
// request metadata or a deadline the transport does not carry; when ctx is cancelled before
// the reply, it tells the callee with Cancel.
func (c *Conn) callWith(ctx context.Context, m *wire.Message, fds []int, payloads uint64, co *callOptions) (reply, error) {
	if err := ctx.Err(); err != nil {
		return reply{}, contextError(err, m)
	}
	m.Serial = c.t.NextSerial()
	ch := replyChans.Get().(chan reply)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		replyChans.Put(ch)
		return reply{}, err
	}
	c.pending[m.Serial] = ch
	wantMD := co != nil && (co.header != nil || co.trailer != nil)
	if wantMD {
		c.callMD[m.Serial] = &callMeta{}
	}
	c.mu.Unlock()
	// The bus learns the deadline too, where it can, and forgets the call when it passes.
	dl, _ := ctx.Deadline()
	side := hasSideChannel(m.Destination)
	err := error(nil)
	if md := OutgoingMetadata(ctx); side && (len(md) > 0 || !dl.IsZero() && !c.t.Native()) {
		err = c.sendBegin(ctx, m, dl, 0, 0, md)
	}
	if err == nil {
		err = c.t.Send(ctx, m, fds, sendOptions{deadline: dl, payloads: payloads})
	}
	if err != nil {
		if wantMD {
			c.takeCallMeta(m.Serial, co, reply{})
		}
		if c.forget(m.Serial) {
			replyChans.Put(ch)
		}
		if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			return reply{}, contextError(cerr, m) // the bus was too busy to take the call in time
		}
		return reply{}, err
	}
	select {
	case r := <-ch:
		replyChans.Put(ch)
		if wantMD {
			c.takeCallMeta(m.Serial, co, r)
		}
		if r.err != nil {
			return reply{}, r.err
		}
		if r.Msg.Type == wire.Error {
			err := errorFromReply(r.Msg)
			r.closeFDs()
			// The native bus enforces the caller's deadline too, and the handler's context
			// ends at the same deadline: the bus's NoReply, or a handler's DeadlineExceeded,
			// may beat the context's own timer by a hair. It is the deadline either way.
			timedOut := err.Name == ErrorNoReply || err.Code == DeadlineExceeded
			if dl, ok := ctx.Deadline(); ok && timedOut && time.Until(dl) < 10*time.Millisecond {
				return reply{}, contextError(context.DeadlineExceeded, m)
			}
			return reply{}, err
		}
		return r, nil
	case <-ctx.Done():
		if wantMD {
			c.takeCallMeta(m.Serial, co, reply{})
		}
		if !c.forget(m.Serial) {
			// The reply (or the connection's end) arrived meanwhile: drain it.
			r := <-ch
			if r.err == nil {
				r.closeFDs()
			}
		}
		replyChans.Put(ch)
		if ctx.Err() == context.Canceled && side && m.Flags&wire.FlagNoReplyExpected == 0 {
			// A deadline the callee knows; a cancellation it must be told.
			c.sendCancel(m.Destination, m.Path, m.Serial)
		}
		return reply{}, contextError(ctx.Err(), m)
	}
}

// forget removes a pending call; it reports false when the reply was already taken.
func (c *Conn) forget(serial uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[serial]; ok {
		delete(c.pending, serial)
		return true
	}
	return false
}

func contextError(err error, m *wire.Message) error {
	code := Canceled
	if err == context.DeadlineExceeded {
		code = DeadlineExceeded
	}
	return &callError{err: Errorf(code, "call to %s.%s on %s: %v", m.Interface, m.Member, m.Destination, err), ctx: err}
}

// callError is an *Error that also matches the context error that caused it.
type callError struct {
	err *Error
	ctx error
}

func (e *callError) Error() string   { return e.err.Error() }
func (e *callError) Unwrap() []error { return []error{e.err, e.ctx} }

// send writes m without waiting for a reply; where the transport can, it waits for the bus to
// take it only as long as ctx lasts, and with wait until the bus has routed it.
func (c *Conn) send(ctx context.Context, m *wire.Message, fds []int, payloads uint64, wait bool) error {
	m.Flags |= wire.FlagNoReplyExpected
	return c.t.Send(ctx, m, fds, sendOptions{payloads: payloads, wait: wait})
}

// Sync waits until the bus has routed every message this connection sent before it, and
// returns the delivery failures of no-reply calls sent without WaitDelivery since the last
// Sync (an *Error each, joined). On a classic connection it makes a round trip to the bus and
// returns nil: classic D-Bus does not report such failures.
func (c *Conn) Sync(ctx context.Context) error {
	err := c.t.Sync(ctx)
	if errors.Is(err, errors.ErrUnsupported) {
		_, err = c.busCall(ctx, "GetId", "", "s")
	}
	return err
}

// Call makes a raw method call and returns the reply message and its descriptors, which the
// caller owns. An error reply is returned as an *Error. The call passes the client
// interceptors (KindMethod) with m as the request and no response value.
func (c *Conn) Call(ctx context.Context, m *wire.Message, fds []int) (*wire.Message, []int, error) {
	var r reply
	var err error
	if c.unaryClient == nil {
		r, err = c.call(ctx, m, fds, 0)
	} else {
		info := &MethodInfo{Interface: m.Interface, Member: m.Member, NoReply: m.Flags&wire.FlagNoReplyExpected != 0}
		err = c.invokeCall(ctx, info, m, nil, func(ctx context.Context, _ *MethodInfo, req, _ any) error {
			m, ok := req.(*wire.Message)
			if !ok {
				return Errorf(Internal, "an interceptor passed a %T as the request of a raw call; want a *wire.Message", req)
			}
			if r.Msg != nil {
				r.closeFDs() // an interceptor makes the call again
			}
			var err error
			r, err = c.call(ctx, m, fds, 0)
			return err
		})
		if err != nil && r.Msg != nil {
			r.closeFDs() // an interceptor failed the call after it was made
		}
	}
	if err != nil {
		return nil, nil, err
	}
	r.detach()
	return r.Msg, r.FDs, nil
}

// Send writes a raw message without waiting for anything. It passes no interceptor.
func (c *Conn) Send(m *wire.Message, fds []int) error {
	return c.t.Send(context.Background(), m, fds, sendOptions{})
}

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	noAutoStart  bool
	interactive  bool
	waitDelivery bool
	// header and trailer receive the response metadata of a unary call.
	header, trailer *Metadata
	// window is the receive window of a stream, in bytes.
	window int
	// ready is the call's WaitForReady (ready.go).
	ready readiness
}

// WaitDelivery makes a no-reply call return only once the bus has routed it, with the error
// if it could not be delivered (no such name, a receiver whose quota is full, the policy). It
// takes effect on kdbusd's native transport; classic D-Bus has no way to say. Without it,
// no-reply calls pipeline and their failures are collected for Sync.
func WaitDelivery() CallOption { return func(o *callOptions) { o.waitDelivery = true } }

// NoAutoStart asks the bus not to start the service to deliver the call.
func NoAutoStart() CallOption { return func(o *callOptions) { o.noAutoStart = true } }

// AllowInteractiveAuthorization lets the service prompt the user to authorize the call.
func AllowInteractiveAuthorization() CallOption {
	return func(o *callOptions) { o.interactive = true }
}

// ClientOption adjusts an Object.
type ClientOption func(*Object)

// WithDestination sets the bus name (well-known or unique) that calls go to.
func WithDestination(name string) ClientOption { return func(o *Object) { o.dest = name } }

// WithPath sets the object path that calls go to.
func WithPath(p wire.ObjectPath) ClientOption { return func(o *Object) { o.path = p } }

// Object is a remote object that generated clients call: a destination, a path and an
// interface on a connection.
type Object struct {
	conn  *Conn
	dest  string
	path  wire.ObjectPath
	iface string
	// waitForReady is the client's WithWaitForReady (ready.go).
	waitForReady bool
}

// NewObject returns the remote object for desc, at desc's bus name and path unless opts say
// otherwise.
func NewObject(conn *Conn, desc *ServiceDesc, opts ...ClientOption) *Object {
	desc.registerErrors()
	o := &Object{conn: conn, dest: desc.BusName, path: desc.Path, iface: desc.Interface}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Destination returns the bus name calls go to.
func (o *Object) Destination() string { return o.dest }

// Path returns the object path calls go to.
func (o *Object) Path() wire.ObjectPath { return o.path }

func (o *Object) newCall(iface, member string, sig wire.Signature, noReply bool, co *callOptions) *wire.Message {
	m := &wire.Message{
		Order: wire.NativeOrder, Type: wire.MethodCall, Destination: o.dest, Path: o.path,
		Interface: iface, Member: member, Signature: sig,
	}
	if noReply {
		m.Flags |= wire.FlagNoReplyExpected
	}
	if co.noAutoStart {
		m.Flags |= wire.FlagNoAutoStart
	}
	if co.interactive {
		m.Flags |= wire.FlagAllowInteractiveAuthorization
	}
	return m
}

var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

// putBuffer gives back a buffer from getBuffer: a small one to the runtime's pool, a large one
// (which the encoder took from wire's pools when a body outgrew the small one) to wire's.
func putBuffer(b *[]byte) {
	if cap(*b) <= 64<<10 {
		buffers.Put(b)
		return
	}
	wire.PutBuffer(b)
}

// idleWorkerTimeout is how long a dispatch worker waits for work before it exits.
const idleWorkerTimeout = 10 * time.Second
