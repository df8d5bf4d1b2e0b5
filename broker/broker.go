// Package broker is a D-Bus message bus: the name registry, match rules, routing, reply
// tracking, policy, quotas and the org.freedesktop.DBus driver. cmd/kdbusd runs it as a
// daemon; Start runs one inside the calling process.
//
// The broker is split into small units that each hold one job: names.go the name registry,
// route.go the routing of one message, delivery.go what routing passes down and hands back,
// reply.go the reply registry, account.go the accounting of what senders hold, limits.go the
// limits, driver.go the bus driver's methods, monitor.go monitoring, peer.go a connection's
// queue. One lock (Broker.mu) guards the shared state;
// each peer has a reader goroutine that routes what it sends and a writer goroutine that
// drains what it receives, so messages from one sender keep their order and a slow receiver
// stalls nobody.
package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/kdbus-go/kdbus/bloom"
	"github.com/kdbus-go/kdbus/broker/config"
	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"github.com/kdbus-go/kdbus/wire"
)

// Options configure a Broker.
type Options struct {
	// Limits; zero fields take DefaultLimits.
	Limits Limits
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Policy decides who may connect, own names, send and receive, as dbus-daemon's <policy>
	// elements do; nil allows everything.
	Policy *config.Policy
	// NoLanes says the bus grants no lanes: native peers' unicasts all go through it.
	NoLanes bool
}

// Broker is a running bus.
type Broker struct {
	guid   string
	limits Limits
	log    *slog.Logger
	policy *config.Policy

	mu       sync.Mutex
	peers    map[string]*peer // by unique name
	all      map[*peer]struct{}
	reg      *registry
	nextID   uint64
	serial   uint32
	monitors map[*peer]struct{}
	perUID   map[uint32]int
	stats    stats
	dirty    []*peer // peers whose queues got messages while b.mu was held

	// seq numbers routed messages bus-wide.
	seq uint64
	// replies are the deadlines of the calls awaiting replies (reply.go).
	replies replyDeadlines
	// match holds every connection's match rules, indexed for routing (matchindex.go).
	match matchRegistry
	// bloom are the parameters of the bloom filters of native connections.
	bloom bloom.Params
	hbuf  []byte // scratch for headers of the bus's own messages to native peers

	// uid is the user the bus runs as, learnt in New: that user (and root) may monitor it.
	uid uint32
	// adm admits connections within the descriptor budget (accept.go).
	adm admission
	// acct charges what senders hold in the bus (account.go); made with the first peer.
	acct *accountant
	// lanes are the lanes the bus opened between native peers (lane.go); noLanes says it
	// opens none.
	lanes   laneTable
	noLanes bool

	lmu       sync.Mutex
	listeners []net.Listener
	closed    bool
	wg        sync.WaitGroup
}

// New returns a broker with no listeners yet.
func New(opts Options) *Broker {
	var id [16]byte
	rand.Read(id[:])
	b := &Broker{
		guid:     hex.EncodeToString(id[:]),
		limits:   opts.Limits.withDefaults(),
		noLanes:  opts.NoLanes,
		log:      opts.Logger,
		policy:   opts.Policy,
		peers:    make(map[string]*peer),
		all:      make(map[*peer]struct{}),
		reg:      newRegistry(),
		monitors: make(map[*peer]struct{}),
		perUID:   make(map[uint32]int),
		bloom:    bloom.Default,
		uid:      uint32(os.Getuid()),
	}
	b.adm.init()
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	return b
}

// GUID returns the bus's GUID, which clients see in authentication and GetId.
func (b *Broker) GUID() string { return b.guid }

func (b *Broker) isClosed() bool {
	b.lmu.Lock()
	defer b.lmu.Unlock()
	return b.closed
}

// Close stops listening, disconnects every peer and waits for their goroutines.
func (b *Broker) Close() error {
	b.lmu.Lock()
	if b.closed {
		b.lmu.Unlock()
		return nil
	}
	b.closed = true
	for _, l := range b.listeners {
		l.Close()
	}
	b.lmu.Unlock()
	b.adm.shutdown()
	b.mu.Lock()
	for p := range b.all {
		p.t.Close()
	}
	if b.replies.timer != nil {
		b.replies.timer.Stop()
	}
	b.unlock()
	b.wg.Wait()
	return nil
}

// addPeer registers a connection that finished its handshake.
func (b *Broker) addPeer(t transport, cr creds, unixFDs bool) (*peer, error) {
	b.mu.Lock()
	defer b.unlock()
	// Close disconnects the peers it finds under b.mu; one added after that would keep
	// Close waiting for it.
	if b.isClosed() {
		return nil, errClosed
	}
	if len(b.all) >= b.limits.MaxCompletedConnections {
		return nil, fmt.Errorf("the bus has %d connections, its limit", len(b.all))
	}
	if b.perUID[cr.uid] >= b.limits.MaxConnectionsPerUser {
		return nil, fmt.Errorf("uid %d has %d connections, the per-user limit", cr.uid, b.perUID[cr.uid])
	}
	if !b.canConnect(cr) {
		return nil, fmt.Errorf("the bus policy does not let uid %d connect", cr.uid)
	}
	b.nextID++
	p := newPeer(b, t, b.nextID, cr, unixFDs)
	if b.policy != nil {
		p.pol = b.policy.For(subjectOf(cr))
	}
	b.all[p] = struct{}{}
	b.perUID[cr.uid]++
	b.stats.connections++
	return p, nil
}

// readLoop routes every message p sends; when p goes away it cleans up after it. hello runs
// once p's first message, its Hello, has arrived.
func (b *Broker) readLoop(p *peer, hello func()) {
	defer b.removePeer(p)
	first := true
	for {
		// A sender whose messages its receivers have not taken yet waits here: its socket
		// fills and its writes block, and the bus does not grow.
		if !b.waitForRoom(p) {
			return
		}
		r, err := p.t.Recv()
		if err != nil {
			if !errors.Is(err, classic.ErrClosed) && !errors.Is(err, classic.ErrDisconnected) {
				b.log.Info("connection error", "peer", p.name(), "err", err)
			}
			return
		}
		// The message's bytes stay charged to p until every receiver has written them.
		p.routing = p.adopt(r)
		if err := b.checkIncoming(p, r.Msg, len(r.FDs), true); err != nil {
			b.log.Info("disconnecting peer", "peer", p.name(), "err", err)
			p.routed(r.FDs)
			return
		}
		if first {
			first = false
			if !isHello(r.Msg) {
				b.log.Info("disconnecting peer: its first message was not Hello", "peer", p.name(), "message", r.Msg.String())
				p.routed(r.FDs)
				return
			}
			hello()
		}
		if !b.holdForRoom(p, r.Msg) {
			p.routed(r.FDs)
			return
		}
		o := &origin{stable: true, creds: native.Creds{UID: p.creds.uid, GID: p.creds.gid, PID: p.creds.pid, Valid: true}}
		p.refusedForRoom(b.route(p, r.Msg, r.FDs, o))
		p.routed(r.FDs)
	}
}

// checkIncoming applies the per-message limits; a peer that breaks them is disconnected.
// A body the sender can still change (validate false) is checked after it is copied instead.
func (b *Broker) checkIncoming(p *peer, m *wire.Message, nfds int, validate bool) error {
	size := len(m.Body)
	if size > b.limits.MaxMessageSize {
		return fmt.Errorf("message of %d bytes exceeds max_message_size %d", size, b.limits.MaxMessageSize)
	}
	if nfds > b.limits.MaxMessageUnixFDs {
		return fmt.Errorf("message with %d descriptors exceeds max_message_unix_fds %d", nfds, b.limits.MaxMessageUnixFDs)
	}
	if p.isMonitor() {
		return errors.New("monitors may not send messages")
	}
	if validate {
		if err := m.ValidateBody(); err != nil {
			return fmt.Errorf("invalid message body: %w", err)
		}
	}
	return nil
}

func isHello(m *wire.Message) bool {
	return m.Type == wire.MethodCall && m.Destination == busName && m.Member == "Hello" &&
		(m.Interface == "" || m.Interface == busName)
}

func (p *peer) name() string {
	if p.unique != "" {
		return p.unique
	}
	return fmt.Sprintf("#%d(uid %d, pid %d)", p.id, p.creds.uid, p.creds.pid)
}

func (p *peer) isMonitor() bool {
	p.b.mu.Lock()
	defer p.b.unlock()
	return p.monitor != nil
}

// removePeer drops a peer that went away: its names pass on, its pending callers get errors,
// and everyone hears that its unique name is gone.
func (b *Broker) removePeer(p *peer) {
	p.t.Close()
	b.mu.Lock()
	p.gone = true
	delete(b.all, p)
	b.perUID[p.creds.uid]--
	if b.perUID[p.creds.uid] <= 0 {
		delete(b.perUID, p.creds.uid)
	}
	delete(b.monitors, p)
	b.dropMatches(p)
	b.dropLanes(p)
	changes := b.reg.releaseAll(p)
	if p.unique != "" {
		delete(b.peers, p.unique)
	}
	for _, ch := range changes {
		b.announceOwnerChange(ch)
	}
	if p.unique != "" && p.monitor == nil {
		b.broadcastDriverSignal("NameOwnerChanged", "sss", p.unique, p.unique, "")
	}
	b.failExpectedReplies(p)
	b.unlock()
	p.stopWriting()
	closeFD(p.creds.pidfd)
	if p.nat != nil {
		p.nat.Close()
	}
}

// unlock releases b.mu and then writes the messages queued meanwhile, from this goroutine,
// as far as the receivers' sockets take them without blocking. Every unlock of b.mu goes
// through here, so no queued message waits for a goroutine hand-off.
func (b *Broker) unlock() {
	dirty := b.dirty
	b.dirty = nil
	for _, p := range dirty {
		p.dirty = false
	}
	b.publishLaneState()
	b.mu.Unlock()
	for _, p := range dirty {
		p.kick()
	}
}
