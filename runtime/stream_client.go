package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// StreamWindow sets the receive window of a stream the call opens: how many bytes of the
// server's messages may be in flight or waiting to be read (default DefaultStreamWindow).
func StreamWindow(bytes int) CallOption {
	return func(o *callOptions) { o.window = bytes }
}

// clientStream is the runtime's ClientStream.
type clientStream struct {
	s      *stream
	info   *MethodInfo
	codecs streamCodecs
	call   *wire.Message // the opening call, for errors
	// replySig is the signature of the opening call's reply: the response of a
	// client-streaming rpc, or nothing.
	replySig wire.Signature
	// finalTaken says the response of a client-streaming rpc was returned.
	finalTaken bool
}

// openClientStream sends the Begin and the opening call of a stream and starts its writer.
// body encodes the opening call's arguments (nil for none).
func openClientStream(ctx context.Context, o *Object, info *MethodInfo, codecs streamCodecs, openIn, openOut, inFrames, outFrames wire.Signature, body func(*wire.Encoder), opts []CallOption) (ClientStream, error) {
	var co callOptions
	for _, opt := range opts {
		opt(&co)
	}
	c := o.conn
	if o.dest == "" && c.UniqueName() != "" {
		return nil, Errorf(FailedPrecondition, "no destination for %s: the service declares no bus_name; pass runtime.WithDestination to the client", info.FullName())
	}
	if err := o.awaitReady(ctx, &co); err != nil {
		return nil, err
	}
	call := o.newCall(info.Interface, info.Member, openIn, false, &co)
	if err := ctx.Err(); err != nil {
		return nil, contextError(err, call)
	}
	e := wire.NewEncoder(nil, call.Order)
	if body != nil {
		body(e)
	}
	defer e.Sent()
	if err := e.Err(); err != nil {
		return nil, Errorf(InvalidArgument, "encoding the request of %s: %v", info.Member, err)
	}
	if err := checkFDs(e, "the request of "+info.Member); err != nil {
		return nil, err
	}
	call.Body = e.Bytes()
	// The callee's messages are accepted only from the unique name that owns the destination:
	// the bus vouches for the sender of every message, and a well-known name's owner is
	// asked of the bus before the stream opens, so that no third connection can forge
	// frames, credit or metadata for the stream's serial.
	from := o.dest
	if from != "" && from[0] != ':' && hasSideChannel(from) {
		owner, err := c.GetNameOwner(ctx, from)
		switch {
		case err == nil:
			from = owner
		case errors.Is(err, &Error{Name: ErrorNameHasNoOwner}):
			from = "" // started by the call, if activatable: its first message tells who it is
		default:
			if cerr := ctx.Err(); cerr != nil {
				return nil, contextError(cerr, call)
			}
			return nil, fmt.Errorf("opening %s: asking the bus who owns %s: %w", info.FullName(), o.dest, err)
		}
	}
	window := co.window
	if window <= 0 {
		window = DefaultStreamWindow
	}
	call.Serial = c.t.NextSerial()
	s := newStream(c, ctx, call.Serial, false, o.dest, o.path, inFrames, outFrames, DefaultStreamWindow, window)
	s.what = "the stream " + info.FullName()
	if o.dest == "" || from != "" {
		s.from, s.fromSet = from, true
	}
	cs := &clientStream{s: s, info: info, codecs: codecs, call: call, replySig: openOut}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		s.cancel()
		return nil, err
	}
	c.clientStreams[call.Serial] = s
	c.mu.Unlock()
	dl, _ := ctx.Deadline()
	err := c.sendBegin(ctx, call, dl, beginStream, uint32(window), OutgoingMetadata(ctx))
	if err == nil {
		err = c.t.Send(ctx, call, e.FDs(), sendOptions{deadline: dl, payloads: e.PayloadMask()})
	}
	if err != nil {
		c.mu.Lock()
		delete(c.clientStreams, call.Serial)
		c.mu.Unlock()
		s.cancel()
		if cerr := ctx.Err(); cerr != nil {
			return nil, contextError(cerr, call)
		}
		return nil, err
	}
	go s.writer()
	s.ctxDone = func() { cs.abort(ctx) }
	context.AfterFunc(s.ctx, s.ctxDone)
	return cs, nil
}

// abort ends the stream when its context ended before the stream did, and tells the server
// when the caller cancelled it.
func (cs *clientStream) abort(ctx context.Context) {
	s := cs.s
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	err := ctx.Err()
	if err == nil {
		err = context.Canceled
	}
	s.failLocked(contextError(err, cs.call))
	s.sendErr = io.EOF
	s.headerDone = true
	s.dropQueueLocked()
	s.mu.Unlock()
	c := s.c
	c.mu.Lock()
	if c.clientStreams[s.serial] == s {
		delete(c.clientStreams, s.serial)
	}
	c.mu.Unlock()
	if err == context.Canceled {
		c.sendCancel(s.peer, s.path, s.serial)
	}
}

// gotReply ends the stream with the opening call's reply. It runs on the read loop, which
// has removed the stream from the connection's table.
func (s *stream) gotReply(r inbound) {
	var err error
	var final *inbound
	if sender := r.Msg.Sender; s.fromSet && sender != s.from && sender != classic.BusName {
		// The destination's name moved to another connection between the lookup and the
		// call: what the new owner sent was not accepted.
		r.closeFDs()
		r.release()
		s.finish(Errorf(Unavailable, "%s: %s changed owner while the stream opened; open it again", s.what, s.peer), nil)
		return
	}
	if r.Msg.Type == wire.Error {
		e := errorFromReply(r.Msg)
		err = e
		// The server (or the bus) enforces the caller's deadline too, and may beat the
		// context's own timer by a hair. It is the deadline either way.
		if dl, ok := s.ctx.Deadline(); ok && (e.Code == DeadlineExceeded || e.Name == ErrorNoReply && time.Until(dl) < 10*time.Millisecond) {
			err = &callError{err: Errorf(DeadlineExceeded, "%s: %v", s.what, context.DeadlineExceeded), ctx: context.DeadlineExceeded}
		}
		r.closeFDs()
		r.release()
	} else {
		r.detach()
		final = &r
	}
	s.finish(err, final)
}

// finish ends the caller's end of the stream with status err (nil: OK) and, for a
// client-streaming rpc, the reply that carries the response.
func (s *stream) finish(err error, final *inbound) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		if final != nil {
			final.closeFDs()
		}
		return
	}
	s.final = final
	s.detachQueueLocked()
	s.failLocked(err)
	s.sendErr = io.EOF
	s.peerDone, s.headerDone = true, true
	s.mu.Unlock()
}

func (cs *clientStream) Context() context.Context { return cs.s.ctx }

func (cs *clientStream) Header() (Metadata, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.headerDone {
		s.recvWaiters++
		s.recvCond.Wait()
		s.recvWaiters--
	}
	if s.header == nil && s.ended && s.endErr != nil {
		return nil, s.endErr
	}
	return s.header, nil
}

func (cs *clientStream) Trailer() Metadata {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trailer
}

func (cs *clientStream) CloseSend() error {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closeSend {
		s.closeSend = true
		s.wakeWriter()
	}
	return nil
}

func (cs *clientStream) SendMsg(m any) error {
	if !cs.info.ClientStreams {
		return Errorf(FailedPrecondition, "%s: the caller of a server-streaming rpc sends only the request it opened the stream with", cs.info.FullName())
	}
	return cs.s.send(m, cs.codecs.encIn)
}

func (cs *clientStream) RecvMsg(m any) error {
	if cs.info.ServerStreams {
		return cs.s.recv(m, cs.codecs.decOut)
	}
	// A client-streaming rpc: the response is the opening call's reply.
	s := cs.s
	s.mu.Lock()
	for !s.ended {
		s.recvWaiters++
		s.recvCond.Wait()
		s.recvWaiters--
	}
	err, final := s.endErr, s.final
	s.mu.Unlock()
	switch {
	case err != nil:
		return err
	case cs.finalTaken || final == nil:
		return io.EOF
	}
	cs.finalTaken = true
	body, err := adaptBody(final.Msg.Body, final.Msg.Order, final.Msg.Signature, cs.replySig)
	if err != nil {
		final.closeFDs()
		final.FDs = nil
		if notEvolution(err) {
			return Errorf(Internal, "the response of %s has signature %q, want %q: client and server disagree on the interface", cs.info.FullName(), final.Msg.Signature, cs.replySig)
		}
		return Errorf(Internal, "decoding the response of %s: %v", cs.info.FullName(), err)
	}
	var d wire.Decoder
	d.Reset(body, final.Msg.Order)
	d.SetFDs(final.FDs)
	cs.codecs.decOut(&d, m)
	final.closeFDs() // the payloads' mappings outlive their descriptors
	final.FDs = nil
	held := d.Held()
	if err := d.Done(); err != nil {
		closeAllClosers(held)
		return Errorf(Internal, "decoding the response of %s: %v", cs.info.FullName(), err)
	}
	if len(held) > 0 {
		keepResponsePayloads(m, held)
	}
	return nil
}

// gotMetadata takes the server's header or trailer.
func (s *stream) gotMetadata(sender string, which uint32, md Metadata) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fromPeerLocked(sender) || s.ended {
		return
	}
	switch which {
	case metaHeader:
		if !s.headerDone {
			s.header, s.headerDone = md, true
			s.recvCond.Broadcast()
		}
	case metaTrailer:
		s.trailer = md
	}
}
