package runtime

import (
	"context"
	"fmt"
	"io"
	"sync"

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
	inSig   wire.Signature // of the Data signals this end accepts
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
	loaned bool
}

func newStream(c *Conn, ctx context.Context, serial uint32, callee bool, peer string, path wire.ObjectPath, outSig, inSig wire.Signature, sendWindow, recvWindow int) *stream {
	s := &stream{
		c: c, serial: serial, callee: callee, peer: peer, path: path,
		dataSig: frameSig(outSig), inSig: frameSig(inSig), emptyOut: outSig == "", emptyIn: inSig == "",
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
	if len(s.scratch.FDs()) > 0 {
		return Errorf(InvalidArgument, "a frame of %s carries file descriptors (memfd fields); stream frames cannot carry them yet", s.what)
	}
	if len(frame) > maxFrame {
		return Errorf(ResourceExhausted, "a frame of %s is %d bytes; frames are limited to %d (use a memfd field in a unary call for more)", s.what, len(frame), maxFrame)
	}
	need := len(frame) + 7
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
		if s.used == 0 || s.used+need <= s.sendWindow {
			break
		}
		if !s.asked {
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
	s.out = append(s.out, frame...)
	s.used += len(s.out) - before
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
		flags := side
		if s.frames > 0 || s.askCredit || s.closeSend && !s.halfSent && !s.callee {
			batch, s.out = s.out, s.spare
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
			err = s.c.t.Send(s.ctx, cm, nil, sendOptions{})
		}
		if batch != nil && err == nil {
			e.Reset(batch[:0], wire.NativeOrder)
			e.Uint32(s.serial)
			e.Uint32(flags)
			e.Uint32(uint32(len(batch) - dataHeader))
			dm.Body = batch
			err = s.c.t.Send(s.ctx, &dm, nil, sendOptions{})
		}
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
	s.sendCond.Broadcast()
	s.mu.Unlock()
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
	serial, flags, n, err := decodeDataHeader(m.Body, m.Order)
	if err != nil {
		r.release()
		return
	}
	s := c.streamFor(m.Sender, serial, flags)
	if s == nil || m.Signature != s.inSig {
		r.release()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.fromPeerLocked(m.Sender) || s.ended || s.peerDone {
		r.release()
		return
	}
	if s.received > 0 && s.received+n > s.recvWindow {
		r.release()
		s.failLocked(Errorf(ResourceExhausted, "the peer of %s sent %d bytes beyond the window of %d", s.what, s.received+n-s.recvWindow, s.recvWindow))
		if !s.callee {
			go c.sendCancel(s.peer, s.path, s.serial)
		}
		return
	}
	s.received += n
	if flags&dataWantCredit != 0 {
		s.wantCredit = true
	}
	if n > 0 {
		b := inBatch{src: r, n: n}
		if r.loan != nil {
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
				s.curD.BeginStruct()
				dec(&s.curD, m)
				if s.emptyIn {
					s.curD.Byte()
				}
				if err := s.curD.Err(); err != nil {
					s.doneBatch()
					err = Errorf(Internal, "decoding a frame of %s: %v", s.what, err)
					s.fail(err)
					return err
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
			s.curD.Reset(msg.Body, msg.Order)
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
	n, loaned := s.cur.n, s.cur.loaned
	s.cur.src.release()
	s.cur = inBatch{}
	if loaned {
		s.c.unloan(n)
	}
	s.mu.Lock()
	s.busy = false
	s.consumed += n
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

// unloan accounts for a batch of n bytes given back to the transport.
func (c *Conn) unloan(n int) {
	c.loaned.Add(-int64(n))
	c.loanedBatches.Add(-1)
}
