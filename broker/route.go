package broker

import (
	"fmt"
	"strings"

	"github.com/kdbus-go/kdbus/bloom"
	"github.com/kdbus-go/kdbus/match"
	"github.com/kdbus-go/kdbus/wire"
)

// The bus driver's coordinates.
const (
	busName = "org.freedesktop.DBus"
	busPath = "/org/freedesktop/DBus"
)

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

// route delivers one message from p and says what p must hear of it. The bus stamps the
// sender; the driver answers messages addressed to the bus; everything else goes to its
// destination, or for a broadcast to every connection whose match rules select it, in both
// cases also to eavesdroppers and monitors.
func (b *Broker) route(p *peer, m *wire.Message, fds []int, o *origin) sendResult {
	m.Sender = p.unique
	o.from, o.msg = p, m
	if m.Destination == busName {
		b.mu.Lock()
		b.beginRoute(o)
		allowed := p.unique == "" || b.canSend(p, nil, m, false)
		b.copyToObservers(o, nil, match.Args{})
		if !allowed {
			b.replyError(p, m, errAccessDenied, fmt.Sprintf("Rejected send message: the bus policy does not allow %s to call %s.%s on the bus", p.unique, m.Interface, m.Member))
		}
		b.unlock()
		if allowed {
			b.driverCall(p, m)
		}
		return sendResult{}
	}
	b.mu.Lock()
	res := b.routeLocked(o, fds)
	b.unlock()
	return res
}

// routeLocked routes a message not addressed to the bus. Caller holds b.mu.
func (b *Broker) routeLocked(o *origin, fds []int) sendResult {
	p, m := o.from, o.msg
	b.beginRoute(o)
	if p.unique == "" {
		return sendResult{} // only Hello may come before Hello
	}
	if m.Destination == "" {
		b.fanOut(o, p, m, fds, match.ArgsOf(m))
		return sendResult{}
	}
	dest := b.resolve(m.Destination)
	if dest == nil {
		name := errServiceUnknown
		if strings.HasPrefix(m.Destination, ":") {
			name = errNameHasNoOwner
		}
		return b.failSend(p, m, name, fmt.Sprintf("The name %s is not owned by any connection", m.Destination))
	}
	if m.Type == wire.MethodReturn || m.Type == wire.Error {
		b.routeReply(o, dest, fds)
		return sendResult{}
	}
	o.dest = dest
	if !b.canSend(p, dest, m, false) {
		return b.failSend(p, m, errAccessDenied, fmt.Sprintf("Rejected send message: the bus policy does not allow %s to call %s.%s on %s", p.unique, m.Interface, m.Member, m.Destination))
	}
	expectsReply := m.Type == wire.MethodCall && m.Flags&wire.FlagNoReplyExpected == 0
	if expectsReply {
		if len(p.outstanding) >= b.limits.MaxRepliesPerConnection {
			b.replyError(p, m, errLimitsExceeded, fmt.Sprintf("%s has %d calls awaiting replies, the limit", p.unique, len(p.outstanding)))
			return sendResult{}
		}
		b.expect(p, dest, m.Serial, o.timeout)
	}
	d := b.deliver(o, dest, fds, false)
	if d.result == delivered {
		return sendResult{}
	}
	if expectsReply {
		b.settle(dest, replyKey{caller: p.id, serial: m.Serial})
	}
	return b.refused(o, dest, len(fds), d)
}

// refused translates a unicast's refusal by its destination into what its sender hears.
// Caller holds b.mu.
func (b *Broker) refused(o *origin, dest *peer, nfds int, d delivery) sendResult {
	p, m := o.from, o.msg
	var res sendResult
	switch d.result {
	case refusedInvalid:
		// The message, not the receiver, is why; a body that failed its check once
		// copied disconnects the sender next.
		res = b.failSend(p, m, errInvalidArgs, fmt.Sprintf("The message could not be delivered to %s: %v", m.Destination, d.err))
	case refusedPolicy:
		res = b.failSend(p, m, errAccessDenied, fmt.Sprintf("Rejected receive message: the bus policy does not let %s receive %s.%s from %s", m.Destination, m.Interface, m.Member, p.unique))
	case refusedFDs:
		if nfds > 0 && !dest.unixFDs {
			res = b.failSend(p, m, errLimitsExceeded, fmt.Sprintf("The message carries file descriptors, which %s does not accept", m.Destination))
		} else {
			res = b.failSend(p, m, errLimitsExceeded, fmt.Sprintf("The message could not be queued for %s: its descriptors could not be duplicated", m.Destination))
		}
	case refusedNoRoom:
		if d.err != nil {
			res = b.failSend(p, m, errLimitsExceeded, fmt.Sprintf("The message could not be delivered to %s: %v", m.Destination, d.err))
		} else {
			res = b.failSend(p, m, errLimitsExceeded, fmt.Sprintf("The message could not be queued for %s: its incoming queue is full", m.Destination))
		}
		if d.room != nil {
			res.full, res.room = dest, d.room
		}
	default:
		res = b.failSend(p, m, errLimitsExceeded, fmt.Sprintf("The message could not be queued for %s: it is going away", m.Destination))
	}
	if o.bad != nil {
		res.invalid = o.bad
	}
	return res
}

// routeReply delivers a reply to dest, the caller. A reply goes through only if the bus
// forwarded the call it answers, or the call came over a lane between the two. Caller holds
// b.mu.
func (b *Broker) routeReply(o *origin, dest *peer, fds []int) {
	p, m := o.from, o.msg
	if _, ok := b.settle(p, replyKey{caller: dest.id, serial: m.ReplySerial}); !ok && !(o.laneReply && b.laneBetween(p, dest)) {
		b.stats.unexpectedReplies++
		return
	}
	if !b.canSend(p, dest, m, true) {
		return
	}
	o.replyTo = dest
	if b.deliver(o, dest, fds, true).result != delivered {
		b.stats.droppedReplies++
	}
	o.replyTo = nil
}

// beginRoute numbers the message o describes. Caller holds b.mu.
func (b *Broker) beginRoute(o *origin) {
	b.stats.messages++
	b.seq++
	o.seq = b.seq
}

// deliver queues the unicast o describes for dest and copies it to eavesdroppers and
// monitors. Caller holds b.mu.
func (b *Broker) deliver(o *origin, dest *peer, fds []int, requested bool) delivery {
	from, m := o.from, o.msg
	if len(fds) > 0 && !dest.unixFDs {
		return delivery{result: refusedFDs}
	}
	if !b.canReceive(dest, from, m, requested, false) {
		return delivery{result: refusedPolicy}
	}
	observed := b.observable(from, m)
	if observed && !o.stable {
		// Observers match rules against the body and get their own copy: both must see
		// what dest gets, so the body is made private before dest's copy is taken. Only
		// messages someone may observe lose the single copy into dest's pool.
		b.stabilize(o)
	}
	d := dest.queueMessage(m, fds, o)
	if observed {
		b.copyToObservers(o, dest, match.ArgsOf(m))
	}
	return d
}

// fanOut gives broadcast m from from (nil for the bus) to every connection one of whose rules
// selects it, each once, and to the monitors; o describes m when it is being routed. Only the
// rules the index files where m can match are visited. Caller holds b.mu.
func (b *Broker) fanOut(o *origin, from *peer, m *wire.Message, fds []int, args match.Args) {
	stamp := b.nextFanOut()
	var filter bloom.Filter
	signal := m.Type == wire.Signal
	give := func(e *matchEntry) bool {
		// A native peer's rule (it has a mask) that the signal's bloom filter rejects is
		// passed over first, before its connection's state is read: with many subscribers,
		// most of them are rejected here.
		if signal && e.mask.Params().Size != 0 {
			if filter.Params().Size == 0 {
				filter = b.filterOf(m, o)
			}
			if !filter.Contains(e.mask) {
				return true
			}
		}
		q := e.own.p
		if e.own.stamp == stamp || q.unique == "" || q.monitor != nil || q.gone {
			return true
		}
		if !b.ruleWantsBroadcast(o, e, from, m, args, &filter) {
			return true
		}
		e.own.stamp = stamp // q's other rules need not be asked
		if (from != nil && !b.canSend(from, q, m, false)) || !b.canReceive(q, from, m, false, false) {
			return true
		}
		if q.queueMessage(m, fds, o).result != delivered {
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
	if o == nil {
		b.copyToMonitors(from, m, args)
		return
	}
	b.copyRoutedToMonitors(o, args)
}

// copyToObservers gives eavesdroppers (rules with eavesdrop='true') and monitors a copy of
// the message o describes, addressed to dest (nil for the bus). Caller holds b.mu.
func (b *Broker) copyToObservers(o *origin, dest *peer, args match.Args) {
	from, m := o.from, o.msg
	stamp := b.nextFanOut()
	b.candidates(&b.match.eavesdrop, from, m, func(e *matchEntry) bool {
		q := e.own.p
		if e.own.stamp == stamp || q == dest || q == from || q.monitor != nil || q.unique == "" {
			return true
		}
		if e.rule.MatchOwners(m, args, b.ownerOf) {
			e.own.stamp = stamp
			if b.canReceive(q, from, m, false, true) {
				q.queueMessage(m, nil, o)
			}
		}
		return true
	})
	b.copyRoutedToMonitors(o, args)
}

// copyRoutedToMonitors gives every monitor one of whose rules selects the message o
// describes a copy, which carries the message's sequence number and sender as the
// original does; copyToMonitors does the same for the bus's own messages. Caller holds b.mu.
func (b *Broker) copyRoutedToMonitors(o *origin, args match.Args) {
	from, m := o.from, o.msg
	stamp := b.nextFanOut()
	b.candidates(&b.match.monitor, from, m, func(e *matchEntry) bool {
		if e.own.stamp != stamp && e.rule.MatchOwners(m, args, b.ownerOf) {
			e.own.stamp = stamp
			e.own.p.queueMessage(m, nil, o)
		}
		return true
	})
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
