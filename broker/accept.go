package broker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/kdbus-go/kdbus/transport/classic"
	"github.com/kdbus-go/kdbus/transport/native"
	"golang.org/x/sys/unix"
)

// This file takes connections in: the accept loops of both transports, the admission of each
// connection within the bus's budgets, and the handshake that turns an accepted socket into a
// peer.
//
// Every connection costs descriptors, and a process that runs out of them can neither accept
// nor route a message carrying one. So the bus budgets them from RLIMIT_NOFILE: connections,
// complete or not, may hold the limit less a reserve for the bus's own files and for
// descriptors in flight; a connection that does not fit is refused at once. Connections still
// in their handshake are further bounded by max_incomplete_connections: while that many
// are open the bus stops accepting, as dbus-daemon does, and the kernel's backlog holds the
// next callers until one finishes or times out (auth_timeout).

// Descriptors a connection holds once its handshake is done: its socket and its pidfd, and
// for a native connection its receive pool too. A connection is charged in full when it is
// accepted, so that finishing the handshake never needs a descriptor the budget did not grant.
const (
	classicConnFDs = 2
	nativeConnFDs  = 3
)

// admission tracks what open connections hold against the budgets.
type admission struct {
	mu   sync.Mutex
	cond *sync.Cond // signalled when an incomplete connection ends or the broker closes
	// incomplete are the connections still in their handshake, oldest first.
	incomplete []*ticket
	held       int // descriptors charged to open connections
	closed     bool

	refused    int // connections refused since the last log
	lastRefuse time.Time
}

// ticket is one admitted connection's claim on the budgets.
type ticket struct {
	sock     *net.UnixConn
	fds      int
	complete bool // its handshake finished: it no longer counts as incomplete
	shed     bool // the bus closed it to free descriptors
}

func (a *admission) init() { a.cond = sync.NewCond(&a.mu) }

// waitForRoom blocks while max connections are in their handshake, so that the next caller
// waits in the listener's backlog instead of being accepted. It reports false once the broker
// closes.
func (a *admission) waitForRoom(max int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.incomplete) >= max && !a.closed {
		a.cond.Wait()
	}
	return !a.closed
}

// admit charges fds descriptors for sock, or reports false when they would pass budget.
func (a *admission) admit(sock *net.UnixConn, fds, budget int) (*ticket, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.held+fds > budget {
		return nil, false
	}
	t := &ticket{sock: sock, fds: fds}
	a.incomplete = append(a.incomplete, t)
	a.held += fds
	return t, true
}

// complete marks t's handshake as done.
func (a *admission) complete(t *ticket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropIncomplete(t)
	t.complete = true
}

// release returns what t held, once its connection is gone.
func (a *admission) release(t *ticket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropIncomplete(t)
	a.held -= t.fds
}

// dropIncomplete takes t off the incomplete list. a.mu is held.
func (a *admission) dropIncomplete(t *ticket) {
	if i := slices.Index(a.incomplete, t); i >= 0 {
		a.incomplete = slices.Delete(a.incomplete, i, i+1)
		a.cond.Broadcast()
	}
}

// shedNewest closes the connection that most recently started its handshake, to give its
// descriptor back when the process has run out. The newest goes first: the oldest are the
// nearest to finishing, and a flood of new connections then costs its sender, not the callers
// that came before it. It reports whether it found one.
func (a *admission) shedNewest() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.incomplete) - 1; i >= 0; i-- {
		if t := a.incomplete[i]; !t.shed {
			t.shed = true
			t.sock.Close()
			return true
		}
	}
	return false
}

// shutdown refuses new connections and ends every handshake in progress, so that Close need
// not wait for them to time out.
func (a *admission) shutdown() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	for _, t := range a.incomplete {
		t.sock.Close()
	}
	a.cond.Broadcast()
}

// noteRefused counts a connection refused for want of descriptors and says whether to log
// now: at most every ten seconds, so that a flood of connections does not flood the log too.
func (a *admission) noteRefused() (n int, log bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refused++
	if now := time.Now(); now.Sub(a.lastRefuse) >= 10*time.Second {
		n, a.refused, a.lastRefuse = a.refused, 0, now
		return n, true
	}
	return 0, false
}

// fdBudget returns how many descriptors connections may hold: the soft RLIMIT_NOFILE less a
// reserve. It reads the limit at every call, so that a limit changed under a running bus
// (prlimit) takes effect at the next connection.
func (b *Broker) fdBudget() int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > math.MaxInt32 {
		return math.MaxInt
	}
	n := int(lim.Cur)
	return n - fdReserve(n, b.limits.MaxMessageUnixFDs)
}

// fdReserve is the part of a descriptor limit of n kept from connections: some for the bus's
// own files (standard streams, listeners, the poller, logs) and for descriptors in flight, at
// least two messages' worth, which a reader holds while it routes them and the bus duplicates
// for each receiver; a sixteenth of the limit where that is more; never more than half.
func fdReserve(n, maxMessageFDs int) int {
	return min(n/2, max(n/16, 32+2*maxMessageFDs))
}

// Serve accepts classic connections on l until the broker closes or l fails for good. A lack of
// descriptors or memory does not end it: it waits a moment and accepts again.
func (b *Broker) Serve(l *net.UnixListener) error {
	return b.acceptLoop(l, classicConnFDs, b.serveConn)
}

// ServeNative accepts native connections on l, a SOCK_SEQPACKET listener ("unixpacket"), as
// Serve does classic ones.
func (b *Broker) ServeNative(l *net.UnixListener) error {
	return b.acceptLoop(l, nativeConnFDs, b.serveNative)
}

var errClosed = errors.New("broker: closed")

// acceptLoop accepts connections on l, admits each at a cost of fds descriptors, and runs
// serve for it on a goroutine of its own.
func (b *Broker) acceptLoop(l *net.UnixListener, fds int, serve func(*net.UnixConn, *ticket)) error {
	b.lmu.Lock()
	if b.closed {
		b.lmu.Unlock()
		return errClosed
	}
	b.listeners = append(b.listeners, l)
	b.lmu.Unlock()
	var delay time.Duration
	for {
		if !b.adm.waitForRoom(b.limits.MaxIncompleteConnections) {
			return nil
		}
		c, err := l.AcceptUnix()
		if err != nil {
			if b.isClosed() {
				return nil
			}
			if !transientAcceptError(err) {
				return err
			}
			// The listener stays readable, so retrying at once would spin. Out of
			// descriptors, the newest handshake gives one back.
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				b.adm.shedNewest()
			}
			if delay == 0 {
				// Once per spell of failures: they repeat until the cause goes away.
				b.log.Warn("cannot accept connections for now; retrying with a growing delay, up to a second",
					"listener", l.Addr().String(), "err", err)
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		t, ok := b.adm.admit(c, fds, b.fdBudget())
		if !ok {
			c.Close()
			if n, log := b.adm.noteRefused(); log && !b.isClosed() {
				b.log.Warn("refusing connections: open connections hold the descriptors RLIMIT_NOFILE allows (raise it, e.g. LimitNOFILE= in the service unit)",
					"refused", n, "listener", l.Addr().String())
			}
			continue
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer b.adm.release(t)
			serve(c, t)
		}()
	}
}

// transientAcceptError reports whether accept failed for want of a resource that may come
// back (descriptors, kernel memory) or because of one caller's connection, rather than
// because the listener is broken.
func transientAcceptError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.EAGAIN, syscall.EINTR, syscall.ECONNABORTED, syscall.EPROTO, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// serveConn authenticates one classic connection and routes its messages until it goes away.
func (b *Broker) serveConn(sock *net.UnixConn, tk *ticket) {
	cr, err := peerCreds(sock)
	if err != nil {
		b.log.Warn("cannot read peer credentials; dropping connection", "err", err)
		sock.Close()
		return
	}
	// auth_timeout bounds the whole handshake, Hello included, as in dbus-daemon: a client
	// that authenticates and then says nothing holds an incomplete connection no longer.
	helloBy := time.Now().Add(b.limits.AuthTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), helloBy)
	t, err := classic.Accept(ctx, sock, classic.AcceptOptions{GUID: b.guid, UID: cr.uid, UnixFDs: true, MaxMessageSize: b.limits.MaxMessageSize})
	cancel()
	if err != nil {
		b.log.Info("authentication failed", "uid", cr.uid, "pid", cr.pid, "err", err)
		return
	}
	// The pidfd is taken only now, so that a connection that never authenticates costs one
	// descriptor, not two.
	cr.pidfd = peerPidfd(sock)
	p, err := b.addPeer(t, cr, t.UnixFDs())
	if err != nil {
		b.log.Warn("connection refused", "uid", cr.uid, "pid", cr.pid, "err", err)
		t.Close()
		closeFD(cr.pidfd)
		return
	}
	// The connection stays incomplete until its Hello; past auth_timeout without one, it is
	// closed.
	late := time.AfterFunc(time.Until(helloBy), func() {
		b.log.Info("disconnecting peer: no Hello within auth_timeout", "peer", p.name(), "auth_timeout", b.limits.AuthTimeout)
		p.t.Close()
	})
	b.readLoop(p, func() {
		late.Stop()
		b.adm.complete(tk)
	})
	late.Stop()
}

// serveNative runs the native handshake on one connection and routes its messages until it
// goes away.
func (b *Broker) serveNative(sock *net.UnixConn, tk *ticket) {
	cr, err := peerCreds(sock)
	if err != nil {
		b.log.Warn("cannot read peer credentials; dropping connection", "err", err)
		sock.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.limits.AuthTimeout)
	bc, err := native.Accept(ctx, sock, native.BusOptions{GUID: b.guid, Bloom: b.bloom, MaxMessageSize: b.limits.MaxMessageSize})
	cancel()
	if err != nil {
		b.log.Info("native handshake failed", "uid", cr.uid, "pid", cr.pid, "err", err)
		sock.Close()
		return
	}
	cr.pidfd = peerPidfd(sock)
	b.adm.complete(tk)
	p, err := b.addPeer(nativeTransport{bc}, cr, bc.AcceptsFDs())
	if err != nil {
		b.log.Warn("connection refused", "uid", cr.uid, "pid", cr.pid, "err", err)
		bc.Refuse(errLimitsExceeded, err.Error())
		closeFD(cr.pidfd)
		return
	}
	p.nat = bc
	// The welcome is the native Hello: the peer gets its unique name at once.
	b.mu.Lock()
	p.unique = fmt.Sprintf(":1.%d", p.id)
	b.peers[p.unique] = p
	bc.SetBusState(b.lanes.nameGen, b.watched())
	err = bc.Welcome(p.id, p.unique)
	if err == nil {
		b.afterHello(p)
	}
	b.unlock()
	if err != nil {
		b.log.Info("native handshake failed", "peer", p.name(), "err", err)
		b.removePeer(p)
		return
	}
	b.nativeReadLoop(p)
}
