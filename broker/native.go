package broker

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/kdbus-go/kdbus/bloom"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// This file connects native peers (package transport/native) to the bus. A native peer has no
// outgoing byte stream: the bus copies what it receives straight into its receive pool while
// routing (enqueueNative), checks the copy when the sender could still change the original,
// and announces the filled slots in batches (kickNative, writeLoopNative). Signals reach
// native subscribers through bloom masks (nativeRuleMatches) and the subscriber re-checks the
// exact rule.

// nativeTransport stands in for a native peer where the broker handles every peer alike:
// closing it wakes the peer's reader, which then cleans up.
type nativeTransport struct{ c *native.BusConn }

func (t nativeTransport) Recv() (classic.Received, error) {
	return classic.Received{}, errors.New("broker: native peers are read by their own loop")
}
func (t nativeTransport) Send(*wire.Message, []int) error { return nil }
func (t nativeTransport) TrySend(*wire.Message, []int) (bool, error) {
	return true, nil
}
func (t nativeTransport) Flush() error { return nil }
func (t nativeTransport) Close() error { t.c.Shutdown(); return nil }

// nativeReadLoop routes every message a native peer sends, and tells it the outcome of each
// send it asked about or that failed.
func (b *Broker) nativeReadLoop(p *peer) {
	defer b.removePeer(p)
	bc := p.nat
	for {
		b.waitForRoom(p) // a sender whose messages classic receivers still hold waits (account.go)
		in, err := bc.Recv()
		if err != nil {
			if !errors.Is(err, native.ErrHangup) && !errors.Is(err, net.ErrClosed) {
				b.log.Info("connection error", "peer", p.name(), "err", err)
			}
			return
		}
		if in.Lane != nil {
			b.grantLane(p, in.Lane)
			if err := bc.Done(&in, "", ""); err != nil {
				return
			}
			continue
		}
		m := in.Msg
		// A body its sender can still change is copied privately before anything but a
		// native receiver's pool sees it: here for broadcasts and calls to the bus; a
		// unicast someone observes is copied while it is routed (deliver).
		if !in.Stable && (m.Destination == "" || m.Destination == busName) {
			m.Body = append([]byte(nil), m.Body...)
			in.Stable = true
			b.stats.bodyCopies.Add(1)
		}
		if err := b.checkIncoming(p, m, len(in.FDs), in.Stable); err != nil {
			b.log.Info("disconnecting peer", "peer", p.name(), "err", err)
			closeFDs(in.FDs)
			bc.Done(&in, errInvalidArgs, err.Error())
			return
		}
		if in.Refused != nil {
			closeFDs(in.FDs)
			// A call hears it as its error reply, anything else with its acknowledgement.
			name := errInvalidArgs
			if m.Type == wire.MethodCall && m.Flags&wire.FlagNoReplyExpected == 0 {
				b.mu.Lock()
				b.replyError(p, m, errInvalidArgs, in.Refused.Error())
				b.unlock()
				name = ""
			}
			if err := bc.Done(&in, name, in.Refused.Error()); err != nil {
				return
			}
			continue
		}
		cr := in.Creds
		if !cr.Valid {
			cr = native.Creds{UID: p.creds.uid, GID: p.creds.gid, PID: p.creds.pid, Valid: true}
		}
		if !b.holdForRoom(p, m) {
			closeFDs(in.FDs)
			bc.Done(&in, "", "")
			return
		}
		o := &origin{stable: in.Stable, creds: cr, bloom: in.Bloom, timeout: in.Timeout, deadline: in.Deadline, sendSeq: in.Seq, laneReply: in.LaneReply}
		res := b.route(p, m, in.FDs, o)
		p.refusedForRoom(res)
		closeFDs(in.FDs)
		if res.invalid != nil {
			b.log.Info("disconnecting peer", "peer", p.name(), "err", res.invalid)
			bc.Done(&in, errInvalidArgs, res.invalid.Error())
			return
		}
		if err := bc.Done(&in, res.failName, res.failText); err != nil {
			return
		}
	}
}

// stabilize replaces the body of the message being routed with a private, checked copy, for
// a receiver that is not a native pool; a body that fails the check makes the message bad.
// Caller holds b.mu.
func (b *Broker) stabilize(o *origin) {
	body := append([]byte(nil), o.msg.Body...)
	b.stats.bodyCopies.Add(1)
	if err := wire.ValidateBody(body, o.msg.Order, o.msg.Signature, int(o.msg.UnixFDs)); err != nil {
		o.bad = fmt.Errorf("invalid message body: %w", err)
		body = nil
	}
	o.msg.Body = body
	o.stable = true
}

// enqueueNative copies m into p's pool and queues its announcement; o describes m when it is
// being routed, nil for the bus's own messages. Caller holds b.mu.
func (p *peer) enqueueNative(m *wire.Message, fds []int, o *origin) delivery {
	b := p.b
	if len(fds) > 0 && !p.unixFDs {
		return delivery{result: refusedFDs}
	}
	if o != nil && o.bad != nil {
		return delivery{result: refusedInvalid, err: o.bad}
	}
	rec := native.Record{Timestamp: monotonicNow()}
	from := native.From{Owed: true}
	check := false
	var hdr []byte
	if o != nil {
		from = native.From{ID: o.from.id, UID: o.from.creds.uid, Owed: o.replyTo == p || o.from == p}
		rec.Seqnum, rec.Sender, rec.SendSeq = o.seq, o.from.id, o.sendSeq
		if m.Type == wire.MethodCall {
			rec.Deadline = o.deadline
		}
		rec.UID, rec.GID, rec.PID, rec.HasCreds = o.creds.UID, o.creds.GID, o.creds.PID, o.creds.Valid
		check = !o.stable
		if o.hdr == nil {
			h, err := m.AppendHeader(nil, len(m.Body))
			if err != nil {
				return delivery{result: refusedInvalid, err: err}
			}
			o.hdr = h
		}
		hdr = o.hdr
	} else {
		b.seq++
		rec.Seqnum = b.seq
		h, err := m.AppendHeader(b.hbuf[:0], len(m.Body))
		if err != nil {
			return delivery{result: refusedInvalid, err: err}
		}
		b.hbuf, hdr = h, h
	}
	slot, err := p.nat.Reserve(from, len(hdr)+len(m.Body), len(fds))
	if err != nil {
		d := delivery{result: refusedNoRoom, err: err}
		var qe *native.QuotaError
		if o != nil && o.dest == p && errors.As(err, &qe) {
			d.room = qe.Room
		}
		return d
	}
	pend, err := p.nat.Fill(slot, &rec, m, hdr, m.Body, check)
	if err != nil {
		var qe *native.QuotaError
		if check && !errors.As(err, &qe) {
			o.bad = err
			return delivery{result: refusedInvalid, err: err}
		}
		// A receiver going away says nothing about the sender's body.
		return delivery{result: refusedClosing}
	}
	dup, ok := dupFDs(fds)
	if !ok {
		p.nat.Discard(pend)
		return delivery{result: refusedFDs}
	}
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if p.closing {
		closeFDs(dup)
		p.nat.Discard(pend)
		return delivery{result: refusedClosing}
	}
	idle := len(p.queue) == 0 && !p.writing
	p.queue = append(p.queue, outgoing{pend: pend, fds: dup})
	p.nat.Queued()
	if idle {
		p.markDirty()
	}
	return delivery{result: delivered}
}

// kickNative announces the queued slots from the calling goroutine as far as the socket takes
// them at once, and leaves the rest to the writer goroutine: the caller may be any peer's
// reader, which must never wait on this peer.
func (p *peer) kickNative() {
	p.qmu.Lock()
	for (len(p.queue) > 0 || p.nat.HasDropped()) && !p.writing && !p.closing {
		batch := p.queue
		p.queue = nil
		p.writing = true
		p.qmu.Unlock()
		n, err := p.announce(batch, false)
		p.qmu.Lock()
		p.writing = false
		if errors.Is(err, native.ErrWouldBlock) {
			p.queue = append(batch[n:len(batch):len(batch)], p.queue...)
			p.wakeWriter()
			break
		}
		if err != nil {
			p.qmu.Unlock()
			p.discard(batch[n:])
			p.t.Close()
			return
		}
	}
	p.qmu.Unlock()
}

// discard gives back the slots of a batch that will never be announced.
func (p *peer) discard(batch []outgoing) {
	for _, o := range batch {
		closeFDs(o.fds)
		p.nat.Discard(o.pend)
	}
}

// writeLoopNative announces, blocking, what kickNative could not, until the peer closes. It
// is the only goroutine that waits on this peer's socket for announcements.
func (p *peer) writeLoopNative() {
	for {
		p.qmu.Lock()
		idle := func() bool { return p.writing || len(p.queue) == 0 && !p.nat.HasDropped() }
		for idle() && !p.closing {
			p.qcond.Wait()
		}
		if idle() {
			p.qmu.Unlock()
			return
		}
		batch := p.queue
		p.queue = nil
		p.writing = true
		p.qmu.Unlock()
		n, err := p.announce(batch, true)
		p.qmu.Lock()
		p.writing = false
		p.qmu.Unlock()
		if err != nil {
			p.discard(batch[n:])
			p.t.Close()
			p.drain()
			return
		}
	}
}

// announce sends one batch of filled slots and returns how many went; their descriptors are
// closed once sent.
func (p *peer) announce(batch []outgoing, block bool) (int, error) {
	pends := make([]native.Pending, len(batch))
	var fds []int
	for i, o := range batch {
		pends[i] = o.pend
		fds = append(fds, o.fds...)
	}
	n, err := p.nat.Notify(pends, fds, block)
	for _, o := range batch[:n] {
		closeFDs(o.fds)
	}
	return n, err
}

// dropBroadcast counts a broadcast that did not fit p's pool and makes sure p hears of it
// soon, even if nothing else comes. Caller holds b.mu.
func (p *peer) dropBroadcast() {
	p.nat.Drop()
	p.qmu.Lock()
	idle := len(p.queue) == 0 && !p.writing
	p.qmu.Unlock()
	if idle {
		p.markDirty()
	}
}

// nativeRuleMatches reports whether rule e of a native peer may select broadcast m from from:
// the bus checks what the bloom filter cannot hold (type, sender, destination) and the mask;
// the peer re-checks the exact rule. filter is m's bloom filter. Caller holds b.mu.
func (b *Broker) nativeRuleMatches(e *matchEntry, from *peer, m *wire.Message, filter bloom.Filter) bool {
	r := e.rule
	if r.Eavesdrop && r.Destination != "" {
		return false
	}
	if r.Type != 0 && r.Type != m.Type {
		return false
	}
	if r.Destination != "" && r.Destination != m.Destination {
		return false
	}
	if r.Sender != "" {
		sender := busName
		if from != nil {
			sender = from.unique
		}
		if r.Sender != sender && b.ownerOf(r.Sender) != sender {
			return false
		}
	}
	return m.Type != wire.Signal || filter.Contains(e.mask)
}

// filterOf returns the bloom filter of broadcast m: the one its native sender computed, or one
// computed here.
func (b *Broker) filterOf(m *wire.Message, o *origin) bloom.Filter {
	if o != nil && len(o.bloom) == b.bloom.Size {
		if f, err := bloom.FromBytes(b.bloom, o.bloom); err == nil {
			return f
		}
	}
	return bloom.ForMessage(b.bloom, m)
}

// ruleWantsBroadcast reports whether rule e selects broadcast m, which o describes (nil: the
// bus's own), by bloom mask for a native peer's rule and by the exact rule for a classic one.
// filter is computed on first use. Caller holds b.mu.
func (b *Broker) ruleWantsBroadcast(o *origin, e *matchEntry, from *peer, m *wire.Message, args match.Args, filter *bloom.Filter) bool {
	if e.own.p.nat == nil {
		return e.rule.MatchOwners(m, args, b.ownerOf)
	}
	if m.Type == wire.Signal && filter.Params().Size == 0 {
		*filter = b.filterOf(m, o)
	}
	return b.nativeRuleMatches(e, from, m, *filter)
}

// monoBase pairs a CLOCK_MONOTONIC reading with the time.Time taken with it, so that
// monotonicNow needs no system call: Go reads its monotonic clock through the vDSO, while
// clock_gettime through x/sys/unix is a real system call.
var monoBase, monoBaseTime = func() (uint64, time.Time) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano()), time.Now()
}()

// monotonicNow returns CLOCK_MONOTONIC in nanoseconds, for the records of native messages.
func monotonicNow() uint64 {
	return monoBase + uint64(time.Since(monoBaseTime))
}
