package broker

import (
	"fmt"
	"strings"

	"github.com/kdbus-go/kdbus/broker/config"
	"github.com/kdbus-go/kdbus/transport/native"
	"golang.org/x/sys/unix"
)

// Lanes. Two native peers that talk to each other get a lane: a SOCK_SEQPACKET socketpair the
// bus makes and hands out, one end to each, after checking that its policy lets every
// message through between them. Their unicasts then go straight to each other (the protocol
// on the lane is transport/native's), and the bus is left with what only it can do: names,
// broadcasts, match rules, monitors. It keeps a table of the lanes it opened, so that a reply
// to a call it never saw can still go through it while a monitor watches, and it publishes
// into every native pool what senders check before each lane send (publishLaneState).

// lanePair names a lane by the ids of its ends, lower first.
type lanePair struct{ a, b uint64 }

func pairOf(p, q *peer) lanePair {
	if p.id < q.id {
		return lanePair{p.id, q.id}
	}
	return lanePair{q.id, p.id}
}

// laneTable is the bus's record of the lanes it opened. Guarded by b.mu.
type laneTable struct {
	pairs map[lanePair]struct{}
	// byPeer lists the other ends of each peer's lanes, for cleaning up.
	byPeer map[uint64][]uint64
	// nameGen counts changes of well-known names' owners; published, with watched, is
	// what the pools last heard.
	nameGen                    uint64
	publishedGen, publishedWat uint64
}

// laneBetween reports whether p and q share a lane. Caller holds b.mu.
func (b *Broker) laneBetween(p, q *peer) bool {
	_, ok := b.lanes.pairs[pairOf(p, q)]
	return ok
}

// watched is non-zero while a monitor or an eavesdropping rule could observe unicasts, which
// then must go through the bus. Caller holds b.mu.
func (b *Broker) watched() uint64 {
	return uint64(b.match.eavesdrop.n + b.match.monitor.n)
}

// nameMoved records that a well-known name changed owner: clients that resolved it for a lane
// resolve it again before their next send. Caller holds b.mu.
func (b *Broker) nameMoved() { b.lanes.nameGen++ }

// publishLaneState writes the name generation and whether unicasts are watched into every
// native pool when either changed. It runs before b.mu is released, so no client hears of
// a change (a NameOwnerChanged, a reply to RequestName or BecomeMonitor) before its pool
// says so. Caller holds b.mu.
func (b *Broker) publishLaneState() {
	w := b.watched()
	if b.lanes.nameGen == b.lanes.publishedGen && w == b.lanes.publishedWat {
		return
	}
	b.lanes.publishedGen, b.lanes.publishedWat = b.lanes.nameGen, w
	for p := range b.all {
		if p.nat != nil {
			p.nat.SetBusState(b.lanes.nameGen, w)
		}
	}
}

// grantLane answers p's request for a lane to the owner of name.
func (b *Broker) grantLane(p *peer, req *native.LaneRequest) {
	b.mu.Lock()
	defer b.unlock()
	refuse := func(name, format string, args ...any) {
		p.nat.RefuseLane(req.Cookie, name, fmt.Sprintf(format, args...))
	}
	if b.noLanes {
		refuse(errNotSupported, "this bus opens no lanes")
		return
	}
	dest := b.resolve(req.Name)
	switch {
	case dest == nil:
		name := errServiceUnknown
		if strings.HasPrefix(req.Name, ":") {
			name = errNameHasNoOwner
		}
		refuse(name, "The name %s is not owned by any connection", req.Name)
		return
	case dest == p:
		refuse(errNotSupported, "%s is this connection", req.Name)
		return
	case dest.nat == nil || !dest.nat.TakesLanes() || dest.monitor != nil:
		refuse(errNotSupported, "%s takes no lanes; messages to it go through the bus", req.Name)
		return
	case !b.laneAllowed(p, dest):
		refuse(errAccessDenied, "the bus policy looks at the messages %s and %s exchange; they go through the bus", p.unique, dest.unique)
		return
	}
	pair := pairOf(p, dest)
	if _, ok := b.lanes.pairs[pair]; ok {
		// The two share a lane already: p only learns who owns the name.
		p.nat.OpenLane(req.Cookie, dest.id, b.lanes.nameGen, dest.unique, req.Name, -1)
		return
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		refuse(errLimitsExceeded, "the bus cannot make a lane: %v", err)
		return
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	// The end that did not ask hears first: the asker may write to the lane at once.
	if err := dest.nat.OpenLane(0, p.id, 0, p.unique, "", fds[1]); err != nil {
		refuse(errLimitsExceeded, "%s cannot take a lane now: %v", req.Name, err)
		return
	}
	if err := p.nat.OpenLane(req.Cookie, dest.id, b.lanes.nameGen, dest.unique, req.Name, fds[0]); err != nil {
		return // p breaks; dest sees its end hang up
	}
	if b.lanes.pairs == nil {
		b.lanes.pairs = make(map[lanePair]struct{})
		b.lanes.byPeer = make(map[uint64][]uint64)
	}
	b.lanes.pairs[pair] = struct{}{}
	b.lanes.byPeer[p.id] = append(b.lanes.byPeer[p.id], dest.id)
	b.lanes.byPeer[dest.id] = append(b.lanes.byPeer[dest.id], p.id)
	b.stats.lanes++
}

// laneAllowed reports whether the policy lets every message through between p and q, both
// ways, whatever it holds: only then may their unicasts bypass the bus's checks. Caller holds
// b.mu.
func (b *Broker) laneAllowed(p, q *peer) bool {
	allows := func(sp *config.SubjectPolicy) bool {
		if sp == nil {
			return true
		}
		send, recv := sp.AllowsEverything()
		return send && recv
	}
	return allows(p.pol) && allows(q.pol)
}

// dropLanes forgets p's lanes; the other ends see them hang up. Caller holds b.mu.
func (b *Broker) dropLanes(p *peer) {
	for _, other := range b.lanes.byPeer[p.id] {
		delete(b.lanes.pairs, lanePair{min(p.id, other), max(p.id, other)})
		rest := b.lanes.byPeer[other]
		for i, id := range rest {
			if id == p.id {
				rest = append(rest[:i], rest[i+1:]...)
				break
			}
		}
		if len(rest) == 0 {
			delete(b.lanes.byPeer, other)
		} else {
			b.lanes.byPeer[other] = rest
		}
	}
	delete(b.lanes.byPeer, p.id)
}
