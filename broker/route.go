package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/kdbus-go/kdbus/bloom"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
)

// The bus driver's coordinates.
const (
	busName = "org.freedesktop.DBus"
	busPath = "/org/freedesktop/DBus"
)

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

// matchEntry is one AddMatch rule of a peer, or one rule of a monitor.
type matchEntry struct {
	rule *match.Rule
	text string
	// mask is the rule's bloom mask, for native peers.
	mask bloom.Filter
	// own is the connection holding the rule; slot is the rule's place in its bucket of
	// the rule index (matchindex.go).
	own  *ruleOwner
	slot int
}

// origin describes the message being routed, for the deliveries it causes: native receivers
// need its sequence number, its sender's credentials and whether its body can still change.
// The broker's origin field points at it while b.mu is held during routing.
type origin struct {
	from  *peer
	msg   *wire.Message
	seq   uint64
	creds native.Creds
	// stable says msg.Body is memory the sender can no longer change. A native sender's
	// body in its send area is not: it is checked after each copy instead, and copied
	// privately before anything else reads it (stabilize).
	stable bool
	// bloom is the filter the native sender computed for a signal; nil: compute it.
	bloom []byte
	// replyTo is the receiver of a reply it asked for, while the reply is delivered.
	replyTo *peer
	// timeout is how long a native caller waits for its reply; 0: the bus's limit.
	timeout time.Duration
	// sendSeq is the native sender's count of its sends, for the record; laneReply marks a
	// reply to a call that came over a lane (lane.go).
	sendSeq   uint64
	laneReply bool
	// hdr caches msg's header as native receivers get it.
	hdr []byte
	// quota says why a native receiver's pool refused the message; it is formatted only
	// for the sender that hears of it.
	quota error
	// dest is the destination of a unicast. room, when dest refused the message for want
	// of room, is closed once dest has room again (see holdForRoom).
	dest *peer
	room <-chan struct{}
	// failName and failText report a unicast that could not be delivered, for a sender
	// that expects no reply; invalid is a body that failed its check.
	failName, failText string
	invalid            error
}

// route delivers one message from p. The bus stamps the sender; the driver answers messages
// addressed to the bus; everything else goes to its destination, or for a broadcast to every
// connection whose match rules select it, in both cases also to eavesdroppers and monitors.
func (b *Broker) route(p *peer, m *wire.Message, fds []int, o *origin) {
	m.Sender = p.unique
	o.from, o.msg = p, m
	if m.Destination == busName {
		b.mu.Lock()
		b.stats.messages++
		b.beginRoute(o)
		allowed := p.unique == "" || b.canSend(p, nil, m, false)
		b.copyToObservers(p, m, nil, match.Args{})
		if !allowed {
			b.replyError(p, m, errAccessDenied, fmt.Sprintf("Rejected send message: the bus policy does not allow %s to call %s.%s on the bus", p.unique, m.Interface, m.Member))
		}
		b.origin = nil
		b.unlock()
		if allowed {
			b.driverCall(p, m)
		}
		return
	}
	b.mu.Lock()
	defer b.unlock()
	b.stats.messages++
	b.beginRoute(o)
	defer func() { b.origin = nil }()
	if p.unique == "" {
		return // only Hello may come before Hello
	}
	if m.Destination == "" {
		b.broadcast(p, m, fds)
		return
	}
	dest := b.resolve(m.Destination)
	expectsReply := m.Type == wire.MethodCall && m.Flags&wire.FlagNoReplyExpected == 0
	if dest == nil {
		name := errServiceUnknown
		if strings.HasPrefix(m.Destination, ":") {
			name = errNameHasNoOwner
		}
		b.failSend(p, m, name, fmt.Sprintf("The name %s is not owned by any connection", m.Destination))
		return
	}
	args := match.ArgsOf(m)
	if m.Type == wire.MethodReturn || m.Type == wire.Error {
		// A reply goes through only if the bus forwarded the call it answers.
		if _, ok := b.settle(p, replyKey{caller: dest.id, serial: m.ReplySerial}); !ok && !(o.laneReply && b.laneBetween(p, dest)) {
			b.stats.unexpectedReplies++
			return
		}
		if b.canSend(p, dest, m, true) {
			o.replyTo = dest
			if !b.deliver(p, dest, m, fds, args, true) {
				b.stats.droppedReplies++
			}
			o.replyTo = nil
		}
		return
	}
	o.dest = dest
	if !b.canSend(p, dest, m, false) {
		b.failSend(p, m, errAccessDenied, fmt.Sprintf("Rejected send message: the bus policy does not allow %s to call %s.%s on %s", p.unique, m.Interface, m.Member, m.Destination))
		return
	}
	if expectsReply {
		if len(p.outstanding) >= b.limits.MaxRepliesPerConnection {
			b.replyError(p, m, errLimitsExceeded, fmt.Sprintf("%s has %d calls awaiting replies, the limit", p.unique, len(p.outstanding)))
			return
		}
		b.expect(p, dest, m.Serial, o.timeout)
	}
	if !b.deliver(p, dest, m, fds, args, false) {
		if expectsReply {
			b.settle(dest, replyKey{caller: p.id, serial: m.Serial})
		}
		if o.invalid != nil {
			// The copy failed its check: that, not the receiver, is why; the sender is
			// disconnected next.
			b.failSend(p, m, errInvalidArgs, o.invalid.Error())
			return
		}
		text := fmt.Sprintf("The message could not be queued for %s: its incoming queue is full", m.Destination)
		switch {
		case len(fds) > 0 && !dest.unixFDs:
			text = fmt.Sprintf("The message carries file descriptors, which %s does not accept", m.Destination)
		case o.quota != nil:
			text = fmt.Sprintf("The message could not be delivered to %s: %v", m.Destination, o.quota)
		}
		b.failSend(p, m, errLimitsExceeded, text)
	}
}

// beginRoute makes o the origin of the deliveries made until b.mu is released. Caller holds
// b.mu.
func (b *Broker) beginRoute(o *origin) {
	b.seq++
	o.seq = b.seq
	b.origin = o
}

// failSend reports a unicast that could not be delivered: an error reply to a call that
// expects one; otherwise, for a native sender, an error with the send's acknowledgement.
// Caller holds b.mu.
func (b *Broker) failSend(p *peer, m *wire.Message, name, text string) {
	if m.Type == wire.MethodCall && m.Flags&wire.FlagNoReplyExpected == 0 {
		b.replyError(p, m, name, text)
		return
	}
	if o := b.origin; o != nil && o.msg == m {
		o.failName, o.failText = name, text
	}
}

// deliver queues m for dest and copies it to eavesdroppers and monitors. Caller holds b.mu.
func (b *Broker) deliver(from, dest *peer, m *wire.Message, fds []int, args match.Args, requested bool) bool {
	if len(fds) > 0 && !dest.unixFDs {
		return false
	}
	if !b.canReceive(dest, from, m, requested, false) {
		return false
	}
	if o := b.origin; o != nil && o.msg == m && !o.stable && b.observable(from, m) {
		// Observers match rules against the body and get their own copy: both must see
		// what dest gets, so the body is made private before dest's copy is taken. Only
		// messages someone may observe lose the single copy into dest's pool.
		b.stabilize(o)
	}
	ok := dest.enqueue(m, fds)
	b.copyToObservers(from, m, dest, args)
	return ok
}

// broadcast delivers a message without destination to every connection with a matching rule.
func (b *Broker) broadcast(from *peer, m *wire.Message, fds []int) {
	b.fanOut(from, m, fds, match.ArgsOf(m))
}

// fanOut gives broadcast m from from (nil for the bus) to every connection one of whose rules
// selects it, each once, and to the monitors. Only the rules the index files where m can
// match are visited. Caller holds b.mu.
func (b *Broker) fanOut(from *peer, m *wire.Message, fds []int, args match.Args) {
	stamp := b.nextFanOut()
	var filter bloom.Filter
	give := func(e *matchEntry) bool {
		q := e.own.p
		if e.own.stamp == stamp || q.unique == "" || q.monitor != nil || q.gone {
			return true
		}
		if !b.ruleWantsBroadcast(e, from, m, args, &filter) {
			return true
		}
		e.own.stamp = stamp // q's other rules need not be asked
		if (from != nil && !b.canSend(from, q, m, false)) || !b.canReceive(q, from, m, false, false) {
			return true
		}
		if !q.enqueue(m, fds) {
			if from != nil {
				b.stats.droppedBroadcasts++
			}
			if q.nat != nil {
				q.dropBroadcast()
			}
		}
		return true
	}
	b.candidates(&b.match.subs, from, m, give)
	b.candidates(&b.match.eavesdrop, from, m, give)
	b.copyToMonitors(from, m, args)
}

// copyToObservers gives eavesdroppers (rules with eavesdrop='true') and monitors a copy of a
// message addressed to someone else.
func (b *Broker) copyToObservers(from *peer, m *wire.Message, dest *peer, args match.Args) {
	stamp := b.nextFanOut()
	b.candidates(&b.match.eavesdrop, from, m, func(e *matchEntry) bool {
		q := e.own.p
		if e.own.stamp == stamp || q == dest || q == from || q.monitor != nil || q.unique == "" {
			return true
		}
		if e.rule.MatchOwners(m, args, b.ownerOf) {
			e.own.stamp = stamp
			if b.canReceive(q, from, m, false, true) {
				q.enqueue(m, nil)
			}
		}
		return true
	})
	b.copyToMonitors(from, m, args)
}

// ownerOf resolves a well-known name to its owner's unique name for match rules. Caller
// holds b.mu.
func (b *Broker) ownerOf(name string) string {
	if name == busName {
		return busName
	}
	if o := b.reg.owner(name); o != nil {
		return o.unique
	}
	return ""
}

// resolve finds the connection a destination names. Caller holds b.mu.
func (b *Broker) resolve(name string) *peer {
	if strings.HasPrefix(name, ":") {
		return b.peers[name]
	}
	return b.reg.owner(name)
}

// expect records that callee owes caller a reply to the call with the given serial, and
// starts its timeout: the bus's reply timeout, or the caller's own when shorter. Caller holds b.mu.
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
