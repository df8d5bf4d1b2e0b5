package broker

import (
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/wire"
)

// This file accounts for the memory and descriptors that senders hold in the bus. Every byte
// a connection sends is charged to it, and to its user, from the moment the bus reads it
// (before the buffer is allocated) until every receiver has written it or dropped it, as
// dbus-daemon does with max_incoming_bytes. A connection over its limit is not read from
// until its receivers drain, so its socket fills and its own writes block: the flooder is
// slowed, not the bus. Users share one bus-wide pool the way dbus-broker shares a user's
// resources: each user may take at most what the others leave divided by the number of
// users holding a share, so a newcomer always finds room.

// errAccountClosed ends a wait for room on a connection that closed meanwhile.
var errAccountClosed = errors.New("the connection closed while the bus waited for room to read its message")

// memFactor is what a live byte costs in memory: the Go heap grows to twice what is live
// before it collects (GOGC=100), so a limit on live bytes alone would let the process use
// twice the configured amount.
const memFactor = 2

// poolConnections is how many connections' worth of max_incoming_bytes the bus-wide pool
// holds. With the fair share rule a lone user gets half the pool, two connections' worth,
// so one connection at its limit leaves the rest of its user's connections room to talk.
const poolConnections = 4

// Costs of the structures that come with a message beyond its bytes.
var (
	messageCost  = int(unsafe.Sizeof(wire.Message{}))
	outgoingCost = int(unsafe.Sizeof(outgoing{})) + int(unsafe.Sizeof(charge{}))
)

// Memory is given back to the system when the charges fall to a quarter of a peak of at
// least returnAfter, at most once every returnEvery: the runtime would keep a dropped
// queue's pages for minutes otherwise, and a forced collection is too costly to run on
// every release.
const (
	returnAfter = 64 << 20
	returnEvery = time.Second
)

// accountant is the one unit every charge goes through. It is safe for concurrent use.
type accountant struct {
	connBytes, connFDs int // per connection: max_incoming_bytes, max_incoming_unix_fds (as cost)
	poolBytes, poolFDs int // the whole bus

	mu      sync.Mutex
	bytes   int // charged in all to senders, as cost
	owned   int // charged in all to receivers (addOwn), as cost
	fds     int
	users   map[uint32]*userUsage
	sharing int // users holding a charge
	// wake is closed, and replaced, when something is released after a waiter took it
	// (wakeWanted): most releases find nobody waiting, and then cost no channel.
	wake       chan struct{}
	wakeWanted bool
	peak       int // the most bytes charged since memory was last given back
	returning  bool
	lastFree   time.Time
}

// userUsage is what one user's connections hold.
type userUsage struct {
	uid         uint32
	bytes, fds  int
	owned       int // cost of what its connections asked for and have not read (addOwn)
	connections int
}

func newAccountant(l Limits) *accountant {
	return &accountant{
		connBytes: l.MaxIncomingBytes,
		connFDs:   l.MaxIncomingUnixFDs,
		poolBytes: poolConnections * l.MaxIncomingBytes,
		poolFDs:   poolConnections * l.MaxIncomingUnixFDs,
		users:     make(map[uint32]*userUsage),
		wake:      make(chan struct{}),
	}
}

// account is what one connection holds. It is the connection's classic.Quota.
type account struct {
	a          *accountant
	u          *userUsage
	bytes, fds int // as cost
	owned      int // the part of bytes that is what it asked for and has not read (addOwn)
}

// open returns the account of a new connection of uid.
func (a *accountant) open(uid uint32) *account {
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[uid]
	if u == nil {
		u = &userUsage{uid: uid}
		a.users[uid] = u
	}
	u.connections++
	return &account{a: a, u: u}
}

// close forgets a connection that went away; what its messages hold stays charged until
// its receivers have them.
func (c *account) close() {
	a := c.a
	a.mu.Lock()
	defer a.mu.Unlock()
	c.u.connections--
	a.forget(c.u)
}

// waitChan returns the channel closed at the next release, for a caller about to wait for
// one. a.mu is held.
func (a *accountant) waitChan() <-chan struct{} {
	a.wakeWanted = true
	return a.wake
}

// wakeWaiters wakes those waiting for a release, if any. a.mu is held.
func (a *accountant) wakeWaiters() {
	if a.wakeWanted {
		close(a.wake)
		a.wake = make(chan struct{})
		a.wakeWanted = false
	}
}

// forget drops a user that has no connection and holds nothing. a.mu is held.
func (a *accountant) forget(u *userUsage) {
	if u.connections == 0 && u.bytes == 0 && u.fds == 0 && u.owned == 0 {
		delete(a.users, u.uid)
	}
}

// fits reports whether user u may take cost more bytes: at most what the other users leave,
// less the charge, divided by the number of users sharing the pool. A user holding nothing
// may always take one message, so that every user makes progress. a.mu is held.
func (a *accountant) fits(u *userUsage, cost int) bool {
	if u.bytes == 0 {
		return true
	}
	return (u.bytes+cost)*a.sharing <= a.poolBytes-a.bytes-cost
}

// hasRoom reports whether the connection may start reading another message: it is under its
// own limits and its user has a share of the pool left. a.mu is held.
func (c *account) hasRoom() bool {
	a := c.a
	if c.bytes >= a.connBytes || c.fds >= a.connFDs {
		return false
	}
	u := c.u
	return u.bytes == 0 || (u.bytes*a.sharing < a.poolBytes-a.bytes && u.fds*a.sharing < a.poolFDs-a.fds)
}

// full reports whether the connection is over its own limits, or its user holds the pool's
// worth of what its connections asked for: it may then go without what it asked for but can
// be spared (broadcasts, observed copies).
func (c *account) full() bool {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	return c.bytes >= c.a.connBytes || c.fds >= c.a.connFDs || c.u.owned >= c.a.poolBytes
}

// userFull reports whether the connection's user holds the pool's worth of what its
// connections asked for and have not read, and this connection holds some of it: further
// replies to it are dropped, so that a user cannot grow the bus without bound by opening
// connections that call and never read. A connection that holds nothing unread still gets
// what it asked for: a user's connection that does not read must not cost the user's other
// connections their replies (a service's callers are often its own user's), and each such
// connection adds at most one message to the user's holding, as max_connections_per_user
// bounds.
func (c *account) userFull() bool {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	return c.u.owned >= c.a.poolBytes && c.owned > 0
}

// waitRoom blocks until the connection may read another message, or done is closed; it
// reports whether there is room.
func (c *account) waitRoom(done <-chan struct{}) bool {
	a := c.a
	for {
		a.mu.Lock()
		if c.hasRoom() {
			a.mu.Unlock()
			return true
		}
		wake := a.waitChan()
		a.mu.Unlock()
		select {
		case <-wake:
		case <-done:
			return false
		}
	}
}

// Reserve charges n bytes of a message being read, waiting while the user's share has no
// room for them. It implements classic.Quota.
func (c *account) Reserve(done <-chan struct{}, n int) error {
	a := c.a
	cost := n * memFactor
	for {
		a.mu.Lock()
		if a.fits(c.u, cost) {
			c.add(cost, 0)
			a.mu.Unlock()
			return nil
		}
		wake := a.waitChan()
		a.mu.Unlock()
		select {
		case <-wake:
		case <-done:
			return errAccountClosed
		}
	}
}

// AddFDs charges descriptors that arrived. It implements classic.Quota.
func (c *account) AddFDs(n int) { c.force(0, n) }

// Release returns a charge. It implements classic.Quota.
func (c *account) Release(bytes, fds int) {
	if bytes == 0 && fds == 0 {
		return
	}
	a := c.a
	a.mu.Lock()
	defer a.mu.Unlock()
	c.add(-bytes*memFactor, -fds)
	a.forget(c.u)
	a.wakeWaiters()
	a.maybeReturnMemory()
}

// force charges what is held already, and so cannot be refused; it only delays the next
// message the connection may send.
func (c *account) force(bytes, fds int) {
	if bytes == 0 && fds == 0 {
		return
	}
	c.a.mu.Lock()
	c.add(bytes*memFactor, fds)
	c.a.mu.Unlock()
}

// addOwn moves the counters of what the connection asked for and has not read yet:
// replies to its calls, broadcasts it subscribed to, copies it observes. They count
// against the connection's own limit, so that a connection that does not read what it
// asked for is not read from either, but not against its user's share of what users send:
// the user's other connections (a service the same user runs, say) must not stall because
// one of them does not read. A user's connections may together hold the pool's worth of it;
// past that, what they asked for is dropped (full, userFull). a.mu is held.
func (c *account) addOwn(cost, fds int) {
	a := c.a
	c.bytes += cost
	c.fds += fds
	c.owned += cost
	c.u.owned += cost
	a.owned += cost
	a.peak = max(a.peak, a.bytes+a.owned)
}

// add moves the counters of the connection, its user and the bus. a.mu is held.
func (c *account) add(cost, fds int) {
	a, u := c.a, c.u
	held := u.bytes != 0 || u.fds != 0
	c.bytes += cost
	c.fds += fds
	u.bytes += cost
	u.fds += fds
	a.bytes += cost
	a.fds += fds
	switch holds := u.bytes != 0 || u.fds != 0; {
	case holds && !held:
		a.sharing++
	case !holds && held:
		a.sharing--
	}
	a.peak = max(a.peak, a.bytes+a.owned)
}

// maybeReturnMemory gives freed memory back to the system once most of a large peak is
// gone, so that the bus shrinks when a queue it held is dropped. a.mu is held.
func (a *accountant) maybeReturnMemory() {
	if a.returning || a.peak < returnAfter || a.bytes+a.owned > a.peak/4 {
		return
	}
	a.returning = true
	a.peak = a.bytes + a.owned
	delay := time.Until(a.lastFree.Add(returnEvery))
	time.AfterFunc(max(delay, 0), func() {
		debug.FreeOSMemory()
		a.mu.Lock()
		a.returning = false
		a.lastFree = time.Now()
		a.mu.Unlock()
	})
}

// usage returns what a connection holds, in bytes and descriptors, for statistics.
func (c *account) usage() (bytes, fds int) {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	return c.bytes / memFactor, c.fds
}

// charge is what one message holds on an account: its bytes and structures, and the
// descriptors the bus holds for it. It is released when the last of its holders (the routing
// of the message, and each receiver's queue) lets go. A charge is on its sender's account,
// or with own set on the account of the receiver that asked for the message (addOwn).
type charge struct {
	acct       *account
	own        bool
	bytes, fds int // live bytes and descriptors
	refs       atomic.Int32
}

// newOwnCharge starts the charge of a message its receiver asked for, on the receiver's
// account, held by the receiver's queue.
func newOwnCharge(acct *account) *charge {
	ch := &charge{acct: acct, own: true}
	ch.refs.Store(1)
	return ch
}

// newCharge starts the charge of a message whose bytes and descriptors acct already
// carries, held by the routing of the message.
func newCharge(acct *account, bytes, fds int) *charge {
	ch := &charge{acct: acct, bytes: bytes, fds: fds}
	ch.refs.Store(1)
	return ch
}

// add charges more to the message, while a reference is held.
func (ch *charge) add(bytes, fds int) {
	if ch.own {
		a := ch.acct.a
		a.mu.Lock()
		ch.acct.addOwn(bytes*memFactor, fds)
		a.mu.Unlock()
	} else {
		ch.acct.force(bytes, fds)
	}
	ch.bytes += bytes
	ch.fds += fds
}

// hold takes a reference for one more holder.
func (ch *charge) hold() { ch.refs.Add(1) }

// put drops a reference; the last one releases the charge.
func (ch *charge) put() {
	if ch == nil {
		return
	}
	if ch.refs.Add(-1) != 0 {
		return
	}
	if !ch.own {
		ch.acct.Release(ch.bytes, ch.fds)
		return
	}
	if ch.bytes == 0 && ch.fds == 0 {
		return
	}
	a := ch.acct.a
	a.mu.Lock()
	defer a.mu.Unlock()
	ch.acct.addOwn(-ch.bytes*memFactor, -ch.fds)
	a.forget(ch.acct.u)
	a.wakeWaiters()
	a.maybeReturnMemory()
}

// msgCost is what a queued message holds: its body, its header's strings, and the structures
// that carry it.
func msgCost(m *wire.Message) int {
	return len(m.Body) + len(m.Path) + len(m.Interface) + len(m.Member) + len(m.ErrorName) +
		len(m.Destination) + len(m.Sender) + len(m.Signature) + messageCost + outgoingCost
}

// What a peer's messages are charged while they are routed: the reader charges each message
// as it reads it (adopt, or origin.charge for a transport that charges nothing on reading),
// receivers' queues take a share, and the reader lets go of its own once routed.

// waitForRoom waits until p may send another message: until the messages it sent earlier
// have left enough of its quota. It reports false when p's connection closed
// meanwhile. It also ends the charge of the message p's reader routed last.
func (b *Broker) waitForRoom(p *peer) bool {
	if p.routing != nil {
		p.routing.put()
		p.routing = nil
	}
	return p.acct.waitRoom(p.done)
}

// adopt takes over the charge of a message p's transport read: its bytes, and what its
// decoded header and structure hold beyond them.
func (p *peer) adopt(r classic.Received) *charge {
	ch := newCharge(p.acct, r.Charged, 0)
	ch.add(max(r.Charged-len(r.Msg.Body), 0)+messageCost, 0)
	return ch
}

// routed closes the descriptors of a message p sent once it has been routed (receivers hold
// their own duplicates), and releases what the routing held.
func (p *peer) routed(fds []int) {
	closeFDs(fds)
	p.acct.Release(0, len(fds))
	p.routing.put()
	p.routing = nil
}

// charge returns the charge of the message o describes, for a receiver's queue to hold:
// that of its sender's routing, started here for a sender whose transport charges nothing
// on reading. It belongs to the routing of the message: the sender's reader, under b.mu.
func (o *origin) charge() *charge {
	from := o.from
	if from.routing == nil {
		from.routing = newCharge(from.acct, 0, 0)
		from.routing.add(len(o.msg.Body)+messageCost, 0)
	}
	return from.routing
}
