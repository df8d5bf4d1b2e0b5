package broker

import (
	"sync"
	"time"

	"github.com/kdbus-go/kdbus/broker/config"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// transport is one peer's connection as the broker sees it: the classic stream transport
// today, the native pool transport beside it.
type transport interface {
	Recv() (classic.Received, error)
	// Send writes m, blocking until it is written.
	Send(m *wire.Message, fds []int) error
	// TrySend writes m only if that cannot block (see classic.Conn.TrySend).
	TrySend(m *wire.Message, fds []int) (bool, error)
	// Flush writes what TrySend left unwritten.
	Flush() error
	Close() error
}

// creds are what the kernel vouches for about a peer, captured when it connected.
type creds struct {
	uid, gid, pid uint32
	gids          []uint32
	seclabel      []byte
	pidfd         int // -1 when the kernel gave none
}

// peer is one connection to the bus. Its reader goroutine routes what it sends. What others
// send it is queued, and written by the goroutine that routed it as long as the socket takes
// it without blocking (kick); the rest is left to the peer's writer goroutine, so a slow peer
// never stalls a sender, and the common case costs no hand-off between goroutines.
type peer struct {
	b       *Broker
	t       transport
	nat     *native.BusConn // the native transport's bus side; nil for classic peers
	id      uint64
	unique  string // ":1.<id>" once Hello succeeded
	creds   creds
	unixFDs bool
	pol     *config.SubjectPolicy // nil: no policy, everything allowed

	// Guarded by the broker's lock.
	names       map[string]struct{}
	matches     []*matchEntry
	monitor     *monitorState
	expected    map[replyKey]*pendingReply // calls to this peer that await its reply
	outstanding map[replyKey]*peer         // calls this peer made that await a reply, by callee
	gone        bool

	// dirty says the peer is on the broker's list of queues to kick. Guarded by b.mu.
	dirty bool

	// acct is what p's messages hold in the bus; routing is the charge of the message p's
	// reader is routing, which its receivers' queues take a share of. routing belongs to
	// p's reader goroutine, which is also the only one routing p's messages.
	acct    *account
	routing *charge
	// done is closed when p's transport is closed, to wake a reader waiting for room.
	done     chan struct{}
	doneOnce sync.Once
	// full maps the receivers that refused p's unicasts for want of room to a channel
	// closed once each has room again (holdForRoom). It belongs to p's reader goroutine.
	full map[*peer]<-chan struct{}

	// The outgoing queue, guarded by qmu. writing says a goroutine is writing from it.
	qmu     sync.Mutex
	qcond   *sync.Cond
	queue   []outgoing
	qbytes  int
	qfds    int
	writing bool
	closing bool
	writer  bool // the writer goroutine runs
	// room is handed to senders whose messages the full queue refused, and closed once a
	// message leaves the queue; roomWanted says it was handed out since it was made.
	room       chan struct{}
	roomWanted bool
}

// outgoing is a message waiting in a peer's queue.
type outgoing struct {
	m    *wire.Message
	fds  []int // owned by the queue: duplicates, closed once written
	size int
	ch   *charge // the sender's charge for the message; nil for the bus's own messages
	// For native peers the message is already in the pool; pend announces it.
	pend native.Pending
}

func newPeer(b *Broker, t transport, id uint64, cr creds, unixFDs bool) *peer {
	if b.acct == nil {
		b.acct = newAccountant(b.limits)
	}
	p := &peer{
		b: b, id: id, creds: cr, unixFDs: unixFDs,
		names:       make(map[string]struct{}),
		expected:    make(map[replyKey]*pendingReply),
		outstanding: make(map[replyKey]*peer),
		acct:        b.acct.open(cr.uid),
		done:        make(chan struct{}),
	}
	if c, ok := t.(*classic.Conn); ok {
		c.SetQuota(p.acct)
	}
	p.t = closeWatch{t, p}
	p.qcond = sync.NewCond(&p.qmu)
	p.room = make(chan struct{})
	return p
}

// closeWatch is a peer's transport, which tells the peer when it is closed.
type closeWatch struct {
	transport
	p *peer
}

func (w closeWatch) Close() error {
	w.p.doneOnce.Do(func() { close(w.p.done) })
	return w.transport.Close()
}

// enqueue queues a message of the bus's own for the peer; it reports whether the peer took
// it.
func (p *peer) enqueue(m *wire.Message, fds []int) bool {
	return p.queueMessage(m, fds, nil).result == delivered
}

// queueMessage queues m for the peer, duplicating fds so that every receiver owns its own;
// o describes m when it is being routed, and is nil for the bus's own messages. Caller
// holds b.mu.
func (p *peer) queueMessage(m *wire.Message, fds []int, o *origin) delivery {
	if p.nat != nil {
		return p.enqueueNative(m, fds, o)
	}
	if o != nil {
		if !o.stable {
			p.b.stabilize(o)
		}
		if o.bad != nil {
			return delivery{result: refusedInvalid, err: o.bad}
		}
	}
	size := msgCost(m)
	if p.spare(m, o) && p.acct.full() || p.owed(o) && p.acct.userFull() {
		return delivery{result: refusedNoRoom}
	}
	unsolicited := o != nil && o.dest == p
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if p.closing {
		return delivery{result: refusedClosing}
	}
	lim := &p.b.limits
	if p.qbytes+size > lim.MaxOutgoingBytes || p.qfds+len(fds) > lim.MaxOutgoingUnixFDs {
		if unsolicited {
			p.roomWanted = true
			return delivery{result: refusedNoRoom, room: p.room}
		}
		return delivery{result: refusedNoRoom}
	}
	dup, ok := dupFDs(fds)
	if !ok {
		return delivery{result: refusedFDs}
	}
	cp := *m // receivers share the body, never the header struct
	var ch *charge
	if unsolicited {
		// An unsolicited unicast: its sender pays until p has it.
		ch = o.charge()
		ch.hold()
		ch.add(messageCost+outgoingCost, len(dup))
	} else {
		ch = newOwnCharge(p.acct)
		ch.add(size, len(dup))
	}
	idle := len(p.queue) == 0 && !p.writing
	p.queue = append(p.queue, outgoing{m: &cp, fds: dup, size: size, ch: ch})
	p.qbytes += size
	p.qfds += len(dup)
	if idle {
		p.markDirty()
	}
	return delivery{result: delivered}
}

// markDirty puts p on the list of queues that whoever releases the broker's lock next
// writes (Broker.unlock). Caller holds b.mu.
func (p *peer) markDirty() {
	if !p.dirty {
		p.dirty = true
		p.b.dirty = append(p.b.dirty, p)
	}
}

// dupFDs duplicates fds for one receiver; it reports false, having closed what it made,
// when the process cannot.
func dupFDs(fds []int) ([]int, bool) {
	if len(fds) == 0 {
		return nil, true
	}
	dup := make([]int, 0, len(fds))
	for _, fd := range fds {
		nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeFDs(dup)
			return nil, false
		}
		dup = append(dup, nfd)
	}
	return dup, true
}

// Who pays for a queued message. A message pushed at p unasked (a call, a one-way message,
// a unicast signal) is charged to its sender until p has it, so that a flooder is slowed by
// its own receivers (waitForRoom). Everything else p asked for, and pays for itself: replies
// to its calls, broadcasts it subscribed to, copies of others' traffic it observes, and the
// bus's own messages. Otherwise a caller that never read its replies, or a subscriber that
// never read its signals, would stop the bus reading the service that sends them, and that
// service would stop answering everyone.
//
// spare reports whether p may go without m, which o describes (nil: the bus's own), when it
// is over its own limits: broadcasts and observed copies may be dropped (and are counted as
// dropped). Replies it is owed are dropped only when its user's connections hold the pool's
// worth of what they asked for (owed, userFull); the bus's messages to it alone never are.
func (p *peer) spare(m *wire.Message, o *origin) bool {
	if o == nil {
		return m.Destination == "" // the bus's own broadcasts
	}
	return o.dest != p && o.replyTo != p
}

// owed reports whether the message o describes is a reply p asked for.
func (p *peer) owed(o *origin) bool {
	return o != nil && o.replyTo == p
}

// kick writes the queue from the calling goroutine while the socket takes it without
// blocking, and hands what remains to the writer goroutine.
func (p *peer) kick() {
	if p.nat != nil {
		p.kickNative()
		return
	}
	p.qmu.Lock()
	for len(p.queue) > 0 && !p.writing && !p.closing {
		batch := p.queue
		p.queue = nil
		p.writing = true
		p.qmu.Unlock()
		for i, o := range batch {
			sent, err := p.t.TrySend(o.m, o.fds)
			if err != nil {
				p.fail(batch[i:])
				return
			}
			if !sent {
				p.qmu.Lock()
				p.queue = append(batch[i:len(batch):len(batch)], p.queue...)
				p.writing = false
				p.wakeWriter()
				p.qmu.Unlock()
				return
			}
			p.sent(o)
		}
		p.qmu.Lock()
		p.writing = false
	}
	p.qmu.Unlock()
}

// sent releases what a written message held.
func (p *peer) sent(o outgoing) {
	closeFDs(o.fds)
	o.ch.put()
	p.qmu.Lock()
	p.qbytes -= o.size
	p.qfds -= len(o.fds)
	p.freed()
	p.qmu.Unlock()
}

// freed wakes the senders the queue refused since it last had room. p.qmu is held.
func (p *peer) freed() {
	if p.roomWanted {
		close(p.room)
		p.room = make(chan struct{})
		p.roomWanted = false
	}
}

// fail drops the rest of a batch after the connection broke.
func (p *peer) fail(rest []outgoing) {
	for _, o := range rest {
		closeFDs(o.fds)
		o.ch.put()
	}
	p.t.Close()
	p.drain()
}

// wakeWriter hands the queue to the writer goroutine, starting it on first need: most
// connections never fill their socket, and an idle connection then costs no goroutine for
// writing. p.qmu is held.
func (p *peer) wakeWriter() {
	if !p.writer {
		p.writer = true
		go p.writeLoop()
		return
	}
	p.qcond.Signal()
}

// writeLoop writes, blocking, what kick could not write without blocking, until the peer
// closes.
func (p *peer) writeLoop() {
	if p.nat != nil {
		p.writeLoopNative()
		return
	}
	for {
		p.qmu.Lock()
		for (len(p.queue) == 0 || p.writing) && !p.closing {
			p.qcond.Wait()
		}
		if len(p.queue) == 0 || p.writing {
			p.qmu.Unlock()
			return
		}
		batch := p.queue
		p.queue = nil
		p.writing = true
		p.qmu.Unlock()
		if err := p.t.Flush(); err != nil {
			p.fail(batch)
			return
		}
		for i, o := range batch {
			if err := p.t.Send(o.m, o.fds); err != nil {
				p.fail(batch[i:])
				return
			}
			p.sent(o)
		}
		p.qmu.Lock()
		p.writing = false
		p.qmu.Unlock()
	}
}

// drain empties the queue of a peer whose connection broke.
func (p *peer) drain() {
	p.qmu.Lock()
	defer p.qmu.Unlock()
	p.closing = true
	for _, o := range p.queue {
		closeFDs(o.fds)
		o.ch.put()
		if p.nat != nil {
			p.nat.Discard(o.pend)
		}
	}
	p.queue, p.qbytes, p.qfds = nil, 0, 0
	p.freed()
}

// stopWriting lets the writer finish what is queued and then exit. p's reader has ended, so
// p sends nothing more: the charge of its last message ends, and its account closes (what
// its messages hold in others' queues stays charged until written).
func (p *peer) stopWriting() {
	if p.routing != nil {
		p.routing.put()
		p.routing = nil
	}
	p.acct.close()
	p.qmu.Lock()
	p.closing = true
	if !p.writer && len(p.queue) > 0 && !p.writing {
		p.wakeWriter() // someone must finish the queue and close its descriptors
	}
	p.qcond.Broadcast()
	p.qmu.Unlock()
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// namesFor lists the names p owns plus its unique name, for policy checks.
func (p *peer) allNames() []string {
	out := make([]string, 0, len(p.names)+1)
	if p.unique != "" {
		out = append(out, p.unique)
	}
	for n := range p.names {
		out = append(out, n)
	}
	return out
}

// maxRoomHold bounds how long holdForRoom keeps a sender's message for a receiver that has
// not made room. A receiver that never reads would otherwise stop every sender that keeps
// addressing it, and hold up their messages to everyone else; with the bound, such a sender
// is refused once per maxRoomHold, which costs the bus nothing, and is only slowed.
const maxRoomHold = 100 * time.Millisecond

// holdForRoom keeps m, which p sent, back from a receiver that refused p's previous unicast
// for want of room and has not made any since: refusing it at once would cost the bus a route
// and an answer for nothing, and a sender that ignores its refusals could keep the bus busy
// at the rate it sends. The reader holds m until the receiver makes room (it reads, or frees
// a slice of its pool), goes away, or maxRoomHold passes, and then routes it, so m is refused
// again only if there is still no room. p's later messages wait behind m, which keeps their
// order; its socket fills meanwhile, and its own writes block, as the bus does to a sender
// over max_incoming_bytes. It reports false when p's connection closed meanwhile.
func (b *Broker) holdForRoom(p *peer, m *wire.Message) bool {
	if len(p.full) == 0 || m.Destination == "" || m.Destination == busName {
		return true
	}
	p.forgetRoomy()
	if len(p.full) == 0 {
		return true
	}
	b.mu.Lock()
	dest := b.resolve(m.Destination)
	b.unlock()
	room, ok := p.full[dest]
	if !ok {
		return true
	}
	delete(p.full, dest)
	t := time.NewTimer(maxRoomHold)
	defer t.Stop()
	select {
	case <-room:
	case <-dest.done:
	case <-t.C:
	case <-p.done:
		return false
	}
	return true
}

// refusedForRoom remembers that p's unicast was refused because its receiver had no room,
// as res says, for holdForRoom. It belongs to p's reader goroutine.
func (p *peer) refusedForRoom(res sendResult) {
	if res.room == nil || res.full == nil {
		return
	}
	if p.full == nil {
		p.full = make(map[*peer]<-chan struct{})
	}
	p.forgetRoomy()
	p.full[res.full] = res.room
}

// forgetRoomy forgets the receivers that made room or went away since they refused p, so
// that p's messages stop paying for the lookup and the map keeps no peer that is gone.
func (p *peer) forgetRoomy() {
	for q, room := range p.full {
		select {
		case <-room:
			delete(p.full, q)
		case <-q.done:
			delete(p.full, q)
		default:
		}
	}
}
