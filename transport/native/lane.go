package native

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// Lanes. When a connection first calls a peer, it asks the bus for a lane to it (a lane
// packet naming the destination). If both ends are native and the bus's policy lets every
// message through between them, the bus makes a SOCK_SEQPACKET socketpair and gives each end
// its side (laneopen). From then on their unicasts (calls, replies, errors, unicast signals)
// go straight to each other: one wake-up per message and no bus in between. Broadcasts still
// go through the bus and its bloom filters, and so does everything while a monitor or an
// eavesdropper watches (the pool's watched word), so that they see every message.
//
// Each end has a ring: a memfd it writes and its peer maps read-only (sealed against growing,
// shrinking and new writable mappings). A sender copies a message's body into its ring and
// sends a packet with the header and the body's place in the ring; the receiver copies the
// body out into memory of its own, and checks and decodes that copy, never bytes the sender
// can still change. The ring bounds what a sender may have in flight: a sender whose ring (or
// lane socket) is full waits for its receiver, and once the receiver has made no room for
// laneHold its messages go through the bus, whose quotas then apply, until the receiver
// makes progress. Bodies larger than half the ring travel as sealed memfds,
// which are mapped, never copied. The kernel attaches the sender's credentials to every
// packet (SCM_CREDENTIALS), so they cannot be forged.
//
// Lane packets, in the host's byte order:
//
//	hello   op u32, version u32, ringSize u64                   fds: [ring memfd]
//	msg     op u32, flags u32, seq u64, busSends u64, off u64, bodyLen u64, payloads u64,
//	        deadline u64, hdrLen u32, 0 u32, header [hdrLen]    fds: the message's (+ body memfd)
//	credit  op u32, 0 u32
//
// The first page of a ring memfd belongs to its owner's notes to the peer:
//
//	0 consumed u64  how far the owner has copied out of the peer's ring
//	8 waiting  u64  non-zero while the owner waits for room in its own ring: the peer sends a
//	                credit packet once it has made some
//
// Order. A sender's messages to one receiver may travel two ways, over the lane and through
// the bus, and the receiver must see them in the order sent. Every message carries the
// sender's count of its sends (seq; the bus copies it into the record). A lane message also
// carries busSends, the cookie of the sender's last send through the bus, and the sender
// sends it only once the bus has finished routing that send (the pool's consumed word). So:
//
//   - a lane message whose busSends is new to its receiver may have been preceded by a bus
//     message the bus has already queued for it: the receiver reads from the bus until it has
//     read everything the bus had queued for it (the pool's queued word) before delivering
//     the lane message;
//   - a bus message from a peer may have been preceded by lane messages, which are then
//     already in the lane's socket (the sender wrote them before it sent the bus message):
//     the receiver reads the lane, without waiting, and delivers what has a lower seq first.
//
// One goroutine (Recv's) reads the bus socket and every lane, so these rules cost no locks.
//
// A call's deadline travels in its msg packet as CLOCK_MONOTONIC nanoseconds (0: none), as the
// caller computed it; the receiver puts it in the record of a method call and drops it from
// anything else. It is the caller's word, as Record.Deadline says.
const (
	laneHelloOp  uint32 = 1
	laneMsgOp    uint32 = 2
	laneCreditOp uint32 = 3

	laneVersion = 2
	// laneInFD says the body is the whole of the packet's last descriptor, a sealed memfd.
	laneInFD uint32 = 1 << 0

	laneMsgFixed = 4 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 4 + 4
	laneHelloLen = 4 + 4 + 8
	laneNotes    = 4096
	// DefaultLaneRing is the size of a lane's ring. Its pages cost memory only once a body
	// has passed through them.
	DefaultLaneRing = 4 << 20
	maxLaneRing     = 64 << 20
	// maxLanePending bounds the calls one lane tracks in each direction, those awaiting a
	// reply and those owed one; past it, calls go through the bus.
	maxLanePending = 1 << 16
	// laneHold is how long a sender waits for a receiver that makes no room in its ring
	// before its messages go through the bus instead, as long as the bus holds a sender
	// back for a receiver whose pool is full.
	laneHold = 100 * time.Millisecond
	// maxLaneHeader bounds a message header on a lane.
	maxLaneHeader = 32 << 10
)

// errLaneFull says a lane's receiver makes no room: the message goes through the bus.
var errLaneFull = errors.New("native: the lane's receiver makes no room")

// laneMsg is a decoded msg packet.
type laneMsg struct {
	flags    uint32
	seq      uint64
	busSends uint64
	off      uint64
	bodyLen  uint64
	payloads uint64
	// deadline is a call's deadline in CLOCK_MONOTONIC nanoseconds; 0: none.
	deadline uint64
	hdr      []byte
}

func appendLaneMsg(b []byte, m *laneMsg) []byte {
	b = ne.AppendUint32(b, laneMsgOp)
	b = ne.AppendUint32(b, m.flags)
	b = ne.AppendUint64(b, m.seq)
	b = ne.AppendUint64(b, m.busSends)
	b = ne.AppendUint64(b, m.off)
	b = ne.AppendUint64(b, m.bodyLen)
	b = ne.AppendUint64(b, m.payloads)
	b = ne.AppendUint64(b, m.deadline)
	b = ne.AppendUint32(b, uint32(len(m.hdr)))
	b = ne.AppendUint32(b, 0)
	return append(b, m.hdr...)
}

func parseLaneMsg(b []byte) (laneMsg, error) {
	if len(b) < laneMsgFixed || ne.Uint32(b) != laneMsgOp {
		return laneMsg{}, malformed("lane message of %d bytes", len(b))
	}
	m := laneMsg{flags: ne.Uint32(b[4:]), seq: ne.Uint64(b[8:]), busSends: ne.Uint64(b[16:]), off: ne.Uint64(b[24:]),
		bodyLen: ne.Uint64(b[32:]), payloads: ne.Uint64(b[40:]), deadline: ne.Uint64(b[48:])}
	n := int(ne.Uint32(b[56:]))
	if n != len(b)-laneMsgFixed || n > maxLaneHeader {
		return laneMsg{}, malformed("lane message header of %d bytes in a %d-byte packet", n, len(b))
	}
	m.hdr = b[laneMsgFixed:]
	return m, nil
}

func appendLaneHello(b []byte, ringSize int) []byte {
	b = ne.AppendUint32(b, laneHelloOp)
	b = ne.AppendUint32(b, laneVersion)
	return ne.AppendUint64(b, uint64(ringSize))
}

func parseLaneHello(b []byte) (int, error) {
	if len(b) != laneHelloLen || ne.Uint32(b) != laneHelloOp {
		return 0, malformed("lane hello of %d bytes", len(b))
	}
	if v := ne.Uint32(b[4:]); v != laneVersion {
		return 0, malformed("lane version %d, want %d", v, laneVersion)
	}
	size := ne.Uint64(b[8:])
	if size == 0 || size > maxLaneRing || size%uint64(os.Getpagesize()) != 0 {
		return 0, malformed("lane ring of %d bytes", size)
	}
	return int(size), nil
}

// lane is one end of a lane.
type lane struct {
	c      *Conn
	peer   uint64 // the other end's connection id
	unique string // and its unique name
	sock   *net.UnixConn
	raw    syscall.RawConn
	fd     int // the socket's descriptor, for the reader's epoll set

	// Send side, guarded by holding sem.
	sem  chan struct{}
	mem  []byte // this end's ring memfd: notes, then the ring; peer maps it read-only
	ring []byte
	head uint64 // where the next body goes, counting from the ring's creation
	// congested says the peer stopped copying out at congestedAt: until it moves on,
	// bodies go through the bus.
	congested   bool
	congestedAt uint64
	wbuf        []byte
	hbuf        []byte
	credit      chan struct{} // the reader signals a credit packet

	// peerNotes are the notes of the peer's ring memfd, which the reader maps when the
	// peer's hello arrives; senders read how far the peer has consumed from them.
	peerNotes atomic.Pointer[[]byte]

	// Receive side, owned by the reader.
	peerMem  []byte // the peer's ring memfd, read-only; nil until its hello
	peerRing []byte
	cursor   uint64 // how far this end has copied out of the peer's ring
	lastB    uint64 // the busSends of the last message delivered
	stash    *Received
	rbuf     []byte
	oob      []byte

	// Calls in flight over the lane, guarded by pmu: awaiting, those this end made (they
	// fail when the lane breaks); owed, those it must answer over the lane.
	pmu      sync.Mutex
	awaiting map[uint32]struct{}
	owed     map[uint32]struct{}

	broken atomic.Bool
	once   sync.Once
}

// notes are the first words of a ring memfd.
func notes(mem []byte, i int) *uint64 { return (*uint64)(unsafe.Pointer(&mem[8*i])) }

// openLane sets up this end of a lane the bus opened: its ring, its hello, and its place in
// the reader's epoll set. It runs on the reader.
func (c *Conn) openLane(o laneOpen, fd int) (*lane, error) {
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		return nil, fmt.Errorf("native: lane: %w", err)
	}
	ringFD, mem, err := newRing(c.ringSize)
	if err != nil {
		return nil, err
	}
	defer unix.Close(ringFD)
	f := os.NewFile(uintptr(fd), "kdbus-lane")
	fc, err := net.FileConn(f)
	f.Close() // FileConn holds a duplicate
	ok = true
	if err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("native: lane: %w", err)
	}
	sock := fc.(*net.UnixConn)
	raw, _ := sock.SyscallConn()
	ln := &lane{
		c: c, peer: o.peer, unique: o.unique, sock: sock, raw: raw,
		sem: make(chan struct{}, 1), mem: mem, ring: mem[laneNotes:], credit: make(chan struct{}, 1),
		rbuf:     make([]byte, laneMsgFixed+maxLaneHeader),
		oob:      make([]byte, unix.CmsgSpace(4*maxPacketFDs)+unix.CmsgSpace(unix.SizeofUcred)),
		awaiting: make(map[uint32]struct{}), owed: make(map[uint32]struct{}),
	}
	raw.Control(func(s uintptr) { ln.fd = int(s) })
	if _, _, err := sock.WriteMsgUnix(appendLaneHello(nil, len(ln.ring)), unix.UnixRights(ringFD), nil); err != nil {
		ln.close()
		return nil, fmt.Errorf("native: lane hello: %w", err)
	}
	if err := c.watch(ln.fd); err != nil {
		ln.close()
		return nil, err
	}
	return ln, nil
}

// newRing creates a ring memfd: mapped writable here, then sealed so that nobody can map it
// writable again, grow it or shrink it.
func newRing(size int) (int, []byte, error) {
	fd, err := unix.MemfdCreate("kdbus-lane", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, nil, fmt.Errorf("native: creating a lane ring: %w", err)
	}
	total := laneNotes + size
	if err := unix.Ftruncate(fd, int64(total)); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("native: sizing a lane ring: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, total, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("native: mapping a lane ring: %w", err)
	}
	seals := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_FUTURE_WRITE | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		unix.Munmap(mem)
		unix.Close(fd)
		return -1, nil, fmt.Errorf("native: sealing a lane ring: %w", err)
	}
	return fd, mem, nil
}

// mapPeerRing maps the peer's ring read-only, once its seals show that it cannot shrink
// under the mapping (which would fault the reader) nor be written but by its owner.
func mapPeerRing(fd, size int) ([]byte, error) {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return nil, fmt.Errorf("native: the peer's lane ring: %w", err)
	}
	want := unix.F_SEAL_SHRINK | unix.F_SEAL_GROW
	if seals&want != want {
		return nil, fmt.Errorf("native: the peer's lane ring is not sealed against resizing (seals %#x)", seals)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("native: the peer's lane ring: %w", err)
	}
	if st.Size != int64(laneNotes+size) {
		return nil, fmt.Errorf("native: the peer's lane ring holds %d bytes, its hello says %d", st.Size, laneNotes+size)
	}
	return unix.Mmap(fd, 0, laneNotes+size, unix.PROT_READ, unix.MAP_SHARED)
}

// send sends m over the lane, with deadline (zero: none) as m's deadline. It waits for room
// in the ring as long as ctx lasts; it reports false, sending nothing, when the lane cannot
// carry m (it broke), so that m goes through the bus instead.
func (ln *lane) send(ctx context.Context, m *wire.Message, fds []int, payloads uint64, deadline time.Time) (bool, error) {
	select {
	case ln.sem <- struct{}{}:
	case <-ctx.Done():
		return true, ctx.Err()
	}
	defer func() { <-ln.sem }()
	if ln.broken.Load() {
		return false, nil
	}
	if ln.congested {
		if ln.peerConsumed() == ln.congestedAt {
			return false, nil
		}
		ln.congested = false
	}
	c := ln.c
	// Whatever this connection sent through the bus before must be routed before the lane
	// message goes: its receiver then finds it queued when it sees busSends.
	busSends := c.busSends.Load()
	if err := c.waitRouted(ctx, busSends); err != nil {
		return true, err
	}
	hdr, err := m.AppendHeader(ln.hbuf[:0], len(m.Body))
	if err != nil {
		return true, fmt.Errorf("native: encoding %s: %w", m, err)
	}
	ln.hbuf = hdr[:0]
	if len(hdr) > maxLaneHeader {
		return false, nil
	}
	lm := laneMsg{busSends: busSends, bodyLen: uint64(len(m.Body)), payloads: payloads, deadline: monotonicAt(deadline), hdr: hdr}
	var bodyFD = -1
	switch {
	case len(m.Body) > len(ln.ring)/2:
		if bodyFD, err = messageMemfd(nil, m.Body); err != nil {
			return true, err
		}
		defer unix.Close(bodyFD)
		lm.flags |= laneInFD
	case len(m.Body) > 0:
		off, err := ln.reserve(ctx, len(m.Body))
		if err == errLaneFull {
			return false, nil
		}
		if err != nil {
			return true, err
		}
		p := int(off % uint64(len(ln.ring)))
		copy(ln.ring[p:], m.Body)
		countCopy()
		lm.off = off
	}
	if len(fds)+1 > maxPacketFDs {
		return true, fmt.Errorf("native: %d descriptors in one message, the limit is %d", len(fds), maxPacketFDs-1)
	}
	var oob []byte
	if bodyFD >= 0 {
		oob = unix.UnixRights(append(fds[:len(fds):len(fds)], bodyFD)...)
	} else if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	expects := m.Type == wire.MethodCall && m.Flags&wire.FlagNoReplyExpected == 0
	if expects {
		ln.pmu.Lock()
		full := len(ln.awaiting) >= maxLanePending
		if !full {
			ln.awaiting[m.Serial] = struct{}{}
		}
		ln.pmu.Unlock()
		if full {
			return false, nil
		}
	}
	lm.seq = c.sendSeq.Add(1)
	ln.wbuf = appendLaneMsg(ln.wbuf[:0], &lm)
	if err := ln.write(ctx, ln.wbuf, oob); err != nil {
		if expects {
			ln.pmu.Lock()
			delete(ln.awaiting, m.Serial)
			ln.pmu.Unlock()
		}
		if ctx.Err() != nil {
			return true, ctx.Err()
		}
		if err != errLaneFull {
			ln.fail()
		}
		return false, nil
	}
	if lm.flags&laneInFD == 0 && lm.bodyLen > 0 {
		ln.head = lm.off + lm.bodyLen
	}
	return true, nil
}

// reserve finds n contiguous bytes in the ring, waiting for the peer to copy earlier bodies
// out if it must. It returns their offset counted from the ring's creation; a body never
// wraps around the ring's end, it starts again at the beginning instead.
func (ln *lane) reserve(ctx context.Context, n int) (uint64, error) {
	size := uint64(len(ln.ring))
	var held time.Time
	for {
		off := ln.head
		if p := off % size; p+uint64(n) > size {
			off += size - p // skip the tail
		}
		consumed := ln.peerConsumed()
		if off+uint64(n)-consumed <= size {
			return off, nil
		}
		if ln.broken.Load() {
			return 0, errLaneFull
		}
		// A receiver that copies nothing out for laneHold is not reading: the message goes
		// through the bus, whose quotas refuse what its pool cannot take, and so do the next
		// ones until the receiver makes progress.
		if held.IsZero() {
			held = time.Now()
		} else if time.Since(held) >= laneHold {
			ln.congested, ln.congestedAt = true, consumed
			return 0, errLaneFull
		}
		// Ask the peer for a credit packet, look again (it may have made room meanwhile),
		// then wait for the credit, a broken lane, or ctx.
		atomic.StoreUint64(notes(ln.mem, 1), 1)
		if ln.peerConsumed() != consumed {
			continue
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ln.credit:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			atomic.StoreUint64(notes(ln.mem, 1), 0)
			return 0, ctx.Err()
		}
		t.Stop()
		atomic.StoreUint64(notes(ln.mem, 1), 0)
	}
}

// peerConsumed is how far the peer has copied out of this end's ring, as it says in its own
// notes. A value that could not be true breaks the lane.
func (ln *lane) peerConsumed() uint64 {
	pn := ln.peerNotes.Load()
	if pn == nil {
		return 0 // the peer's hello is still to be read: nothing consumed that we know of
	}
	v := atomic.LoadUint64(notes(*pn, 0))
	if v > ln.head {
		ln.fail()
		return ln.head
	}
	return v
}

// write sends one lane packet. When the socket is full it waits for room as long as ctx
// lasts, but no longer than laneHold: then the receiver counts as congested (errLaneFull).
func (ln *lane) write(ctx context.Context, pkt, oob []byte) error {
	var serr error
	err := ln.raw.Control(func(fd uintptr) {
		serr = unix.Sendmsg(int(fd), pkt, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	})
	if err != nil {
		return err
	}
	if serr != unix.EAGAIN {
		return serr
	}
	hold := time.Now().Add(laneHold)
	if dl, ok := ctx.Deadline(); ok && dl.Before(hold) {
		hold = dl
	}
	ln.sock.SetWriteDeadline(hold)
	defer ln.sock.SetWriteDeadline(time.Time{})
	_, _, err = ln.sock.WriteMsgUnix(pkt, oob, nil)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ln.congested, ln.congestedAt = true, ln.peerConsumed()
		return errLaneFull
	}
	return err
}

// fail marks the lane broken; the reader finds it hung up and cleans up.
func (ln *lane) fail() {
	if ln.broken.CompareAndSwap(false, true) {
		ln.sock.CloseWrite()
		select {
		case ln.credit <- struct{}{}:
		default:
		}
	}
}

// close releases the lane's resources. The reader calls it once the lane is out of its maps.
func (ln *lane) close() {
	ln.broken.Store(true)
	ln.once.Do(func() {
		ln.sock.Close()
		if ln.stash != nil {
			closeFDs(ln.stash.FDs)
			ln.c.Release(ln.stash)
			ln.stash = nil
		}
		// A sender may still be copying into the ring or reading the peer's notes: the
		// memory goes once it has its turn. The reader does not wait for that: a sender
		// can be waiting for the bus, and the bus for the reader.
		unmap := func() {
			unix.Munmap(ln.mem)
			if ln.peerMem != nil {
				ln.peerNotes.Store(nil)
				unix.Munmap(ln.peerMem)
			}
		}
		select {
		case ln.sem <- struct{}{}:
			unmap()
		default:
			go func() {
				ln.sem <- struct{}{}
				unmap()
			}()
		}
	})
}

// read reads one packet from the lane without waiting. It returns the message it carried,
// nil when there was none or it was a hello or a credit, and an error when the lane broke.
func (ln *lane) read() (r *Received, more bool, err error) {
	var n, oobn, flags int
	var rerr error
	err = ln.raw.Read(func(fd uintptr) bool {
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), ln.rbuf, ln.oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		return true
	})
	if err == nil {
		err = rerr
	}
	if err == unix.EAGAIN || err == unix.EINTR {
		return nil, false, nil
	}
	var fds []int
	var cr Creds
	if oobn > 0 {
		var perr error
		fds, cr, perr = parseControl(ln.oob[:oobn])
		if perr != nil && err == nil {
			err = perr
		}
	}
	if err == nil && n == 0 {
		err = ErrHangup
	}
	if err == nil && flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		err = errors.New("a lane packet or its descriptors were truncated")
	}
	if err != nil {
		closeFDs(fds)
		return nil, false, err
	}
	pkt := ln.rbuf[:n]
	switch opOf(pkt) {
	case laneHelloOp:
		if ln.peerMem != nil || len(fds) != 1 {
			closeFDs(fds)
			return nil, false, malformed("a lane hello with %d descriptors", len(fds))
		}
		size, err := parseLaneHello(pkt)
		if err == nil {
			ln.peerMem, err = mapPeerRing(fds[0], size)
		}
		unix.Close(fds[0])
		if err != nil {
			return nil, false, err
		}
		ln.peerRing = ln.peerMem[laneNotes:]
		pn := ln.peerMem[:laneNotes:laneNotes]
		ln.peerNotes.Store(&pn)
		return nil, true, nil
	case laneCreditOp:
		closeFDs(fds)
		select {
		case ln.credit <- struct{}{}:
		default:
		}
		return nil, true, nil
	case laneMsgOp:
		r, err := ln.decode(pkt, fds, cr)
		return r, true, err
	}
	closeFDs(fds)
	return nil, false, malformed("unknown lane op %d", opOf(pkt))
}

// decode turns a msg packet into a received message: the body copied out of the peer's ring
// (or mapped from its sealed memfd), then checked.
func (ln *lane) decode(pkt []byte, fds []int, cr Creds) (*Received, error) {
	lm, err := parseLaneMsg(pkt)
	fail := func(err error) (*Received, error) {
		closeFDs(fds)
		return nil, err
	}
	if err != nil {
		return fail(err)
	}
	if ln.peerMem == nil {
		return fail(malformed("a lane message before the lane's hello"))
	}
	r := &Received{lane: true}
	m := new(wire.Message)
	// The header aliases the packet buffer, which the next read reuses: decoding copies
	// what the message keeps.
	bodyLen, err := m.DecodeHeader(lm.hdr)
	if err != nil {
		return fail(fmt.Errorf("native: invalid message header on a lane: %w", err))
	}
	if uint64(bodyLen) != lm.bodyLen {
		return fail(fmt.Errorf("native: a lane message's header announces %d bytes of body, the packet %d", bodyLen, lm.bodyLen))
	}
	switch {
	case lm.flags&laneInFD != 0:
		if len(fds) == 0 {
			return fail(malformed("a lane message's body memfd is missing"))
		}
		fd := fds[len(fds)-1]
		fds = fds[:len(fds)-1]
		size, err := memfd.Verify(fd)
		if err == nil && uint64(size) != lm.bodyLen {
			err = fmt.Errorf("the body memfd holds %d bytes, the message %d", size, lm.bodyLen)
		}
		var mem []byte
		if err == nil && size > 0 {
			mem, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE)
		}
		unix.Close(fd)
		if err != nil {
			return fail(fmt.Errorf("native: a lane message's body: %w", err))
		}
		m.Body, r.unmap = mem, mem
	case lm.bodyLen > 0:
		size := uint64(len(ln.peerRing))
		off, n := lm.off, lm.bodyLen
		p := off % size
		// Bodies come in order, each where the last ended or at the start of the ring.
		if !(off == ln.cursor || off > ln.cursor && p == 0 && off-ln.cursor < size) || n > size-p {
			return fail(malformed("a lane body at %d+%d, expected at %d in a ring of %d", off, n, ln.cursor, size))
		}
		body := wire.GetBuffer(int(n))
		r.buf = body
		copy(*body, ln.peerRing[p:p+n])
		countCopy()
		m.Body = *body
		ln.cursor = off + n
		atomic.StoreUint64(notes(ln.mem, 0), ln.cursor)
		if atomic.LoadUint64(notes(ln.peerMem, 1)) != 0 {
			ln.sendCredit()
		}
	}
	release := func(err error) (*Received, error) {
		if r.unmap != nil {
			unix.Munmap(r.unmap)
		}
		wire.PutBuffer(r.buf)
		return fail(err)
	}
	if int(m.UnixFDs) != len(fds) {
		return release(fmt.Errorf("native: lane message %s declares %d descriptors, %d arrived", m, m.UnixFDs, len(fds)))
	}
	for i, fd := range fds {
		if i < 64 && lm.payloads&(1<<i) != 0 {
			if _, err := memfd.Verify(fd); err != nil {
				return release(fmt.Errorf("native: descriptor %d of a lane message is marked as a memfd payload but is refused: %w", i, err))
			}
		}
	}
	if err := wire.ValidateBody(m.Body, m.Order, m.Signature, int(m.UnixFDs)); err != nil {
		return release(fmt.Errorf("native: invalid message body on a lane: %w", err))
	}
	// The lane vouches for who sent it, whatever the header says.
	m.Sender = ln.unique
	r.Msg, r.FDs = m, fds
	r.Record = Record{Sender: ln.peer, Timestamp: monotonicNow(), SendSeq: lm.seq, Lane: true,
		UID: cr.UID, GID: cr.GID, PID: cr.PID, HasCreds: cr.Valid}
	r.busSends = lm.busSends
	switch m.Type {
	case wire.MethodCall:
		r.Record.Deadline = lm.deadline
		if m.Flags&wire.FlagNoReplyExpected == 0 {
			ln.pmu.Lock()
			if len(ln.owed) < maxLanePending {
				ln.owed[m.Serial] = struct{}{}
			}
			ln.pmu.Unlock()
		}
	case wire.MethodReturn, wire.Error:
		ln.pmu.Lock()
		delete(ln.awaiting, m.ReplySerial)
		ln.pmu.Unlock()
	}
	ln.c.received.Add(1)
	return r, nil
}

// sendCredit tells the peer that this end made room in its ring. It never waits: a peer that
// does not read its lane finds the room when it next looks at the notes.
func (ln *lane) sendCredit() {
	var b [8]byte
	ne.PutUint32(b[:], laneCreditOp)
	ln.raw.Control(func(fd uintptr) {
		unix.Sendmsg(int(fd), b[:], nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	})
}

// takeOwed reports whether serial is a call that came over the lane, forgetting it.
func (ln *lane) takeOwed(serial uint32) bool {
	ln.pmu.Lock()
	_, ok := ln.owed[serial]
	if ok {
		delete(ln.owed, serial)
	}
	ln.pmu.Unlock()
	return ok
}

// noReplies returns NoReply errors for the calls this end made over the lane that are still
// waiting, as a bus does for a peer that went away.
func (ln *lane) noReplies(dest string) []Received {
	ln.pmu.Lock()
	serials := make([]uint32, 0, len(ln.awaiting))
	for s := range ln.awaiting {
		serials = append(serials, s)
	}
	ln.awaiting = map[uint32]struct{}{}
	ln.pmu.Unlock()
	out := make([]Received, 0, len(serials))
	for _, s := range serials {
		body, _ := wire.Marshal(wire.NativeOrder, "s", fmt.Sprintf("%s went away before it replied", ln.unique))
		m := &wire.Message{Order: wire.NativeOrder, Type: wire.Error, ReplySerial: s, Sender: ln.unique, Destination: dest,
			ErrorName: "org.freedesktop.DBus.Error.NoReply", Signature: "s", Body: body}
		out = append(out, Received{Msg: m, Record: Record{Sender: ln.peer, Timestamp: monotonicNow(), Lane: true}, lane: true})
	}
	return out
}

// monoBase pairs a CLOCK_MONOTONIC reading with a time.Time taken around it, so that
// monotonicNow and monotonicAt need no system call: Go reads its monotonic clock (which is
// CLOCK_MONOTONIC) through the vDSO, while clock_gettime through x/sys/unix is a real system
// call. Of a few pairings, the tightest is kept, its time.Time the middle of the two
// readings around the clock_gettime.
var monoBase, monoBaseTime = func() (uint64, time.Time) {
	var base uint64
	var at time.Time
	best := time.Duration(1<<63 - 1)
	for range 8 {
		var ts unix.Timespec
		t1 := time.Now()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		t2 := time.Now()
		if d := t2.Sub(t1); d < best {
			best, base, at = d, uint64(ts.Nano()), t1.Add(d/2)
		}
	}
	return base, at
}()

// monotonicNow returns CLOCK_MONOTONIC in nanoseconds, as the bus stamps records.
func monotonicNow() uint64 {
	return monoBase + uint64(time.Since(monoBaseTime))
}

// monotonicAt returns t in CLOCK_MONOTONIC nanoseconds: 0 for the zero time, and at least 1
// otherwise, a time long past included.
func monotonicAt(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	d := t.Sub(monoBaseTime)
	if d < 0 && uint64(-d) >= monoBase {
		return 1
	}
	return max(monoBase+uint64(d), 1)
}

// copies counts the body copies this package makes, when counting is on (tests).
var (
	countingCopies atomic.Bool
	copies         atomic.Uint64
)

func countCopy() {
	if countingCopies.Load() {
		copies.Add(1)
	}
}
