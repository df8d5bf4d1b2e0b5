package native

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// This file is a connection's side of its lanes: which message takes which way, asking the
// bus for lanes, and the reader that merges the bus and every lane in order (see lane.go for
// the lane itself and the ordering rules).

const busName = "org.freedesktop.DBus"

// maxAsked bounds the destinations a connection remembers asking a lane for.
const maxAsked = 4096

// ctrl reads a word of the pool's control area.
func (c *Conn) ctrl(off int) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.poolMem[off])))
}

// laneFor returns the lane m should take, or nil for the bus. A reply takes the lane its call
// came over; while anything watches unicasts it goes through the bus, marked so that the
// bus, which never saw the call, lets it through.
func (c *Conn) laneFor(m *wire.Message, h *sendHeader) *lane {
	if !c.lanesOn || m.Destination == "" || m.Destination == busName {
		return nil
	}
	c.lmu.RLock()
	var ln *lane
	if len(c.lanes) > 0 {
		if m.Destination[0] == ':' {
			ln = c.byUnique[m.Destination]
		} else if nl, ok := c.names[m.Destination]; ok && nl.gen == c.ctrl(ctrlNameGen) {
			ln = nl.ln
		}
	}
	c.lmu.RUnlock()
	if ln == nil {
		return nil
	}
	watched := c.ctrl(ctrlWatched) != 0
	if m.Type == wire.MethodReturn || m.Type == wire.Error {
		if !ln.takeOwed(m.ReplySerial) {
			return nil
		}
		if watched || ln.broken.Load() {
			h.flags |= sendLaneReply
			return nil
		}
		return ln
	}
	if watched || ln.broken.Load() {
		return nil
	}
	return ln
}

// wantLane reports whether sending m through the bus should come with a request for a lane
// to its destination: a call to a destination not asked about since its name last changed
// hands.
func (c *Conn) wantLane(m *wire.Message) bool {
	d := m.Destination
	if !c.lanesOn || m.Type != wire.MethodCall || d == "" || d == busName || d == c.unique {
		return false
	}
	gen := c.ctrl(ctrlNameGen)
	c.lmu.RLock()
	g, ok := c.asked[d]
	c.lmu.RUnlock()
	if ok && (d[0] == ':' || g == gen) {
		return false
	}
	c.lmu.Lock()
	defer c.lmu.Unlock()
	if g, ok := c.asked[d]; ok && (d[0] == ':' || g == gen) {
		return false
	}
	if len(c.asked) >= maxAsked {
		clear(c.asked)
	}
	c.asked[d] = gen
	return true
}

// requestLane asks the bus for a lane to name. It takes the send turn's cookie; wsem is held.
// A request that cannot be written is forgotten: the next name change asks again.
func (c *Conn) requestLane(ctx context.Context, name string) {
	c.cookie++
	cookie := c.cookie
	c.lmu.Lock()
	c.laneReqs[cookie] = name
	c.lmu.Unlock()
	if err := c.write(ctx, appendLaneRequest(c.wbuf[:0], cookie, name), nil); err != nil {
		c.lmu.Lock()
		delete(c.laneReqs, cookie)
		c.lmu.Unlock()
	}
}

// laneAnswered reports whether cookie is a lane request's, which a failure ack answered: the
// destination is not asked about again until its name changes hands. It runs on the reader.
func (c *Conn) laneAnswered(cookie uint64) bool {
	c.lmu.Lock()
	_, ok := c.laneReqs[cookie]
	delete(c.laneReqs, cookie)
	c.lmu.Unlock()
	return ok
}

// laneOpened takes the bus's laneopen: a new lane (fd), or only the owner of a name the
// request gave. A lane this connection cannot set up is dropped; its peer sees it hang up.
// It runs on the reader.
func (c *Conn) laneOpened(o laneOpen, fd int) {
	c.lmu.Lock()
	delete(c.laneReqs, o.cookie)
	c.lmu.Unlock()
	var ln *lane
	if fd >= 0 {
		if !c.lanesOn {
			unix.Close(fd)
			return
		}
		var err error
		if ln, err = c.openLane(o, fd); err != nil {
			return
		}
		c.lmu.Lock()
		if old := c.lanes[o.peer]; old != nil {
			c.lmu.Unlock()
			c.dropLane(old)
			c.lmu.Lock()
		}
		c.lanes[o.peer], c.byUnique[o.unique], c.byFD[ln.fd] = ln, ln, ln
		c.lmu.Unlock()
	} else if ln = c.lanes[o.peer]; ln == nil {
		return
	}
	if o.name != "" && !strings.HasPrefix(o.name, ":") {
		c.lmu.Lock()
		c.names[o.name] = nameLane{ln: ln, gen: o.nameGen}
		c.lmu.Unlock()
	}
}

// watch adds fd to the reader's epoll set, making the set with the first lane. The set's own
// descriptor waits in Go's poller, so the reader sleeps there as it does on the bus socket.
func (c *Conn) watch(fd int) error {
	if c.ep.Load() == nil {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return os.NewSyscallError("epoll_create1", err)
		}
		if err := unix.SetNonblock(epfd, true); err != nil {
			unix.Close(epfd)
			return os.NewSyscallError("fcntl", err)
		}
		c.raw.Control(func(s uintptr) { c.busFD = int(s) })
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.busFD)}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, c.busFD, &ev); err != nil {
			unix.Close(epfd)
			return os.NewSyscallError("epoll_ctl", err)
		}
		f := os.NewFile(uintptr(epfd), "kdbus-epoll")
		raw, err := f.SyscallConn()
		if err != nil {
			f.Close()
			return err
		}
		c.epRaw, c.events = raw, make([]unix.EpollEvent, 64)
		c.ep.Store(f)
		if c.closed.Load() {
			f.Close()
		}
	}
	var err error
	c.epRaw.Control(func(epfd uintptr) {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		err = unix.EpollCtl(int(epfd), unix.EPOLL_CTL_ADD, fd, &ev)
	})
	return os.NewSyscallError("epoll_ctl", err)
}

// poll waits until the bus or a lane has something and reads it. Messages a lane held back
// for the bus come first: their lane may have nothing more to wake the reader with.
func (c *Conn) poll() error {
	if len(c.stashed) > 0 {
		stashed := c.stashed
		c.stashed = nil
		for _, ln := range stashed {
			if ln.stash != nil && c.lanes[ln.peer] == ln {
				if err := c.serviceLane(ln); err != nil {
					return err
				}
			}
		}
		if len(c.queue) > 0 {
			return nil
		}
	}
	var n int
	err := c.epRaw.Read(func(epfd uintptr) bool {
		var werr error
		n, werr = unix.EpollWait(int(epfd), c.events, 0)
		return n > 0 || werr != nil && werr != unix.EINTR
	})
	if err != nil {
		if c.closed.Load() {
			c.dropLanes()
			return c.fail("", ErrClosed)
		}
		return c.fail("waiting for the bus and lanes", err)
	}
	for _, ev := range c.events[:max(n, 0)] {
		if int(ev.Fd) == c.busFD {
			if err := c.readPacket(false); err != nil {
				return err
			}
			continue
		}
		if ln := c.byFD[int(ev.Fd)]; ln != nil {
			if err := c.serviceLane(ln); err != nil {
				return err
			}
		}
	}
	return nil
}

// serviceLane delivers what a lane has, in order with the bus: a message whose sender sent
// something through the bus since its last one on the lane waits until the reader has taken
// everything the bus had queued for this connection.
func (c *Conn) serviceLane(ln *lane) error {
	for range 64 {
		r := ln.stash
		ln.stash = nil
		if r == nil {
			var more bool
			var err error
			r, more, err = ln.read()
			if err != nil {
				c.dropLane(ln)
				return nil
			}
			if r == nil {
				if more {
					continue
				}
				return nil
			}
		}
		if r.busSends != ln.lastB {
			ln.stash = r
			for q := c.ctrl(ctrlQueued); c.consumed < q; {
				if err := c.readPacket(true); err != nil {
					return err
				}
			}
			if ln.stash != r {
				continue // delivered while the bus was read
			}
			ln.stash = nil
			ln.lastB = r.busSends
		}
		c.queue = append(c.queue, *r)
	}
	return nil
}

// beforeBusMessage delivers, ahead of a bus message from a lane's peer, the lane messages the
// peer sent before it: they are in the lane's socket already. It runs on the reader.
func (c *Conn) beforeBusMessage(r *Received) {
	ln := c.lanes[r.Record.Sender]
	if ln == nil {
		return
	}
	if t := r.Msg.Type; t == wire.MethodReturn || t == wire.Error {
		ln.pmu.Lock()
		delete(ln.awaiting, r.Msg.ReplySerial)
		ln.pmu.Unlock()
	}
	seq := r.Record.SendSeq
	for {
		if s := ln.stash; s != nil {
			if s.Record.SendSeq > seq {
				return
			}
			c.queue = append(c.queue, *s)
			ln.lastB = s.busSends
			ln.stash = nil
		}
		next, more, err := ln.read()
		if err != nil {
			c.dropLane(ln)
			return
		}
		if next == nil {
			if more {
				continue
			}
			return
		}
		ln.stash = next
		// Its socket may have nothing more to say: the reader must come back for it.
		c.stashed = append(c.stashed, ln)
	}
}

// dropLane forgets a broken lane: what it held is delivered, its calls awaiting replies fail
// with NoReply, and its resources go. It runs on the reader.
func (c *Conn) dropLane(ln *lane) {
	c.lmu.Lock()
	if c.lanes[ln.peer] != ln {
		c.lmu.Unlock()
		return
	}
	delete(c.lanes, ln.peer)
	delete(c.byUnique, ln.unique)
	delete(c.byFD, ln.fd)
	for name, nl := range c.names {
		if nl.ln == ln {
			delete(c.names, name)
		}
	}
	c.lmu.Unlock()
	ln.fail()
	if c.epRaw != nil {
		c.epRaw.Control(func(epfd uintptr) {
			unix.EpollCtl(int(epfd), unix.EPOLL_CTL_DEL, ln.fd, nil)
		})
	}
	if ln.stash != nil {
		c.queue = append(c.queue, *ln.stash)
		ln.stash = nil
	}
	c.queue = append(c.queue, ln.noReplies(c.unique)...)
	ln.close()
}

// breakLanes marks every lane broken, for Close: senders stop using them and the peers see
// them hang up. The reader releases them (dropLanes).
func (c *Conn) breakLanes() {
	c.lmu.RLock()
	for _, ln := range c.lanes {
		ln.fail()
	}
	c.lmu.RUnlock()
}

// dropLanes drops every lane once the connection is closed. It runs on the reader.
func (c *Conn) dropLanes() {
	for _, ln := range c.lanes {
		c.dropLane(ln)
	}
}

// waitRouted waits until the bus has finished routing the send with the given cookie.
func (c *Conn) waitRouted(ctx context.Context, cookie uint64) error {
	for i := 0; c.ctrl(ctrlConsumed) < cookie; i++ {
		if err := c.writeErr(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if i < 50 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
	return nil
}
