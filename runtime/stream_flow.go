package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/kdbus-go/kdbus/wire"
)

// Frames travel in batches: one Data signal (u serial, u flags, a(FRAME)) carries every frame
// queued while the previous batch was being written. Flow control is by credit: a sender
// keeps at most the receiver's window of frame bytes that the receiver has not yet credited
// back (Credit: u serial, u flags, u bytes), except for a single frame larger than the window
// when nothing is outstanding; so a stream holds at most a window of frames at each end.

// Data and Credit flags.
const (
	dataHalfClose  = 1 << 0 // the sender sends no more frames after these
	dataFromCallee = 1 << 1 // sent by the side that serves the stream
	dataWantCredit = 1 << 2 // the sender is short of window: credit what was consumed once drained
)

// DefaultStreamWindow is the receive window of each direction of a stream, in bytes: how much
// of its frames a sender may have in flight or queued at the receiver.
const DefaultStreamWindow = 1 << 20

// Limits of a stream's frames.
const (
	// dataHeader is where the first frame of a Data body starts: serial, flags, the array's
	// length, and padding to 8.
	dataHeader = 16
	// maxFrame is the largest encoded frame; memfd fields carry larger data.
	maxFrame = 32 << 20
	// maxLoaned and maxLoanedBatches bound the frames a connection keeps on loan from the
	// transport (a native receive pool) while they wait to be decoded; beyond them received
	// batches are copied out, so that queued frames never hold much of a sender's quota in
	// the pool (kdbusd lets one sender have 1024 unreleased messages).
	maxLoaned        = 1 << 20
	maxLoanedBatches = 64
)

// stream is one end of a stream: frames out through a writer goroutine that batches them,
// frames in through a queue that the consumer decodes lazily, and the credit that bounds both.
type stream struct {
	c       *Conn
	serial  uint32 // the opening call's serial
	callee  bool   // this end serves the stream
	peer    string // where this end's signals go
	from    string // who the peer's signals must come from, once known
	fromSet bool
	path    wire.ObjectPath
	dataSig wire.Signature // of the Data signals this end sends
	outSig  wire.Signature // of the frames this end sends
	// outTypes are outSig's types, parsed when a frame with descriptors needs them.
	outTypes []*wire.Type
	inSig    wire.Signature // of the Data signals this end accepts
	// emptyOut and emptyIn say the frames of a direction have no fields: each is a 0 byte.
	emptyOut, emptyIn bool
	what              string // names the stream in errors

	ctx    context.Context
	cancel context.CancelFunc
	// ctxDone ends the stream when ctx ended before it; it runs once ctx is done (by
	// context.AfterFunc), and from Send and Recv when they see it first.
	ctxDone func()

	sendWindow, recvWindow int
	scratch                wire.Encoder // encodes one frame; used by the single sender
	scratchBuf             []byte

	mu                           sync.Mutex
	sendCond, recvCond, workCond sync.Cond

	// Sending, guarded by mu.
	out, spare   []byte // the batch being filled (from dataHeader), and the one to fill next
	frames       int    // frames in out
	outFDs       []int  // the descriptors of the frames in out, owned by the stream
	outMask      uint64 // which of outFDs are memfd payloads
	used         int    // frame bytes queued or sent, not yet credited by the peer
	closeSend    bool   // no more frames: CloseSend, or the handler is done
	halfSent     bool   // the half-close went out
	askCredit    bool   // a sender waits for credit: tell the peer
	asked        bool   // the peer was asked for credit and has not given any since
	creditOut    int    // consumed bytes to credit to the peer
	writing      bool   // the writer is sending a batch
	writerIdle   bool
	writerStop   bool
	writerExited bool
	sendErr      error // why frames can no longer be sent (io.EOF: the peer ended)
	sendWaiters  int

	// Receiving, guarded by mu except cur, which only the consumer uses.
	queue       []inBatch
	cur         inBatch
	curD        wire.Decoder
	curEnd      int
	received    int // bytes of frames received and not yet credited back
	consumed    int // bytes consumed and not yet credited
	wantCredit  bool
	peerDone    bool  // the peer half-closed (or, for the caller, the stream ended)
	ended       bool  // the stream is over
	endErr      error // the final status; nil for OK
	recvWaiters int
	busy        bool // the consumer is decoding a batch outside the lock
	// kept are the received frames whose memfd payloads are mapped: on the callee, those a
	// handler did not release are unmapped when it returns.
	kept []any

	// The opening call's reply (caller), kept for a client stream's response.
	final *inbound
	// Metadata: for the caller, what the callee sent; for the callee, what it will send.
	header, trailer Metadata
	headerDone      bool
}

// inBatch is a received Data message whose frames wait to be decoded.
type inBatch struct {
	src    inbound
	n      int // bytes of frames
	cost   int // what the batch counts for in the window: n, and fdWindowCost per descriptor
	loaned bool
}

func newStream(c *Conn, ctx context.Context, serial uint32, callee bool, peer string, path wire.ObjectPath, outSig, inSig wire.Signature, sendWindow, recvWindow int) *stream {
	s := &stream{
		c: c, serial: serial, callee: callee, peer: peer, path: path,
		dataSig: frameSig(outSig), outSig: outSig, inSig: frameSig(inSig), emptyOut: outSig == "", emptyIn: inSig == "",
		sendWindow: sendWindow, recvWindow: recvWindow,
		out: make([]byte, dataHeader, 512),
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.sendCond.L, s.recvCond.L, s.workCond.L = &s.mu, &s.mu, &s.mu
	return s
}

// frameSig is the signature of a Data body whose frames hold values of signature sig.
func frameSig(sig wire.Signature) wire.Signature {
	if sig == "" {
		sig = "y"
	}
	return "uua(" + sig + ")"
}

// send queues the frame m, encoded by enc, waiting while the peer's window is full.
func (s *stream) send(m any, enc func(*wire.Encoder, any)) error {
	s.scratch.Reset(s.scratchBuf[:0], wire.NativeOrder)
	enc(&s.scratch, m)
	if s.emptyOut {
		s.scratch.Byte(0)
	}
	frame := s.scratch.Bytes()
	s.scratchBuf = frame
	defer s.scratch.Sent()
	if err := s.scratch.Err(); err != nil {
		return Errorf(InvalidArgument, "encoding a frame of %s: %v", s.what, err)
	}
	if len(frame) > maxFrame {
		return Errorf(ResourceExhausted, "a frame of %s is %d bytes; frames are limited to %d (carry large data in memfd fields)", s.what, len(frame), maxFrame)
	}
	var fds []int // the frame's descriptors, owned here until the batch takes them
	var mask uint64
	if n := len(s.scratch.FDs()); n > 0 {
		if n > maxMessageFDs {
			return Errorf(ResourceExhausted, "a frame of %s carries %d file descriptors (memfd payloads); buses accept at most %d in one message: send fewer payloads per frame, or join small ones into one", s.what, n, maxMessageFDs)
		}
		if s.outTypes == nil {
			types, err := wire.ParseSignature(string(s.outSig))
			if err != nil {
				return Errorf(Internal, "the frames of %s have signature %q: %v", s.what, s.outSig, err)
			}
			s.outTypes = types
		}
		var err error
		if fds, err = dupFDs(s.scratch.FDs()); err != nil {
			return Errorf(ResourceExhausted, "sending a frame of %s: %v", s.what, err)
		}
		mask = s.scratch.PayloadMask()
		defer func() { closeAll(fds) }()
	}
	nfd := len(fds)
	need := len(frame) + 7 + nfd*fdWindowCost
	if s.ctx.Err() != nil {
		s.ctxDone()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.sendErr != nil {
			return s.sendErr
		}
		if s.closeSend {
			return Errorf(FailedPrecondition, "sending on %s after CloseSend", s.what)
		}
		if len(fds) > 0 && len(s.outFDs)+len(fds) > maxMessageFDs {
			// The batch's descriptors are full: the writer sends it, this frame starts the next.
			s.wakeWriter()
		} else if s.used == 0 || s.used+need <= s.sendWindow {
			break
		} else if !s.asked {
			s.askCredit, s.asked = true, true
			s.wakeWriter()
		}
		s.sendWaiters++
		s.sendCond.Wait()
		s.sendWaiters--
	}
	before := len(s.out)
	if pad := len(s.out) % 8; pad != 0 {
		s.out = append(s.out, make([]byte, 8-pad)...)
	}
	start := len(s.out)
	s.out = append(s.out, frame...)
	if len(fds) > 0 {
		base := len(s.outFDs)
		if base > 0 {
			if err := shiftFDs(s.out[start:], wire.NativeOrder, s.outTypes, uint32(base)); err != nil {
				s.out = s.out[:before]
				return Errorf(Internal, "numbering the descriptors of a frame of %s: %v", s.what, err)
			}
		}
		s.outFDs = append(s.outFDs, fds...)
		s.outMask |= mask << base
		fds = nil
	}
	s.used += len(s.out) - before + nfd*fdWindowCost
	s.frames++
	s.wakeWriter()
	return nil
}

// wakeWriter wakes the writer if it waits. s.mu is held.
func (s *stream) wakeWriter() {
	if s.writerIdle {
		s.writerIdle = false
		s.workCond.Signal()
	}
}

// writerWork reports whether the writer has something to send. s.mu is held.
func (s *stream) writerWork() bool {
	return s.frames > 0 || s.creditOut > 0 || s.askCredit || s.closeSend && !s.halfSent && !s.callee
}

// writer sends the batches and credits of the stream until it is stopped, and then what
// was queued before.
func (s *stream) writer() {
	var e wire.Encoder
	cm := &wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Flags: wire.FlagNoReplyExpected,
		Destination: s.peer, Path: s.path, Interface: callInterface}
	dm := *cm
	dm.Member, dm.Signature = "Data", s.dataSig
	cm.Member, cm.Signature = "Credit", creditSig
	side := uint32(0)
	if s.callee {
		side = dataFromCallee
	}
	s.mu.Lock()
	for {
		for !s.writerWork() && !s.writerStop {
			s.writerIdle = true
			s.workCond.Wait()
			s.writerIdle = false
		}
		if !s.writerWork() || s.ended {
			break // stopped, and everything queued went; or the stream is over
		}
		credit := s.creditOut
		s.creditOut = 0
		var batch []byte
		var fds []int
		var mask uint64
		flags := side
		if s.frames > 0 || s.askCredit || s.closeSend && !s.halfSent && !s.callee {
			batch, s.out = s.out, s.spare
			fds, mask, s.outFDs, s.outMask = s.outFDs, s.outMask, nil, 0
			if s.out == nil {
				s.out = make([]byte, dataHeader, 512)
			}
			s.spare, s.frames = nil, 0
			if s.askCredit || s.used >= s.sendWindow/2 {
				flags |= dataWantCredit
				s.asked = true
			}
			s.askCredit = false
			if s.closeSend && !s.callee {
				flags |= dataHalfClose
				s.halfSent = true
			}
		}
		s.writing = true
		s.mu.Unlock()
		var err error
		if credit > 0 {
			e.Reset(make([]byte, 0, 12), wire.NativeOrder)
			e.Uint32(s.serial)
			e.Uint32(side)
			e.Uint32(uint32(credit))
			cm.Body = e.Bytes()
			err = s.sendReliably(cm, nil, 0)
		}
		if batch != nil && err == nil {
			e.Reset(batch[:0], wire.NativeOrder)
			e.Uint32(s.serial)
			e.Uint32(flags)
			e.Uint32(uint32(len(batch) - dataHeader))
			dm.Body = batch
			err = s.sendReliably(&dm, fds, mask)
		}
		closeAll(fds)
		s.mu.Lock()
		s.writing = false
		if batch != nil {
			s.spare = batch[:dataHeader]
		}
		if err != nil {
			s.failLocked(fmt.Errorf("sending on %s: %w", s.what, err))
		}
		if s.sendWaiters > 0 {
			s.sendCond.Broadcast()
		}
	}
	s.writerExited = true
	closeAll(s.outFDs) // frames that will not go
	s.outFDs, s.outMask = nil, 0
	s.sendCond.Broadcast()
	s.mu.Unlock()
}

// sendReliably sends a Data or Credit message, waiting for the bus to route it where the
// transport can tell (kdbusd's native transport; on a lane a message is delivered once
// written, and a classic bus stops reading a sender rather than drop its unicasts). A
// native receiver's pool takes only so much from one sender at a time (a share of the pool,
// native.DefaultMaxQueuedFDs descriptors) and refuses a unicast beyond it; a lost batch or
// credit would stall the stream. A refusal for want of room is tried again once the receiver
// has read (the bus holds the retry until then, and the wait between tries grows); other
// delivery failures count as for any signal: the opening call's reply tells the outcome.
func (s *stream) sendReliably(m *wire.Message, fds []int, mask uint64) error {
	wait := time.Millisecond
	for {
		err := s.c.t.Send(s.ctx, m, fds, sendOptions{payloads: mask, wait: true})
		var de *Error
		if err == nil || !errors.As(err, &de) {
			return err
		}
		if de.Name != ErrorLimitsExceeded {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return s.ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// flush waits until the writer has sent everything queued, then stops it.
func (s *stream) flushAndStop() {
	s.mu.Lock()
	s.writerStop = true
	s.closeSend = true
	s.wakeWriter()
	for !s.writerExited {
		s.sendWaiters++
		s.sendCond.Wait()
		s.sendWaiters--
	}
	s.mu.Unlock()
}

// gotCredit takes the peer's credit.
func (s *stream) gotCredit(sender string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fromPeerLocked(sender) {
		return
	}
	s.used = max(s.used-n, 0)
	s.asked = false
	if s.sendWaiters > 0 {
		s.sendCond.Broadcast()
	}
}

// fromPeerLocked reports whether a message from sender belongs to the stream; the callee of
// a call to a well-known name is learnt from its first message. s.mu is held.
func (s *stream) fromPeerLocked(sender string) bool {
	if !s.fromSet {
		s.from, s.fromSet = sender, true
	}
	return sender == s.from
}

// decodeDataHeader reads the start of a Data body: the stream's serial, the flags and the
// number of bytes of frames that follow.
func decodeDataHeader(body []byte, order wire.ByteOrder) (serial, flags uint32, n int, err error) {
	var d wire.Decoder
	d.Reset(body, order)
	serial, flags = d.Uint32(), d.Uint32()
	end := d.BeginArray(8)
	if err := d.Err(); err != nil {
		return 0, 0, 0, err
	}
	if end != len(body) {
		return 0, 0, 0, fmt.Errorf("a Data body of %d bytes whose frames end at %d", len(body), end)
	}
	return serial, flags, end - d.Offset(), nil
}

// gotData queues a received batch. It runs on the read loop and owns r.
func (c *Conn) gotData(r inbound) {
	m := r.Msg
	drop := func() {
		r.closeFDs()
		r.release()
	}
	serial, flags, n, err := decodeDataHeader(m.Body, m.Order)
	if err != nil {
		drop()
		return
	}
	s := c.streamFor(m.Sender, serial, flags)
	if s == nil || m.Signature != s.inSig && !evolves(m.Signature, s.inSig) {
		drop() // not frames of this stream, nor of a version of its messages
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fromPeerLocked(m.Sender) || s.ended || s.peerDone {
		drop()
		return
	}
	if n == 0 && len(r.FDs) > 0 {
		r.closeFDs() // descriptors without frames: nothing can refer to them
		r.FDs = nil
	}
	cost := n + len(r.FDs)*fdWindowCost
	var refusal error
	switch {
	case s.received > 0 && s.received+cost > s.recvWindow:
		refusal = Errorf(ResourceExhausted, "the peer of %s sent %d bytes beyond the window of %d (each descriptor counts %d)", s.what, s.received+cost-s.recvWindow, s.recvWindow, fdWindowCost)
	case len(r.FDs) > 0 && c.queuedFDs.Add(int64(len(r.FDs))) > maxQueuedFDs:
		c.queuedFDs.Add(-int64(len(r.FDs)))
		refusal = Errorf(ResourceExhausted, "%s holds the descriptors of %d queued frames already; the peer of %s sent more before the receivers read them", c.UniqueName(), maxQueuedFDs, s.what)
	}
	if refusal != nil {
		drop()
		s.failLocked(refusal)
		if !s.callee {
			go c.sendCancel(s.peer, s.path, s.serial)
		}
		return
	}
	s.received += cost
	if flags&dataWantCredit != 0 {
		s.wantCredit = true
	}
	if n > 0 {
		b := inBatch{src: r, n: n, cost: cost}
		if len(r.FDs) > 0 {
			// Out of the pool at once: its descriptors count against the sender there.
			b.src.detach()
		} else if r.loan != nil {
			if c.loaned.Add(int64(n)) <= maxLoaned && c.loanedBatches.Add(1) <= maxLoanedBatches {
				b.loaned = true
			} else {
				c.unloan(n)
				b.src.detach()
			}
		}
		s.queue = append(s.queue, b)
	} else {
		r.release()
	}
	if flags&dataHalfClose != 0 {
		s.peerDone = true
	}
	if !s.headerDone && !s.callee {
		s.headerDone = true // frames came without a header: there is none
	}
	if len(s.queue) == 0 && !s.busy {
		s.maybeCreditLocked()
	}
	if s.recvWaiters > 0 {
		s.recvCond.Broadcast()
	}
}

// maybeCreditLocked credits what was consumed once it is a quarter of the window, or when the
// queue is drained and the peer asked. s.mu is held.
func (s *stream) maybeCreditLocked() {
	if s.consumed == 0 {
		return
	}
	if s.consumed >= s.recvWindow/4 || s.wantCredit && len(s.queue) == 0 {
		s.creditOut += s.consumed
		s.received -= s.consumed
		s.consumed = 0
		s.wantCredit = false
		s.wakeWriter()
	}
}

// recv decodes the next frame into m with dec. It returns io.EOF once the peer half-closed or
// the stream ended well, the final status otherwise.
func (s *stream) recv(m any, dec func(*wire.Decoder, any)) error {
	if s.ctx.Err() != nil {
		s.ctxDone()
	}
	for {
		if s.cur.n > 0 {
			if s.curD.More(s.curEnd) {
				held0 := len(s.curD.Held())
				s.curD.BeginStruct()
				dec(&s.curD, m)
				if s.emptyIn {
					s.curD.Byte()
				}
				if err := s.curD.Err(); err != nil {
					closeAllClosers(s.curD.Held()[held0:])
					s.doneBatch()
					err = Errorf(Internal, "decoding a frame of %s: %v", s.what, err)
					s.fail(err)
					return err
				}
				if held := s.curD.Held()[held0:]; len(held) > 0 {
					s.keepFramePayloads(m, held)
				}
				if s.curD.Offset() >= s.curEnd {
					s.doneBatch() // the last frame: give the batch back now
				}
				return nil
			}
			s.doneBatch()
		}
		s.mu.Lock()
		for len(s.queue) == 0 && !s.peerDone && !s.ended {
			s.recvWaiters++
			s.recvCond.Wait()
			s.recvWaiters--
		}
		if len(s.queue) > 0 {
			s.cur = s.queue[0]
			s.queue[0] = inBatch{}
			s.queue = s.queue[1:]
			s.busy = true
			s.mu.Unlock()
			msg := s.cur.src.Msg
			body, err := adaptBody(msg.Body, msg.Order, msg.Signature, s.inSig)
			if err != nil {
				s.doneBatch()
				err = Errorf(Internal, "decoding frames of %s sent as %q: %v", s.what, msg.Signature, err)
				s.fail(err)
				return err
			}
			s.curD.Reset(body, msg.Order)
			s.curD.SetFDs(s.cur.src.FDs)
			s.curD.Uint32()
			s.curD.Uint32()
			s.curEnd = s.curD.BeginArray(8)
			continue
		}
		err := s.endErr
		s.mu.Unlock()
		if err == nil {
			err = io.EOF
		}
		return err
	}
}

// doneBatch gives back the batch the consumer finished and credits its bytes.
func (s *stream) doneBatch() {
	n, cost, loaned := s.cur.n, s.cur.cost, s.cur.loaned
	s.c.unqueueFDs(&s.cur.src)
	s.cur.src.release()
	s.cur = inBatch{}
	if loaned {
		s.c.unloan(n)
	}
	s.mu.Lock()
	s.busy = false
	s.consumed += cost
	s.maybeCreditLocked()
	s.mu.Unlock()
}

// fail ends the stream with err at this end.
func (s *stream) fail(err error) {
	s.mu.Lock()
	s.failLocked(err)
	s.mu.Unlock()
}

// failLocked ends the stream with err: sends fail with it and receives return it once the
// frames already queued are read. s.mu is held.
func (s *stream) failLocked(err error) {
	if s.sendErr == nil {
		s.sendErr = err
	}
	if !s.ended {
		s.ended, s.endErr = true, err
	}
	s.writerStop = true
	s.wakeWriter()
	s.sendCond.Broadcast()
	s.recvCond.Broadcast()
	s.cancel()
}

// dropQueue gives back every batch still queued.
func (s *stream) dropQueueLocked() {
	for i := range s.queue {
		if s.queue[i].loaned {
			s.c.unloan(s.queue[i].n)
		}
		s.c.unqueueFDs(&s.queue[i].src)
		s.queue[i].src.release()
		s.queue[i] = inBatch{}
	}
	s.queue = nil
}

// detachQueueLocked copies the batches still queued out of the transport's memory, for a
// stream that ended: a consumer may never read them. s.mu is held.
func (s *stream) detachQueueLocked() {
	for i := range s.queue {
		if s.queue[i].loaned {
			s.c.unloan(s.queue[i].n)
			s.queue[i].loaned = false
		}
		s.queue[i].src.detach()
	}
}

// unqueueFDs closes the descriptors of a received batch that was read or dropped.
func (c *Conn) unqueueFDs(r *inbound) {
	if len(r.FDs) > 0 {
		c.queuedFDs.Add(-int64(len(r.FDs)))
		r.closeFDs()
		r.FDs = nil
	}
}

// keepFramePayloads keeps the payloads a received frame m mapped until ReleasePayloads(m); on
// the callee, until its handler returns at the latest.
func (s *stream) keepFramePayloads(m any, held []io.Closer) {
	keepResponsePayloads(m, held)
	if !s.callee {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.kept) >= 256 && len(s.kept)%256 == 0 {
		// Forget the frames the handler released already.
		responsePayloads.mu.Lock()
		s.kept = slices.DeleteFunc(s.kept, func(k any) bool { return responsePayloads.m[k] == nil })
		responsePayloads.mu.Unlock()
	}
	s.kept = append(s.kept, m)
}

// releaseKept unmaps the payloads of the received frames a handler did not release.
func (s *stream) releaseKept() {
	s.mu.Lock()
	kept := s.kept
	s.kept = nil
	s.mu.Unlock()
	for _, m := range kept {
		ReleasePayloads(m)
	}
}

// unloan accounts for a batch of n bytes given back to the transport.
func (c *Conn) unloan(n int) {
	c.loaned.Add(-int64(n))
	c.loanedBatches.Add(-1)
}
