package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/kdbus-go/kdbus/wire"
)

// MaxStreams is how many streams a connection serves at once; an opening call beyond it is
// refused with ResourceExhausted.
const MaxStreams = 1024

// maxCallerStreams is how many of them one caller may have open at once, so that a single
// connection cannot take every stream a service has to give.
const maxCallerStreams = MaxStreams / 4

// openServed starts serving the stream that the call in opens: each stream's handler runs on
// a goroutine of its own, outside the workers that run unary calls. It runs on the read loop.
func (c *Conn) openServed(in *incoming) {
	m := in.msg
	c.mu.Lock()
	var svc *service
	var md *MethodDesc
	if obj := c.objects[m.Path]; obj != nil {
		for _, s := range obj.services {
			if s.desc.Interface == m.Interface {
				svc, md = s, s.desc.method(m.Member)
			}
		}
	}
	if md == nil || md.stream == nil {
		// Not a stream here: the workers answer it as any other call.
		c.mu.Unlock()
		c.enqueue(in)
		return
	}
	var refusal error
	switch {
	case m.Flags&wire.FlagNoReplyExpected != 0:
		refusal = Errorf(InvalidArgument, "%s.%s opens a stream: it cannot be called without a reply", m.Interface, m.Member)
	case m.Signature != md.In && !evolves(m.Signature, md.In):
		refusal = Errorf(InvalidArgument, "%s.%s takes arguments of signature %q, the call carried %q", m.Interface, m.Member, md.In, m.Signature)
	case c.streams >= MaxStreams:
		refusal = Errorf(ResourceExhausted, "%s serves %d streams already; try again later", c.UniqueName(), MaxStreams)
	case c.callerStreams[m.Sender] >= maxCallerStreams:
		refusal = Errorf(ResourceExhausted, "%s has %d streams open with %s already, the most one caller may have; close some first", m.Sender, maxCallerStreams, c.UniqueName())
	case c.err != nil:
		refusal = c.err
	}
	if refusal != nil {
		c.mu.Unlock()
		closeAll(in.fds)
		in.src.detach()
		go c.replyError(m, refusal)
		return
	}
	c.streams++
	if c.callerStreams == nil {
		c.callerStreams = make(map[string]int)
	}
	c.callerStreams[m.Sender]++
	sc := &servedCall{}
	c.served[callKey{m.Sender, m.Serial}] = sc
	sd := md.stream
	window := int(in.begin.window)
	if window <= 0 {
		window = DefaultStreamWindow
	}
	ctx, cancel := c.ctx, context.CancelFunc(nil)
	if !in.src.stamp.deadline.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, in.src.stamp.deadline)
	} else if !in.begin.deadline.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, in.begin.deadline)
	}
	s := newStream(c, ctx, m.Serial, true, m.Sender, m.Path, sd.outFrames, sd.inFrames, window, DefaultStreamWindow)
	s.what = "the stream " + sd.info.FullName()
	s.from, s.fromSet = m.Sender, true
	sc.stream, sc.cancel = s, s.cancel
	c.mu.Unlock()
	cl := &Caller{conn: c, Sender: m.Sender, Path: m.Path, Interface: m.Interface, Member: m.Member,
		stamp: in.src.stamp, serial: m.Serial, md: in.begin.md}
	ss := &serverStream{s: s, sd: sd, in: in, ctx: withCaller(s.ctx, cl)}
	// The caller's Cancel, its leaving, the deadline and the connection's end all end the
	// stream's context; its Send and Recv then fail.
	s.ctxDone = func() {
		code, why := Canceled, "the caller cancelled it or left"
		if s.ctx.Err() == context.DeadlineExceeded {
			code, why = DeadlineExceeded, "its deadline passed"
		}
		s.fail(Errorf(code, "%s ended: %s", s.what, why))
	}
	context.AfterFunc(s.ctx, s.ctxDone)
	go func() {
		if cancel != nil {
			defer cancel()
		}
		c.serveStream(svc.impl, ss)
	}()
}

// serverStream is the runtime's ServerStream.
type serverStream struct {
	s   *stream
	sd  *streamDesc
	in  *incoming // the opening call; its arguments are the request of a server-streaming rpc
	ctx context.Context

	mu         sync.Mutex // guards what follows
	headerSent bool
	header     Metadata
	trailer    Metadata
	requested  bool        // the request of a server-streaming rpc was received
	held       []io.Closer // the request's memfd payloads, unmapped when the handler returns
	response   []byte      // the encoded response of a client-streaming rpc
	respFDs    []int       // its memfd payloads' descriptors, owned until the reply is sent
	respMask   uint64
	responded  bool
}

// serveStream runs the handler of a stream and ends the stream with its outcome.
func (c *Conn) serveStream(srv any, ss *serverStream) {
	s, m := ss.s, ss.in.msg
	go s.writer()
	err := ss.run(srv, c.streamServer)
	if s.ctx.Err() != nil {
		s.ctxDone() // the caller's deadline, cancellation or departure decides the outcome
	}
	ss.releaseRequest()
	s.releaseKept()
	s.flushAndStop()
	ss.mu.Lock()
	header := ss.header
	sendHeader := !ss.headerSent && len(header) > 0
	ss.headerSent = true
	trailer, body, fds, mask := ss.trailer, ss.response, ss.respFDs, ss.respMask
	ss.respFDs = nil
	ss.mu.Unlock()
	defer closeAll(fds)
	if sendHeader {
		c.sendMetadata(m.Sender, m.Path, m.Serial, metaHeader, header)
	}
	if len(trailer) > 0 {
		c.sendMetadata(m.Sender, m.Path, m.Serial, metaTrailer, trailer)
	}
	s.mu.Lock()
	if s.ended && s.endErr != nil && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The stream broke under the handler, which ignored it or returned its context's
		// error: the stream's own status says why.
		err = s.endErr
	}
	s.failLocked(io.EOF)
	s.dropQueueLocked()
	s.mu.Unlock()
	c.mu.Lock()
	c.streams--
	if c.callerStreams[m.Sender]--; c.callerStreams[m.Sender] <= 0 {
		delete(c.callerStreams, m.Sender)
	}
	delete(c.served, callKey{m.Sender, m.Serial})
	c.mu.Unlock()
	if err != nil {
		c.replyError(m, err)
		return
	}
	var sig wire.Signature
	var e *wire.Encoder
	if !ss.sd.info.ServerStreams {
		sig = ss.sd.outFrames
		if !ss.responded {
			e = wire.NewEncoder(nil, wire.NativeOrder)
			ss.sd.codecs.encOut(e, ss.newResponse())
			body, fds, mask = e.Bytes(), e.FDs(), e.PayloadMask()
			defer e.Sent()
		}
	}
	c.t.Send(context.Background(), &wire.Message{
		Order: wire.NativeOrder, Type: wire.MethodReturn, ReplySerial: m.Serial,
		Destination: m.Sender, Signature: sig, Body: body,
	}, fds, sendOptions{payloads: mask})
}

// newResponse returns a zero response for a client-streaming handler that returned without
// SendAndClose: the reply needs one.
func (ss *serverStream) newResponse() any { return ss.sd.codecs.newOut() }

// run runs the handler through the interceptors, turning a panic into an Internal error.
func (ss *serverStream) run(srv any, ic StreamServerInterceptor) (err error) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("kdbus runtime: stream handler panicked", "method", ss.sd.info.FullName(), "panic", p, "stack", string(debug.Stack()))
			err = Errorf(Internal, "the handler for %s failed: %v", ss.sd.info.FullName(), p)
		}
	}()
	if ic != nil {
		return ic(srv, ss, ss.sd.info, ss.sd.handler)
	}
	return ss.sd.handler(srv, ss)
}

// releaseRequest gives back the opening call's message and unmaps its payloads.
func (ss *serverStream) releaseRequest() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	closeAllClosers(ss.held)
	ss.held = nil
	if ss.in != nil && !ss.requested {
		ss.requested = true
		closeAll(ss.in.fds)
		ss.in.src.release()
	}
}

func (ss *serverStream) Context() context.Context { return ss.ctx }

func (ss *serverStream) SetHeader(md Metadata) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.headerSent {
		return fmt.Errorf("runtime: the header of %s was sent already", ss.sd.info.FullName())
	}
	if ss.header == nil {
		ss.header = Metadata{}
	}
	ss.header.join(md)
	return nil
}

func (ss *serverStream) SendHeader(md Metadata) error {
	if err := ss.SetHeader(md); err != nil {
		return err
	}
	return ss.flushHeader()
}

// flushHeader sends the header unless it went already; Data signals sent after it follow it.
func (ss *serverStream) flushHeader() error {
	ss.mu.Lock()
	if ss.headerSent {
		ss.mu.Unlock()
		return nil
	}
	ss.headerSent = true
	h := ss.header
	ss.mu.Unlock()
	m := ss.in.msg
	return ss.s.c.sendMetadata(m.Sender, m.Path, m.Serial, metaHeader, h)
}

func (ss *serverStream) SetTrailer(md Metadata) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.trailer == nil {
		ss.trailer = Metadata{}
	}
	ss.trailer.join(md)
}

func (ss *serverStream) SendMsg(m any) error {
	if !ss.sd.info.ServerStreams {
		// A client-streaming rpc: the one response goes in the reply.
		e := wire.NewEncoder(nil, wire.NativeOrder)
		defer e.Sent()
		ss.sd.codecs.encOut(e, m)
		if err := e.Err(); err != nil {
			return Errorf(InvalidArgument, "encoding the response of %s: %v", ss.sd.info.FullName(), err)
		}
		if err := checkFDs(e, "the response of "+ss.sd.info.FullName()); err != nil {
			return err
		}
		ss.mu.Lock()
		defer ss.mu.Unlock()
		if ss.responded {
			return Errorf(FailedPrecondition, "%s: SendAndClose called twice", ss.sd.info.FullName())
		}
		// The reply goes when the handler returns: the payloads are kept until then.
		fds, err := dupFDs(e.FDs())
		if err != nil {
			return Errorf(ResourceExhausted, "keeping the response of %s: %v", ss.sd.info.FullName(), err)
		}
		ss.response, ss.respFDs, ss.respMask, ss.responded = e.Bytes(), fds, e.PayloadMask(), true
		return nil
	}
	ss.mu.Lock()
	sent := ss.headerSent
	ss.mu.Unlock()
	if !sent {
		if err := ss.flushHeader(); err != nil {
			return err
		}
	}
	return ss.s.send(m, ss.sd.codecs.encOut)
}

func (ss *serverStream) RecvMsg(m any) error {
	if ss.sd.info.ClientStreams {
		return ss.s.recv(m, ss.sd.codecs.decIn)
	}
	// A server-streaming rpc: its one request came with the opening call.
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.requested {
		return io.EOF
	}
	ss.requested = true
	in := ss.in
	defer closeAll(in.fds)
	defer in.src.release()
	body, err := adaptBody(in.msg.Body, in.msg.Order, in.msg.Signature, ss.sd.inFrames)
	if err != nil {
		return Errorf(InvalidArgument, "the request of %s does not decode as %q: %v", ss.sd.info.FullName(), in.msg.Signature, err)
	}
	var d wire.Decoder
	d.Reset(body, in.msg.Order)
	d.SetFDs(in.fds)
	ss.sd.codecs.decIn(&d, m)
	held := d.Held()
	if err := d.Done(); err != nil {
		closeAllClosers(held)
		return Errorf(InvalidArgument, "the request of %s does not decode as %q: %v", ss.sd.info.FullName(), in.msg.Signature, err)
	}
	ss.held = held
	return nil
}
