package broker

import "time"

// The reply registry: the calls the bus forwarded and whose replies it expects. A reply goes
// through only if it answers one of them (route), each is answered with NoReply when its
// callee goes away or its timeout passes, and a caller may await at most
// MaxRepliesPerConnection. The registry lives in two maps per peer, guarded by b.mu: what
// the peer owes (expected) and what it awaits (outstanding).

// replyKey identifies a call awaiting its reply: the caller and the call's serial.
type replyKey struct {
	caller uint64
	serial uint32
}

// pendingReply is a call the bus forwarded and whose reply it expects.
type pendingReply struct {
	caller *peer
	serial uint32
	timer  *time.Timer
}

// expect records that callee owes caller a reply to the call with the given serial, and
// starts its timeout: the bus's reply timeout, or the caller's own when shorter. Caller holds
// b.mu.
func (b *Broker) expect(caller, callee *peer, serial uint32, timeout time.Duration) {
	key := replyKey{caller: caller.id, serial: serial}
	pr := &pendingReply{caller: caller, serial: serial}
	if timeout <= 0 || timeout > b.limits.ReplyTimeout {
		timeout = b.limits.ReplyTimeout
	}
	pr.timer = time.AfterFunc(timeout, func() { b.replyTimedOut(callee, key) })
	callee.expected[key] = pr
	caller.outstanding[key] = callee
}

// settle forgets a reply callee owed; it reports false when none was owed. Caller holds b.mu.
func (b *Broker) settle(callee *peer, key replyKey) (*pendingReply, bool) {
	pr, ok := callee.expected[key]
	if !ok {
		return nil, false
	}
	pr.timer.Stop()
	delete(callee.expected, key)
	delete(pr.caller.outstanding, key)
	return pr, true
}

// failExpectedReplies answers every call awaiting p's reply with NoReply, because p went
// away, and forgets the replies p itself was waiting for. Caller holds b.mu.
func (b *Broker) failExpectedReplies(p *peer) {
	for key := range p.expected {
		pr, _ := b.settle(p, key)
		if !pr.caller.gone {
			b.sendDriverError(pr.caller, pr.serial, errNoReply, "Message recipient disconnected from message bus without replying")
		}
	}
	for key, callee := range p.outstanding {
		b.settle(callee, key)
	}
}

// replyTimedOut answers a call that waited past the reply timeout.
func (b *Broker) replyTimedOut(dest *peer, key replyKey) {
	b.mu.Lock()
	defer b.unlock()
	if pr, ok := b.settle(dest, key); ok && !pr.caller.gone {
		b.sendDriverError(pr.caller, pr.serial, errNoReply, "Did not receive a reply: the reply timeout expired")
	}
}
