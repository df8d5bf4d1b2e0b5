package broker

import (
	"time"

	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
)

// This file holds the types that routing passes down and hands back. Routing a message goes
// through layers (route, deliver, a receiver's queue or pool); the message's state travels
// down them as an *origin parameter, and each layer answers with a typed result that its
// caller translates: a delivery becomes, for the sender, an error reply, a failed
// acknowledgement, a wait for room or a disconnection (sendResult).

// origin describes the message being routed, for the deliveries it causes: native receivers
// need its sequence number, its sender's credentials and whether its body can still change.
// The bus's own messages, even those it sends while routing another, have none (nil).
type origin struct {
	from  *peer
	msg   *wire.Message
	seq   uint64
	creds native.Creds
	// stable says msg.Body is memory the sender can no longer change. A native sender's
	// body in its send area is not: it is checked after each copy instead, and copied
	// privately before anything else reads it (stabilize).
	stable bool
	// bad is why the body failed its check once copied; the message then reaches nobody
	// else, and its sender is disconnected.
	bad error
	// bloom is the filter the native sender computed for a signal; nil: compute it.
	bloom []byte
	// replyTo is the receiver of a reply it asked for, while the reply is delivered.
	replyTo *peer
	// dest is the destination of a unicast.
	dest *peer
	// timeout is how long a native caller waits for its reply; 0: the bus's limit.
	timeout time.Duration
	// deadline is, for a native caller's method call, when by its word it stops waiting, in
	// CLOCK_MONOTONIC nanoseconds (0: none), for native receivers' records.
	deadline uint64
	// sendSeq is the native sender's count of its sends, for the record; laneReply marks a
	// reply to a call that came over a lane (lane.go).
	sendSeq   uint64
	laneReply bool
	// hdr caches msg's header as native receivers get it.
	hdr []byte
}

// deliveryResult is what became of one delivery to one receiver.
type deliveryResult uint8

const (
	delivered deliveryResult = iota
	// refusedNoRoom: the receiver's queue, or its pool's quota for the sender, is full.
	refusedNoRoom
	// refusedFDs: the message carries descriptors, which the receiver does not accept, or
	// which the bus could not duplicate for it.
	refusedFDs
	// refusedPolicy: the receiver's policy does not let it receive the message.
	refusedPolicy
	// refusedInvalid: the message cannot be delivered as it is: its body failed its check
	// once copied (origin.bad), or its header does not encode.
	refusedInvalid
	// refusedClosing: the receiver is going away.
	refusedClosing
)

// delivery is the outcome of one delivery, with what the sender may need to hear of it.
type delivery struct {
	result deliveryResult
	// err says why: with refusedNoRoom from a native pool, which of its quotas refused; with
	// refusedInvalid, what could not be encoded or failed its check. It is formatted only
	// for a sender that hears of it.
	err error
	// room, with refusedNoRoom for the destination of a unicast, is closed once the
	// receiver has room again (holdForRoom); nil when it cannot tell.
	room <-chan struct{}
}

// sendResult is what the sender of a routed message hears besides replies.
type sendResult struct {
	// failName and failText report a unicast that could not be delivered, for a sender
	// that expects no reply: a native sender hears them with its acknowledgement.
	failName, failText string
	// invalid is why the body failed its check: the sender is disconnected.
	invalid error
	// full, when the destination refused the message for want of room, is that
	// destination, and room is closed once it has room again.
	full *peer
	room <-chan struct{}
}

// failSend reports a unicast that could not be delivered: as an error reply to a call that
// expects one; otherwise in the result, for a native sender's acknowledgement. Caller holds
// b.mu.
func (b *Broker) failSend(p *peer, m *wire.Message, name, text string) sendResult {
	if m.Type == wire.MethodCall && m.Flags&wire.FlagNoReplyExpected == 0 {
		b.replyError(p, m, name, text)
		return sendResult{}
	}
	return sendResult{failName: name, failText: text}
}
