package runtime

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// The side channel between kdbus-go peers: unicast signals on this interface, at the path of the
// call they are about, carry a call's context (Begin, Cancel), the callee's response metadata
// (Metadata) and the frames of streams (Data, Credit). docs/streaming.md describes them.
const callInterface = "org.kdbusgo.Call"

// Signatures of the side channel's messages; Data's depends on the stream's frames.
const (
	beginSig    = "utuua{sas}" // serial, timeout in µs (0: none), flags, receive window, metadata
	cancelSig   = "u"          // serial
	metadataSig = "uua{sas}"   // serial, which (metaHeader, metaTrailer), metadata
	creditSig   = "uuu"        // serial, flags, bytes
)

// Begin flags.
const beginStream = 1 << 0 // the call opens a stream

// Metadata kinds.
const (
	metaHeader  = 0
	metaTrailer = 1
)

// callBegin is a received Begin: the context of the call with that serial from that sender.
type callBegin struct {
	serial   uint32
	deadline time.Time // zero: none
	flags    uint32
	window   uint32
	md       Metadata
	size     int // what it counts for in the table (beginSize)
}

// decodeBegin reads a Begin body; now is when it arrived.
func decodeBegin(body []byte, order wire.ByteOrder, now time.Time) (callBegin, error) {
	var d wire.Decoder
	d.Reset(body, order)
	b := callBegin{serial: d.Uint32()}
	timeout := d.Uint64()
	b.flags, b.window = d.Uint32(), d.Uint32()
	b.md = decodeMetadata(&d)
	if err := d.Done(); err != nil {
		return callBegin{}, err
	}
	if timeout > 0 {
		b.deadline = now.Add(time.Duration(min(timeout, uint64(1<<62)/1000)) * time.Microsecond)
	}
	return b, nil
}

// decodeCallMetadata reads a Metadata body.
func decodeCallMetadata(body []byte, order wire.ByteOrder) (serial, which uint32, md Metadata, err error) {
	var d wire.Decoder
	d.Reset(body, order)
	serial, which = d.Uint32(), d.Uint32()
	md = decodeMetadata(&d)
	if err := d.Done(); err != nil {
		return 0, 0, nil, err
	}
	return serial, which, md, nil
}

// decodeCredit reads a Credit body.
func decodeCredit(body []byte, order wire.ByteOrder) (serial, flags, n uint32, err error) {
	var d wire.Decoder
	d.Reset(body, order)
	serial, flags, n = d.Uint32(), d.Uint32(), d.Uint32()
	return serial, flags, n, d.Done()
}

// sideSignal sends one message of the side channel to dest.
func (c *Conn) sideSignal(ctx context.Context, dest string, path wire.ObjectPath, member string, sig wire.Signature, body []byte) error {
	if path == "" {
		path = "/"
	}
	return c.t.Send(ctx, &wire.Message{
		Order: wire.NativeOrder, Type: wire.Signal, Flags: wire.FlagNoReplyExpected, Destination: dest, Path: path,
		Interface: callInterface, Member: member, Signature: sig, Body: body,
	}, nil, sendOptions{})
}

// sendBegin announces the call m (whose serial is set) to its destination.
func (c *Conn) sendBegin(ctx context.Context, m *wire.Message, dl time.Time, flags, window uint32, md Metadata) error {
	var timeout uint64
	if !dl.IsZero() {
		timeout = uint64(max(time.Until(dl).Microseconds(), 1))
	}
	buf := getBuffer()
	defer putBuffer(buf)
	e := wire.NewEncoder((*buf)[:0], wire.NativeOrder)
	e.Uint32(m.Serial)
	e.Uint64(timeout)
	e.Uint32(flags)
	e.Uint32(window)
	encodeMetadata(e, md)
	if err := e.Err(); err != nil {
		return Errorf(InvalidArgument, "encoding the metadata of the call to %s.%s: %v", m.Interface, m.Member, err)
	}
	*buf = e.Bytes()
	return c.sideSignal(ctx, m.Destination, m.Path, "Begin", beginSig, e.Bytes())
}

// sendCancel tells the callee of call serial that its caller gave up.
func (c *Conn) sendCancel(dest string, path wire.ObjectPath, serial uint32) {
	body, _ := wire.Marshal(wire.NativeOrder, cancelSig, serial)
	c.sideSignal(context.Background(), dest, path, "Cancel", cancelSig, body)
}

// sendMetadata sends response metadata of call serial to its caller.
func (c *Conn) sendMetadata(dest string, path wire.ObjectPath, serial, which uint32, md Metadata) error {
	e := wire.NewEncoder(nil, wire.NativeOrder)
	e.Uint32(serial)
	e.Uint32(which)
	encodeMetadata(e, md)
	if err := e.Err(); err != nil {
		return Errorf(InvalidArgument, "encoding response metadata: %v", err)
	}
	return c.sideSignal(context.Background(), dest, path, "Metadata", metadataSig, e.Bytes())
}

// hasSideChannel reports whether calls to dest may carry Begin and Cancel: every peer but the
// bus driver, which has no use for them.
func hasSideChannel(dest string) bool { return dest != classic.BusName }

// callKey identifies a call this connection serves: its caller and the caller's serial.
type callKey struct {
	sender string
	serial uint32
}

// servedCall is an entry of the served-call table: a call expecting a reply, or a stream,
// from its arrival until its handler returns.
type servedCall struct {
	cancel   context.CancelFunc // set once the handler's context exists
	canceled bool               // the caller gave up before that
	stream   *stream            // the stream it opened, or nil
}

// abort cancels the call's handler context (now, or as soon as it exists). c.mu is held.
func (s *servedCall) abort() {
	s.canceled = true
	if s.cancel != nil {
		s.cancel()
	}
}

// Bounds of the Begin messages remembered until their call arrives. A caller sends its call
// right after its Begin, so a well-behaved sender has only a few waiting; a Begin whose call
// never comes waits until newer ones push it out. Beyond a sender's share its own oldest Begin
// is forgotten; beyond the table's bounds, the oldest of the sender that has the most. So a
// flood of Begins costs the flooder its own entries, and a bystander's Begin survives until
// its call arrives.
const (
	maxBegins          = 4096     // Begins waiting, from all senders
	maxBeginBytes      = 16 << 20 // their metadata, from all senders (as beginSize counts)
	maxSenderBegins    = 64       // Begins waiting from one sender
	maxSenderBeginSize = 1 << 20  // their metadata, from one sender
)

// beginTable holds the Begins waiting for their call, by sender and serial. Guarded by c.mu.
type beginTable struct {
	m        map[callKey]*callBegin
	senders  map[string]*senderBegins
	n, bytes int
}

// senderBegins are the Begins waiting from one sender: fifo lists their serials in arrival
// order, including some that were taken since (skipped, and compacted away).
type senderBegins struct {
	fifo     []uint32
	n, bytes int
}

// beginSize is what a Begin counts for in the table's byte bounds: its metadata, and room
// for the entry itself.
func beginSize(b *callBegin) int {
	n := 128
	for k, vs := range b.md {
		n += len(k) + 16
		for _, v := range vs {
			n += len(v) + 16
		}
	}
	return n
}

// put keeps b from sender, forgetting older Begins to stay within the bounds.
func (t *beginTable) put(sender string, b *callBegin) {
	if t.m == nil {
		t.m = make(map[callKey]*callBegin)
		t.senders = make(map[string]*senderBegins)
	}
	b.size = beginSize(b)
	if b.size > maxSenderBeginSize {
		return
	}
	k := callKey{sender, b.serial}
	if t.m[k] != nil {
		t.take(k)
	}
	sb := t.senders[sender]
	if sb == nil {
		sb = &senderBegins{}
		t.senders[sender] = sb
	}
	for sb.n > 0 && (sb.n >= maxSenderBegins || sb.bytes+b.size > maxSenderBeginSize) {
		t.evictOldest(sender, sb)
	}
	for t.n > 0 && (t.n >= maxBegins || t.bytes+b.size > maxBeginBytes) {
		worst, wsb := sender, sb
		for name, other := range t.senders {
			if other.bytes > wsb.bytes || wsb.n == 0 {
				worst, wsb = name, other
			}
		}
		t.evictOldest(worst, wsb)
	}
	t.m[k] = b
	sb.fifo = append(sb.fifo, b.serial)
	sb.n++
	sb.bytes += b.size
	t.n++
	t.bytes += b.size
}

// evictOldest forgets the oldest Begin still waiting from sender.
func (t *beginTable) evictOldest(sender string, sb *senderBegins) {
	for len(sb.fifo) > 0 {
		serial := sb.fifo[0]
		sb.fifo = sb.fifo[1:]
		if t.m[callKey{sender, serial}] != nil {
			t.take(callKey{sender, serial})
			return
		}
	}
}

// take returns and forgets the Begin of k, if one is waiting.
func (t *beginTable) take(k callKey) *callBegin {
	b := t.m[k]
	if b == nil {
		return nil
	}
	delete(t.m, k)
	t.n--
	t.bytes -= b.size
	sb := t.senders[k.sender]
	sb.n--
	sb.bytes -= b.size
	switch {
	case sb.n == 0:
		delete(t.senders, k.sender)
	case len(sb.fifo) > 2*sb.n+16:
		live := sb.fifo[:0]
		for _, serial := range sb.fifo {
			if t.m[callKey{k.sender, serial}] != nil {
				live = append(live, serial)
			}
		}
		sb.fifo = live
	}
	return b
}

// forget drops every Begin waiting from sender.
func (t *beginTable) forget(sender string) {
	sb := t.senders[sender]
	if sb == nil {
		return
	}
	for _, serial := range sb.fifo {
		if b := t.m[callKey{sender, serial}]; b != nil {
			delete(t.m, callKey{sender, serial})
			t.n--
			t.bytes -= b.size
		}
	}
	delete(t.senders, sender)
}

// rememberBegin keeps b until the call it announces arrives. Runs on the read loop.
func (c *Conn) rememberBegin(sender string, b callBegin) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.begins.put(sender, &b)
}

// takeBeginLocked returns and forgets the Begin of the call m, if one came. c.mu is held.
func (c *Conn) takeBeginLocked(m *wire.Message) *callBegin {
	if c.begins.n == 0 {
		return nil
	}
	return c.begins.take(callKey{m.Sender, m.Serial})
}

// handleCallSignal handles a message of the side channel; it runs on the read loop and takes
// r (releasing it, or handing it to a stream).
func (c *Conn) handleCallSignal(r inbound) {
	m := r.Msg
	if m.Member == "Data" {
		c.gotData(r) // frames may carry memfd payloads
		return
	}
	if len(r.FDs) > 0 {
		r.closeFDs() // the rest of the side channel carries no descriptors
	}
	switch {
	case m.Member == "Begin" && m.Signature == beginSig:
		if b, err := decodeBegin(m.Body, m.Order, time.Now()); err == nil {
			c.rememberBegin(m.Sender, b)
		}
	case m.Member == "Cancel" && m.Signature == cancelSig:
		var d wire.Decoder
		d.Reset(m.Body, m.Order)
		if serial := d.Uint32(); d.Done() == nil {
			c.mu.Lock()
			if sc := c.served[callKey{m.Sender, serial}]; sc != nil {
				sc.abort()
			}
			c.mu.Unlock()
		}
	case m.Member == "Metadata" && m.Signature == metadataSig:
		if serial, which, md, err := decodeCallMetadata(m.Body, m.Order); err == nil {
			c.gotMetadata(m.Sender, serial, which, md)
		}
	case m.Member == "Credit" && m.Signature == creditSig:
		if serial, flags, n, err := decodeCredit(m.Body, m.Order); err == nil {
			if s := c.streamFor(m.Sender, serial, flags); s != nil {
				s.gotCredit(m.Sender, int(n))
			}
		}
	}
	r.release()
}

// streamFor finds the stream a Data or Credit message is about: one this connection opened
// when the callee sent it (flags bit1), else one it serves for sender.
func (c *Conn) streamFor(sender string, serial, flags uint32) *stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	if flags&dataFromCallee != 0 {
		return c.clientStreams[serial]
	}
	if sc := c.served[callKey{sender, serial}]; sc != nil {
		return sc.stream
	}
	return nil
}

// callMeta collects the response metadata of a unary call whose caller asked for it, with
// who sent it: it counts only when the reply comes from the same sender.
type callMeta struct {
	header, trailer             Metadata
	headerSender, trailerSender string
}

func (c *Conn) gotMetadata(sender string, serial, which uint32, md Metadata) {
	c.mu.Lock()
	s := c.clientStreams[serial]
	cm := c.callMD[serial]
	switch {
	case s != nil:
		c.mu.Unlock()
		s.gotMetadata(sender, which, md)
		return
	case cm != nil && which == metaHeader:
		cm.header, cm.headerSender = md, sender
	case cm != nil && which == metaTrailer:
		cm.trailer, cm.trailerSender = md, sender
	}
	c.mu.Unlock()
}

// takeCallMeta hands the metadata of call serial to the caller's Header and Trailer options,
// keeping only what the peer that sent the reply r sent; without a reply it only forgets it.
func (c *Conn) takeCallMeta(serial uint32, co *callOptions, r reply) {
	c.mu.Lock()
	cm := c.callMD[serial]
	delete(c.callMD, serial)
	c.mu.Unlock()
	if cm == nil || r.err != nil || r.Msg == nil {
		return
	}
	replier := r.Msg.Sender
	if co.header != nil && cm.headerSender == replier {
		*co.header = cm.header
	}
	if co.trailer != nil && cm.trailerSender == replier {
		*co.trailer = cm.trailer
	}
}

// watchVanished installs, once per connection and at the first call served from a bus peer,
// the match rule that tells when callers leave the bus, so that their calls and streams are
// cancelled.
func (c *Conn) watchVanished() {
	if c.vanishWatch.Swap(true) {
		return
	}
	go func() {
		r := &rule{conn: c, close: func() {},
			match: &match.Rule{Type: wire.Signal, Sender: classic.BusName, Interface: classic.BusInterface,
				Member: "NameOwnerChanged", Path: classic.BusPath, Args: []match.ArgMatch{{Index: 2, Value: ""}}},
			deliver: func(m *wire.Message, _ stamp) {
				if m.Signature != "sss" {
					return
				}
				var d wire.Decoder
				d.Reset(m.Body, m.Order)
				name, _, owner := d.String(), d.String(), d.String()
				if d.Done() == nil && owner == "" && strings.HasPrefix(name, ":") {
					c.callerGone(name)
				}
			}}
		if err := c.addRule(c.ctx, r); err != nil {
			if c.Err() == nil {
				// Without the rule, a caller's death ends its calls only at their deadline.
				c.vanishWatch.Store(false)
			}
			return
		}
		// A caller that left before the rule was in place is looked for once.
		c.mu.Lock()
		senders := make(map[string]bool)
		for k := range c.served {
			senders[k.sender] = true
		}
		c.mu.Unlock()
		for name := range senders {
			if _, err := c.GetNameOwner(c.ctx, name); errors.Is(err, &Error{Name: ErrorNameHasNoOwner}) {
				c.callerGone(name)
			}
		}
	}()
}

// callerGone cancels every call and stream sender has running here, and forgets its Begins.
func (c *Conn) callerGone(sender string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, sc := range c.served {
		if k.sender == sender {
			sc.abort()
		}
	}
	c.begins.forget(sender)
}

// serveContext returns the context of a handler for the call m: a child of the connection's
// context carrying the caller's deadline (the one the bus stamped, else Begin's), cancelled
// with the served-call entry sc (nil when the call is not in the table).
func (c *Conn) serveContext(m *wire.Message, st stamp, b *callBegin, sc *servedCall) (context.Context, context.CancelFunc) {
	dl := st.deadline
	if dl.IsZero() && b != nil {
		dl = b.deadline
	}
	if dl.IsZero() && sc == nil {
		return c.ctx, func() {}
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if dl.IsZero() {
		ctx, cancel = context.WithCancel(c.ctx)
	} else {
		ctx, cancel = context.WithDeadline(c.ctx, dl)
	}
	if sc != nil {
		c.mu.Lock()
		sc.cancel = cancel
		if sc.canceled {
			cancel()
		}
		c.mu.Unlock()
	}
	return ctx, cancel
}

// endServed removes a served call from the table.
func (c *Conn) endServed(m *wire.Message) {
	c.mu.Lock()
	delete(c.served, callKey{m.Sender, m.Serial})
	c.mu.Unlock()
}

// setHeader adds md to the response header. It fails once the header was sent.
func (cl *Caller) setHeader(md Metadata) error {
	cl.mdMu.Lock()
	defer cl.mdMu.Unlock()
	if cl.headerSent {
		return errors.New("runtime: the response header was sent already")
	}
	if cl.header == nil {
		cl.header = Metadata{}
	}
	cl.header.join(md)
	return nil
}

// flushHeader sends the response header of a unary call, once.
func (cl *Caller) flushHeader() {
	cl.mdMu.Lock()
	if cl.headerSent {
		cl.mdMu.Unlock()
		return
	}
	cl.headerSent = true
	h := cl.header
	cl.mdMu.Unlock()
	if err := cl.conn.sendMetadata(cl.Sender, cl.Path, cl.serial, metaHeader, h); err != nil {
		cl.conn.logSideError("response header", err)
	}
}

// finishUnary sends what the handler of a unary call set and did not send: the header, then
// the trailer, both before the reply.
func (cl *Caller) finishUnary() {
	cl.mdMu.Lock()
	pendingHeader := !cl.headerSent && len(cl.header) > 0
	trailer := cl.trailer
	cl.mdMu.Unlock()
	if pendingHeader {
		cl.flushHeader()
	}
	if len(trailer) > 0 {
		if err := cl.conn.sendMetadata(cl.Sender, cl.Path, cl.serial, metaTrailer, trailer); err != nil {
			cl.conn.logSideError("trailer", err)
		}
	}
}

func (c *Conn) logSideError(what string, err error) {
	if c.Err() == nil {
		slog.Warn("kdbus runtime: sending a "+what+" failed", "err", err)
	}
}
