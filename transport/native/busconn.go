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

	"github.com/kdbus-go/kdbus/bloom"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// Quota defaults (see BusOptions).
const (
	// MaxPoolSize is the largest pool a bus grants.
	MaxPoolSize = 256 << 20
	// MinPoolSize is the smallest.
	MinPoolSize = 256 << 10
	// DefaultMaxQueued is how many unreleased messages one sender may have in a pool. kdbus
	// allowed 256 per user; here releases travel in batches and a pipelining sender would
	// meet the limit with messages its receiver has already handled, so the bound is larger
	// (the byte quota still holds a flooder to its share).
	DefaultMaxQueued = 1024
	// DefaultMaxQueuedFDs is how many descriptors one sender may have in flight to a pool.
	DefaultMaxQueuedFDs = 64
)

// BusOptions configure the bus side of a native connection.
type BusOptions struct {
	// GUID is the bus's GUID, sent in the welcome.
	GUID string
	// Bloom are the bus's bloom parameters (default bloom.Default).
	Bloom bloom.Params
	// MaxMessageSize bounds the messages the client may send.
	MaxMessageSize int
	// MaxQueued and MaxQueuedFDs bound what one sender may have unreleased in this
	// connection's pool (defaults DefaultMaxQueued, DefaultMaxQueuedFDs).
	MaxQueued, MaxQueuedFDs int
}

// BusConn is the bus's side of a native connection: it reads what the client sends, owns the
// client's receive pool, and places messages there under the pool's quotas.
type BusConn struct {
	sock  *net.UnixConn
	raw   syscall.RawConn
	opts  BusOptions
	hello hello
	owner uint32 // the client's uid

	pool *memfd.Pool
	ctrl []byte // the pool's control area, written here only
	area []byte // the client's send area, mapped read-only

	// Reader state, owned by the goroutine in Recv.
	// cur is the packet buffer of the message being routed, from packets; it goes back
	// at the next Recv, so that an idle connection holds no buffer.
	cur  *[]byte
	oob  []byte
	hbuf []byte
	offs []uint64

	// rmu is held to take a packet from the client's socket and, for a free packet, until
	// its releases are applied: by the reader, and by Reserve, which applies the releases
	// waiting at the head of the socket before it refuses a sender (drainFrees). It is never
	// held across a wait. It comes before qmu.
	rmu      sync.Mutex
	rlocked  bool     // the reader holds rmu (set and read by the reader only)
	doffs    []uint64 // drainFrees' offsets, guarded by rmu
	drainErr error    // a bad free packet drainFrees took, for the reader to report; rmu

	// Acks the client's socket could not take at once, oldest first, guarded by amu. The
	// reader never waits on a write to its client: the client may itself be waiting for the
	// bus to read (see sendAck).
	amu      sync.Mutex
	acond    *sync.Cond
	abuf     []byte // the ack being written without queueing
	acks     []queuedAck
	ackBytes int
	flushing bool  // flushAcks runs
	ackErr   error // the write that broke the connection

	// Quota state, guarded by qmu.
	qmu         sync.Mutex
	slices      map[uint64]held
	bySender    map[uint64]*usage
	byUID       map[uint32]*usage
	unsolicited int
	dropped     uint64
	// room is handed to senders refused for want of room (QuotaError.Room) and closed at
	// the next release; roomWanted says it was handed out since it was made.
	room       chan struct{}
	roomWanted bool

	wmu  sync.Mutex
	wbuf []byte

	// life is held shared while the pool's memory is written, and exclusively to unmap it.
	life   sync.RWMutex
	closed atomic.Bool
}

// held is a slice of the pool in use, and whose account it is on.
type held struct {
	sender  uint64
	uid     uint32
	size    int
	nfds    int
	charged bool // counted against the sender's quota
}

// usage is what one sender (or one user) holds in a pool.
type usage struct {
	bytes, msgs, fds int
}

// From says who a message comes from, for the receiver's quotas.
type From struct {
	// ID is the sending connection's id (0: the bus).
	ID uint64
	// UID is the sending user.
	UID uint32
	// Owed says the message is a reply the receiver asked for (or comes from the bus or
	// the receiver itself): it may use the half of the pool reserved for the owner.
	Owed bool
}

// QuotaError reports a message that does not fit a receiver's pool.
type QuotaError struct {
	// Room is closed once the receiver frees part of its pool, or disconnects: a sender
	// refused for want of room need not try again before.
	Room <-chan struct{}

	// The text is formatted only when asked for: a flooder may be refused at a high rate,
	// and most refusals are counted, not read.
	text       string // a fixed text, or "" for a sender's or user's quota below
	limit      quotaLimit
	foreign    bool // the quota of uid, not of the sender
	uid        uint32
	have, size int
	max, pool  int
	nfds       int
}

// quotaLimit says which quota of a pool a message hit.
type quotaLimit uint8

const (
	limitText quotaLimit = iota
	limitMessages
	limitFDs
	limitBytes
)

func (e *QuotaError) Error() string {
	who := "its sender"
	if e.foreign {
		who = fmt.Sprintf("uid %d", e.uid)
	}
	switch e.limit {
	case limitMessages:
		return fmt.Sprintf("the receiver has %d unread messages from %s, the limit", e.have, who)
	case limitFDs:
		return fmt.Sprintf("the receiver has %d unread descriptors from %s; %d more would pass the limit of %d", e.have, who, e.nfds, e.max)
	case limitBytes:
		return fmt.Sprintf("the receiver's pool quota for %s is full: it holds %d bytes, a message of %d more would pass its share of %d (a third of the free half of a %d-byte pool); the receiver is not keeping up, or the message should travel as a memfd",
			who, e.have, e.size, e.max, e.pool)
	}
	return e.text
}

// Accept reads the client's hello from sock, checks and maps its send area, and creates its
// receive pool. The connection is not usable until Welcome.
func Accept(ctx context.Context, sock *net.UnixConn, opts BusOptions) (*BusConn, error) {
	if opts.Bloom.Size == 0 {
		opts.Bloom = bloom.Default
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = wire.MaxMessageSize
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = DefaultMaxQueued
	}
	if opts.MaxQueuedFDs <= 0 {
		opts.MaxQueuedFDs = DefaultMaxQueuedFDs
	}
	raw, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var serr error
	raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		if serr == nil {
			cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		}
	})
	if serr != nil {
		return nil, fmt.Errorf("native: preparing the socket: %w", serr)
	}
	c := &BusConn{
		sock: sock, raw: raw, opts: opts, owner: cred.Uid,
		oob:      make([]byte, unix.CmsgSpace(unix.SizeofUcred)+unix.CmsgSpace(4*maxPacketFDs)),
		slices:   make(map[uint64]held),
		bySender: make(map[uint64]*usage),
		byUID:    make(map[uint32]*usage),
		room:     make(chan struct{}),
	}
	c.acond = sync.NewCond(&c.amu)
	if dl, ok := ctx.Deadline(); ok {
		sock.SetReadDeadline(dl)
		defer sock.SetReadDeadline(time.Time{})
	}
	buf := make([]byte, helloSize+1)
	n, oobn, flags, _, err := sock.ReadMsgUnix(buf, c.oob)
	if err != nil {
		return nil, fmt.Errorf("native: reading hello: %w", err)
	}
	fds, _, perr := parseControl(c.oob[:oobn])
	if perr != nil || flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 || len(fds) != 1 {
		closeFDs(fds)
		return nil, fmt.Errorf("native: hello must carry exactly the send area's descriptor (got %d)", len(fds))
	}
	defer unix.Close(fds[0])
	h, err := parseHello(buf[:n])
	if err != nil {
		return nil, err
	}
	if h.version != Version {
		c.refuse("org.freedesktop.DBus.Error.NotSupported", fmt.Sprintf("this bus speaks control protocol version %d, the client %d", Version, h.version))
		return nil, fmt.Errorf("native: client speaks control protocol version %d, want %d", h.version, Version)
	}
	c.hello = h
	if c.area, err = mapSendArea(fds[0]); err != nil {
		c.refuse("org.freedesktop.DBus.Error.InvalidArgs", err.Error())
		return nil, err
	}
	size := int(min(max(h.poolSize, MinPoolSize), MaxPoolSize))
	if c.pool, err = memfd.NewPool("kdbus-pool", size); err != nil {
		unix.Munmap(c.area)
		return nil, err
	}
	off, err := c.pool.Alloc(controlSize)
	if err == nil && off != 0 {
		err = fmt.Errorf("native: the pool's control area landed at %d", off)
	}
	if err == nil {
		c.ctrl, err = c.pool.Slice(0)
	}
	if err != nil {
		c.pool.Close()
		unix.Munmap(c.area)
		return nil, err
	}
	return c, nil
}

// mapSendArea checks that fd is a memfd sealed against shrinking and growing, and maps it
// read-only.
func mapSendArea(fd int) ([]byte, error) {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return nil, fmt.Errorf("native: the send area is not a memfd: %w", err)
	}
	if seals&(unix.F_SEAL_SHRINK|unix.F_SEAL_GROW) != unix.F_SEAL_SHRINK|unix.F_SEAL_GROW {
		return nil, fmt.Errorf("native: the send area must be sealed with F_SEAL_SHRINK|F_SEAL_GROW, it has %s", memfd.SealNames(seals))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("native: fstat of the send area: %w", err)
	}
	if st.Size <= 0 || st.Size > MaxPoolSize {
		return nil, fmt.Errorf("native: send area of %d bytes: want 1 to %d", st.Size, MaxPoolSize)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("native: mapping the send area: %w", err)
	}
	return mem, nil
}

// refuse tells a client in the handshake why it was refused.
func (c *BusConn) refuse(name, text string) {
	a := ack{name: name, text: text}
	c.sock.WriteMsgUnix(a.append(nil), nil, nil)
}

// Refuse tells a client in the handshake why it was refused and closes the connection.
func (c *BusConn) Refuse(name, text string) {
	c.refuse(name, text)
	c.Close()
}

// AcceptsFDs reports whether the client accepts descriptors.
func (c *BusConn) AcceptsFDs() bool { return c.hello.flags&helloAcceptFDs != 0 }

// PoolSize returns the size of the client's receive pool.
func (c *BusConn) PoolSize() int { return c.pool.Size() }

// Welcome completes the handshake: it gives the client its id, unique name and pool.
func (c *BusConn) Welcome(id uint64, unique string) error {
	w := welcome{version: Version, id: id, poolSize: uint64(c.pool.Size()), bloomSize: uint32(c.opts.Bloom.Size),
		bloomHashes: uint32(c.opts.Bloom.Hashes), guid: c.opts.GUID, unique: unique}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, _, err := c.sock.WriteMsgUnix(w.append(nil), unix.UnixRights(c.pool.Fd()), nil); err != nil {
		return fmt.Errorf("native: sending welcome: %w", err)
	}
	return nil
}

// Incoming is a message a client sent.
type Incoming struct {
	// Msg is the message. Its header was decoded from the bus's own copy. Its Body aliases
	// the client's send area unless Stable: the client can still change those bytes, so they
	// must be copied before they are checked or trusted.
	Msg *wire.Message
	// FDs are the message's descriptors, owned by the caller.
	FDs []int
	// Bloom is the filter the sender computed, for signals; it aliases a buffer reused by the
	// next Recv.
	Bloom []byte
	// Stable says Body cannot change: the bus's own memory or a sealed memfd.
	Stable bool
	// Creds are the sender's credentials as the kernel reported them for this packet.
	Creds Creds
	// Timeout is how long the sender of a call waits for its reply (0: no limit of its
	// own).
	Timeout time.Duration
	// Deadline is when, by the sender's word, its call's caller stops waiting, in
	// CLOCK_MONOTONIC nanoseconds: Timeout added to the clock when the bus read the send.
	// 0 for no deadline and for anything but a method call. It goes into the record
	// (Record.Deadline).
	Deadline uint64
	// Refused, when set, says why the message must not be delivered although it was read
	// whole: a descriptor marked as a payload is not a sealed memfd. The sender hears it.
	Refused error
	// Cookie and WantAck identify the send for Done.
	Cookie  uint64
	WantAck bool
	// Seq is the sender's count of its sends, for the record.
	Seq uint64
	// LaneReply marks a reply to a call that came over a lane, sent through the bus while
	// a monitor watches.
	LaneReply bool
	// Lane, when set, is a request for a lane rather than a message: Msg is nil. Answer it
	// with OpenLane or RefuseLane.
	Lane *LaneRequest

	unmap []byte
}

// LaneRequest asks for a lane to the owner of Name.
type LaneRequest struct {
	Cookie uint64
	Name   string
}

// queuedAck is a packet to the client that its socket did not take at once.
type queuedAck struct {
	pkt []byte
	fd  int // a descriptor the packet carries, or -1
}

// Creds are a sender's credentials.
type Creds struct {
	UID, GID, PID uint32
	Valid         bool
}

// packets are the buffers control packets are read into, shared by all connections.
var packets = sync.Pool{New: func() any { b := make([]byte, maxPacket); return &b }}

// read reads one packet into a buffer from packets, taken only once a packet is there: a
// connection waiting for its client holds none. When it read a packet it returns with rmu
// held (rlocked); the caller lets go with readDone.
func (c *BusConn) read() (n, oobn, flags int, err error) {
	if c.cur != nil {
		packets.Put(c.cur)
		c.cur = nil
	}
	var rerr error
	err = c.raw.Read(func(fd uintptr) bool {
		if c.cur == nil {
			c.cur = packets.Get().(*[]byte)
		}
		c.rmu.Lock()
		if c.drainErr != nil {
			rerr = c.drainErr
			c.rmu.Unlock()
			return true
		}
		n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), *c.cur, c.oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		if rerr == unix.EAGAIN {
			c.rmu.Unlock()
			packets.Put(c.cur)
			c.cur = nil
			return false
		}
		c.rlocked = true
		return true
	})
	if err == nil {
		err = rerr
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		// drainFrees woke the reader to report a bad free packet.
		c.rmu.Lock()
		if c.drainErr != nil {
			err = c.drainErr
		}
		c.rmu.Unlock()
	}
	return n, oobn, flags, err
}

// readDone lets go of rmu after read.
func (c *BusConn) readDone() {
	if c.rlocked {
		c.rlocked = false
		c.rmu.Unlock()
	}
}

// ErrHangup is returned by Recv when the client closed the connection.
var ErrHangup = errors.New("native: the client closed the connection")

// Recv returns the next message the client sends, handling its releases and syncs on the way.
// It is not safe for concurrent use with itself.
func (c *BusConn) Recv() (Incoming, error) {
	for {
		n, oobn, flags, err := c.read()
		if err == nil && n > 0 && flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) == 0 && opOf((*c.cur)[:n]) == opFree {
			// The releases are applied before rmu goes: drainFrees, which takes the next
			// packet, must not see the socket past releases not yet counted.
			var ferr error
			if c.offs, ferr = parseFree((*c.cur)[:n], c.offs[:0]); ferr == nil {
				ferr = c.releaseAll(c.offs)
			}
			c.readDone()
			if ferr != nil {
				if oobn > 0 {
					fds, _, _ := parseControl(c.oob[:oobn])
					closeFDs(fds)
				}
				return Incoming{}, ferr
			}
		}
		c.readDone()
		var fds []int
		var cr Creds
		if oobn > 0 {
			var perr error
			fds, cr, perr = parseControl(c.oob[:oobn])
			if perr != nil {
				closeFDs(fds)
				return Incoming{}, fmt.Errorf("native: bad control message: %w", perr)
			}
		}
		if err != nil {
			closeFDs(fds)
			return Incoming{}, err
		}
		if n == 0 {
			closeFDs(fds)
			return Incoming{}, ErrHangup
		}
		if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
			closeFDs(fds)
			return Incoming{}, errors.New("native: a control packet or its descriptors were truncated")
		}
		pkt := (*c.cur)[:n]
		switch opOf(pkt) {
		case opSend:
			return c.parseSend(pkt, fds, cr)
		case opFree:
			closeFDs(fds) // its releases are applied above
		case opLane:
			closeFDs(fds)
			cookie, name, err := parseLaneRequest(pkt)
			if err != nil {
				return Incoming{}, err
			}
			return Incoming{Lane: &LaneRequest{Cookie: cookie, Name: name}, Cookie: cookie, Creds: cr}, nil
		case opSync:
			closeFDs(fds)
			cookie, err := parseSync(pkt)
			if err != nil {
				return Incoming{}, err
			}
			c.consume(cookie)
			if err := c.sendAck(ack{cookie: cookie}); err != nil {
				return Incoming{}, err
			}
		default:
			closeFDs(fds)
			return Incoming{}, malformed("unknown op %d from the client", opOf(pkt))
		}
	}
}

func (c *BusConn) parseSend(pkt []byte, fds []int, cr Creds) (Incoming, error) {
	h, filter, frees, inline, err := parseSend(pkt, c.offs[:0])
	c.offs = frees[:0]
	if err != nil {
		closeFDs(fds)
		return Incoming{}, err
	}
	for _, off := range frees {
		if err := c.release(off); err != nil {
			closeFDs(fds)
			return Incoming{}, err
		}
	}
	in := Incoming{FDs: fds, Bloom: filter, Creds: cr, Cookie: h.cookie, WantAck: h.flags&sendWantAck != 0, Stable: true,
		Seq: h.seq, LaneReply: h.flags&sendLaneReply != 0,
		Timeout: time.Duration(min(h.timeout, uint64(1<<62)))}
	fail := func(err error) (Incoming, error) {
		closeFDs(in.FDs)
		if in.unmap != nil {
			unix.Munmap(in.unmap)
		}
		return Incoming{}, err
	}
	if h.length > uint64(c.opts.MaxMessageSize) {
		return fail(fmt.Errorf("native: message of %d bytes exceeds max_message_size %d", h.length, c.opts.MaxMessageSize))
	}
	m := new(wire.Message)
	switch {
	case h.flags&sendInline != 0:
		buf := append([]byte(nil), inline...)
		if err := m.Decode(buf); err != nil {
			return fail(fmt.Errorf("native: invalid message: %w", err))
		}
	case h.flags&sendInFD != 0:
		if len(in.FDs) == 0 {
			return fail(errors.New("native: a send from a memfd carries no descriptor"))
		}
		fd := in.FDs[len(in.FDs)-1]
		in.FDs = in.FDs[:len(in.FDs)-1]
		size, err := memfd.Verify(fd)
		if err == nil && uint64(size) != h.length {
			err = fmt.Errorf("native: the message memfd holds %d bytes, the send says %d", size, h.length)
		}
		var mem []byte
		if err == nil {
			mem, err = unix.Mmap(fd, 0, int(size), unix.PROT_READ, unix.MAP_PRIVATE)
		}
		unix.Close(fd)
		if err != nil {
			return fail(fmt.Errorf("native: message memfd: %w", err))
		}
		in.unmap = mem
		if err := m.Decode(mem); err != nil {
			return fail(fmt.Errorf("native: invalid message: %w", err))
		}
	default:
		end := h.offset + h.length
		if end < h.offset || end > uint64(len(c.area)) || h.length < wire.FixedHeaderSize {
			return fail(fmt.Errorf("native: send of bytes %d..%d outside the %d-byte send area", h.offset, end, len(c.area)))
		}
		src := c.area[h.offset:end:end]
		// The header is copied out before it is read: the client can change the send area
		// at any moment, and routing must rest on bytes it cannot.
		c.hbuf = append(c.hbuf[:0], src[:wire.FixedHeaderSize]...)
		hlen, err := wire.HeaderLength(c.hbuf)
		if err != nil || hlen > len(src) {
			return fail(fmt.Errorf("native: invalid message header: %v", err))
		}
		c.hbuf = append(c.hbuf[:0], src[:hlen]...)
		bodyLen, err := m.DecodeHeader(c.hbuf)
		if err != nil {
			return fail(fmt.Errorf("native: invalid message header: %w", err))
		}
		if hlen+bodyLen != len(src) {
			return fail(fmt.Errorf("native: the header announces %d bytes of body, the send carries %d", bodyLen, len(src)-hlen))
		}
		m.Body = src[hlen:]
		in.Stable = false
	}
	if int(m.UnixFDs) != len(in.FDs) {
		return fail(fmt.Errorf("native: message %s declares %d descriptors, %d arrived", m, m.UnixFDs, len(in.FDs)))
	}
	for i, fd := range in.FDs {
		if i < 64 && h.payloads&(1<<i) != 0 {
			if _, err := memfd.Verify(fd); err != nil {
				in.Refused = fmt.Errorf("descriptor %d of the message is marked as a memfd payload but is refused: %w", i, err)
				break
			}
		}
	}
	if len(in.FDs) < 64 && h.payloads>>len(in.FDs) != 0 {
		in.Refused = fmt.Errorf("the send marks payload descriptors beyond the message's %d", len(in.FDs))
	}
	if len(filter) != 0 && len(filter) != c.opts.Bloom.Size {
		return fail(fmt.Errorf("native: bloom filter of %d bytes, the bus uses %d", len(filter), c.opts.Bloom.Size))
	}
	if m.Type == wire.MethodCall && h.timeout != 0 {
		in.Deadline = monotonicNow() + uint64(in.Timeout)
	}
	in.Msg = m
	return in, nil
}

// Done finishes a send: the client may reuse its part of the send area, and hears the outcome
// if it asked or if the send failed (errName != "").
func (c *BusConn) Done(in *Incoming, errName, errText string) error {
	if in.unmap != nil {
		unix.Munmap(in.unmap)
		in.unmap = nil
	}
	c.consume(in.Cookie)
	if in.WantAck || errName != "" {
		return c.sendAck(ack{cookie: in.Cookie, name: errName, text: errText})
	}
	return nil
}

func (c *BusConn) consume(cookie uint64) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&c.ctrl[ctrlConsumed])), cookie)
}

// maxQueuedAckBytes bounds the acks queued for a client that does not read them: past it, the
// bus stops reading that client until it catches up. A client that keeps reading never meets
// the bound for long, since the acks drain as fast as it reads.
const maxQueuedAckBytes = 64 << 10

// sendAck writes an ack from the client's reader goroutine, without ever blocking on the
// socket: a client may be blocked writing to the bus (a send, its releases) while it waits for
// the bus to read, and a bus reader blocked writing to it in turn would wedge the connection
// for good. What the socket does not take at once is queued, in order, and written by
// flushAcks. A client that lets the queue pass maxQueuedAckBytes is not read any further until
// it has read its acks: it holds up only itself.
func (c *BusConn) sendAck(a ack) error {
	c.amu.Lock()
	defer c.amu.Unlock()
	c.abuf = a.append(c.abuf[:0])
	if err := c.queuePacket(c.abuf, -1); err != nil {
		return err
	}
	for c.ackBytes > maxQueuedAckBytes && c.ackErr == nil {
		c.acond.Wait()
	}
	return c.ackErr
}

// queuePacket writes pkt (with fd, if not -1) at once if the socket takes it and nothing is
// queued before it, and queues a copy otherwise. fd stays the caller's. c.amu is held.
func (c *BusConn) queuePacket(pkt []byte, fd int) error {
	if c.ackErr != nil {
		return c.ackErr
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if len(c.acks) == 0 {
		sent, err := c.write(pkt, oob, false)
		if err != nil {
			return err
		}
		if sent {
			return nil
		}
	}
	q := queuedAck{pkt: append([]byte(nil), pkt...), fd: -1}
	if fd >= 0 {
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("native: keeping a descriptor for the client: %w", err)
		}
		q.fd = dup
	}
	c.acks = append(c.acks, q)
	c.ackBytes += len(q.pkt)
	if !c.flushing {
		c.flushing = true
		go c.flushAcks()
	}
	return nil
}

// flushAcks writes the queued packets, waiting for the client to make room: it is the only
// goroutine that waits on the client's socket for them, and it ends when the queue is empty
// or the connection breaks (closing the socket ends its write).
func (c *BusConn) flushAcks() {
	c.amu.Lock()
	defer c.amu.Unlock()
	for len(c.acks) > 0 && c.ackErr == nil {
		q := c.acks[0]
		c.amu.Unlock()
		var oob []byte
		if q.fd >= 0 {
			oob = unix.UnixRights(q.fd)
		}
		_, _, err := c.sock.WriteMsgUnix(q.pkt, oob, nil)
		if q.fd >= 0 {
			unix.Close(q.fd)
		}
		c.amu.Lock()
		c.acks[0] = queuedAck{}
		c.acks = c.acks[1:]
		c.ackBytes -= len(q.pkt)
		if err != nil {
			c.ackErr = fmt.Errorf("native: writing an ack: %w", err)
			break
		}
		c.acond.Broadcast()
	}
	for _, q := range c.acks {
		if q.fd >= 0 {
			unix.Close(q.fd)
		}
	}
	c.acks, c.ackBytes = nil, 0
	c.flushing = false
	c.acond.Broadcast()
}

// TakesLanes reports whether the client accepts lanes.
func (c *BusConn) TakesLanes() bool { return c.hello.flags&helloNoLanes == 0 }

// OpenLane gives the client its end of a lane to the connection peer (unique name unique):
// cookie and name are those of the client's request, 0 and "" for the end that did not ask;
// fd is the client's end of the lane, or -1 when the two already share one and the client
// only learns who owns name. It never waits for the client: a client whose queue of packets
// from the bus is full gets no lane (an error).
func (c *BusConn) OpenLane(cookie, peer, nameGen uint64, unique, name string, fd int) error {
	o := laneOpen{cookie: cookie, peer: peer, nameGen: nameGen, unique: unique, name: name}
	c.amu.Lock()
	defer c.amu.Unlock()
	if c.ackBytes > maxQueuedAckBytes {
		return errors.New("native: the client does not read what the bus sends it")
	}
	return c.queuePacket(o.append(nil), fd)
}

// RefuseLane answers a lane request with a D-Bus error name and text; like OpenLane it
// never waits.
func (c *BusConn) RefuseLane(cookie uint64, name, text string) error {
	a := ack{cookie: cookie, name: name, text: text}
	c.amu.Lock()
	defer c.amu.Unlock()
	return c.queuePacket(a.append(nil), -1)
}

// Queued counts a message committed to be announced to the client: a client orders what
// arrives over lanes after what the bus queued for it before (see lane.go). Call it once a
// filled slot is sure to be announced.
func (c *BusConn) Queued() {
	atomic.AddUint64((*uint64)(unsafe.Pointer(&c.ctrl[ctrlQueued])), 1)
}

// SetBusState publishes the bus-wide state lanes depend on into the client's pool: the name
// generation and whether anything observes unicasts.
func (c *BusConn) SetBusState(nameGen, watched uint64) {
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&c.ctrl[ctrlNameGen])), nameGen)
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&c.ctrl[ctrlWatched])), watched)
}

// Slot is room in a pool for one message, taken by Reserve and filled by Fill.
type Slot struct {
	off  int
	mem  []byte
	nfds int
}

// Reserve takes room in the pool for a message of msgLen bytes with nfds descriptors from
// from, within the quotas: half of the pool is kept for what the owner is owed (replies to its
// calls, the bus's own messages); of the other half, one sender — and one user other than the
// owner — may hold at most a third of what the others leave free, and at most MaxQueued
// messages and MaxQueuedFDs descriptors. The error is a *QuotaError.
func (c *BusConn) Reserve(from From, msgLen, nfds int) (Slot, error) {
	size := (recordSize + msgLen + 7) &^ 7
	c.qmu.Lock()
	defer c.qmu.Unlock()
	for drained := false; ; drained = true {
		e := c.admit(from, size, nfds)
		if e == nil {
			break
		}
		// Releases the client sent may wait in its socket, unread: apply them before
		// refusing. A receiver that does not release is refused all the same.
		if drained || e.text == errDisconnecting {
			return Slot{}, c.refused(e)
		}
		// The reader may have applied releases meanwhile too: check again.
		c.qmu.Unlock()
		c.drainFrees()
		c.qmu.Lock()
	}
	off, err := c.pool.Alloc(size)
	if err != nil {
		return Slot{}, c.refused(&QuotaError{text: fmt.Sprintf("a message of %d bytes does not fit the receiver's pool: %v", msgLen, err)})
	}
	mem, err := c.pool.Slice(off)
	if err != nil {
		c.pool.Free(off)
		return Slot{}, c.refused(&QuotaError{text: err.Error()})
	}
	h := held{sender: from.ID, uid: from.UID, size: size, nfds: nfds, charged: !from.Owed}
	c.slices[uint64(off)] = h
	c.charge(h, 1)
	return Slot{off: off, mem: mem, nfds: nfds}, nil
}

// errDisconnecting is the text of the QuotaError for a receiver that is going away.
const errDisconnecting = "the receiver is disconnecting"

// admit applies the quotas to a message of size bytes with nfds descriptors from from, and
// checks that the pool has room for it. c.qmu is held.
func (c *BusConn) admit(from From, size, nfds int) *QuotaError {
	if c.closed.Load() {
		return &QuotaError{text: errDisconnecting}
	}
	if !from.Owed {
		shared := (c.pool.Size() - controlSize) / 2
		if e := c.check(c.bySender[from.ID], size, nfds, shared); e != nil {
			return e
		}
		if from.UID != c.owner {
			if e := c.check(c.byUID[from.UID], size, nfds, shared); e != nil {
				e.foreign, e.uid = true, from.UID
				return e
			}
		}
	}
	return nil
}

// check applies the unsolicited-traffic quota to one account. c.qmu is held.
func (c *BusConn) check(u *usage, size, nfds, shared int) *QuotaError {
	var have usage
	if u != nil {
		have = *u
	}
	if have.msgs >= c.opts.MaxQueued {
		return &QuotaError{limit: limitMessages, have: have.msgs}
	}
	if have.fds+nfds > c.opts.MaxQueuedFDs {
		return &QuotaError{limit: limitFDs, have: have.fds, nfds: nfds, max: c.opts.MaxQueuedFDs}
	}
	others := c.unsolicited - have.bytes
	limit := (shared - others) / 3
	if have.bytes+size > limit {
		return &QuotaError{limit: limitBytes, have: have.bytes, size: size, max: limit, pool: c.pool.Size()}
	}
	return nil
}

// refused hands e the channel closed at the pool's next release. c.qmu is held.
func (c *BusConn) refused(e *QuotaError) *QuotaError {
	c.roomWanted = true
	e.Room = c.room
	return e
}

// freed wakes the senders refused for want of room since the last release. c.qmu is held.
func (c *BusConn) freed() {
	if c.roomWanted && !c.closed.Load() { // once closed, Close has closed room for good
		close(c.room)
		c.room = make(chan struct{})
		c.roomWanted = false
	}
}

// charge adds (sign 1) or removes (sign -1) a slice from its accounts. c.qmu is held.
func (c *BusConn) charge(h held, sign int) {
	if !h.charged {
		return
	}
	c.unsolicited += sign * h.size
	add := func(u *usage) {
		u.bytes += sign * h.size
		u.msgs += sign
		u.fds += sign * h.nfds
	}
	u := c.bySender[h.sender]
	if u == nil {
		u = new(usage)
		c.bySender[h.sender] = u
	}
	add(u)
	if u.msgs == 0 {
		delete(c.bySender, h.sender)
	}
	if h.uid != c.owner {
		u := c.byUID[h.uid]
		if u == nil {
			u = new(usage)
			c.byUID[h.uid] = u
		}
		add(u)
		if u.msgs == 0 {
			delete(c.byUID, h.uid)
		}
	}
}

// Fill writes a message into a reserved slot: the record, hdr (m's header, with the SENDER the
// bus set, as m.AppendHeader encodes it) and a copy of body. With check, the copy is validated against m's signature, for a
// body that came from memory its sender can still change. On error the slot is given back.
func (c *BusConn) Fill(s Slot, rec *Record, m *wire.Message, hdr, body []byte, check bool) (Pending, error) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed.Load() {
		return Pending{}, &QuotaError{text: errDisconnecting}
	}
	if len(hdr)+len(body) > len(s.mem)-recordSize {
		c.Free(s)
		return Pending{}, fmt.Errorf("native: message of %d bytes overruns its %d-byte slot", len(hdr)+len(body), len(s.mem)-recordSize)
	}
	copy(s.mem[recordSize:], hdr)
	copied := s.mem[recordSize+len(hdr) : recordSize+len(hdr)+len(body)]
	copy(copied, body)
	countCopy()
	if check {
		if err := wire.ValidateBody(copied, m.Order, m.Signature, int(m.UnixFDs)); err != nil {
			c.Free(s)
			return Pending{}, fmt.Errorf("native: invalid message body: %w", err)
		}
	}
	msgLen := len(hdr) + len(body)
	putRecord(s.mem, rec, msgLen)
	if err := c.pool.Publish(s.off); err != nil {
		c.Free(s)
		return Pending{}, err
	}
	return Pending{e: entry{offset: uint64(s.off), length: uint32(recordSize + msgLen), nfds: uint32(s.nfds)}}, nil
}

// Free gives back a reserved slot that will not be delivered.
func (c *BusConn) Free(s Slot) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if h, ok := c.slices[uint64(s.off)]; ok {
		delete(c.slices, uint64(s.off))
		c.charge(h, -1)
	}
	c.pool.Free(s.off)
	c.freed()
}

// Discard frees a filled slot that will not be announced.
func (c *BusConn) Discard(p Pending) { c.Free(Slot{off: int(p.e.offset)}) }

// releaseAll frees the slices of one free packet.
func (c *BusConn) releaseAll(offs []uint64) error {
	for _, off := range offs {
		if err := c.release(off); err != nil {
			return err
		}
	}
	return nil
}

// maxDrain bounds the free packets one drainFrees takes, so that a client cannot keep a
// sender's routing busy with releases.
const maxDrain = 64

// drainFrees applies the releases waiting at the head of the client's socket, which its
// reader has not reached: the reader of one connection and the routing of another's sends
// run unordered, and a reader that is slow to be scheduled would otherwise let a busy sender
// fill the quota with slices the receiver gave back long ago. It takes free packets only, up
// to the first packet of another kind, so the client's packets keep their order. It waits
// only for a reader taking a packet, never for the client; c.qmu must not be held.
func (c *BusConn) drainFrees() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.drainErr != nil || c.closed.Load() {
		return
	}
	var head [8]byte
	for range maxDrain {
		var n int
		var rerr error
		if err := c.raw.Control(func(fd uintptr) {
			n, _, _, _, rerr = unix.Recvmsg(int(fd), head[:], nil, unix.MSG_PEEK|unix.MSG_DONTWAIT)
		}); err != nil || rerr != nil || n < 4 || opOf(head[:n]) != opFree {
			return
		}
		buf := packets.Get().(*[]byte)
		var oobn, flags int
		oob := make([]byte, len(c.oob))
		c.raw.Control(func(fd uintptr) {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), *buf, oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
		})
		if oobn > 0 {
			fds, _, _ := parseControl(oob[:oobn])
			closeFDs(fds)
		}
		if rerr != nil {
			packets.Put(buf)
			return // the reader meets the error too
		}
		if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
			rerr = errors.New("native: a control packet or its descriptors were truncated")
		} else if c.doffs, rerr = parseFree((*buf)[:n], c.doffs[:0]); rerr == nil {
			rerr = c.releaseAll(c.doffs)
		}
		packets.Put(buf)
		if rerr != nil {
			c.drainErr = rerr
			c.sock.SetReadDeadline(time.Now()) // wake the reader to report it
			return
		}
		if len(c.doffs) == 0 {
			return
		}
	}
}

// release frees a slice on the client's request.
func (c *BusConn) release(off uint64) error {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	h, ok := c.slices[off]
	if !ok || off > uint64(c.pool.Size()) {
		return fmt.Errorf("native: the client released offset %d, which it does not hold", off)
	}
	if _, err := c.pool.Release(int(off)); err != nil {
		return fmt.Errorf("native: the client released offset %d: %w", off, err)
	}
	delete(c.slices, off)
	c.charge(h, -1)
	c.freed()
	return nil
}

// Drop counts a broadcast that did not fit; the client hears the count with its next
// delivery.
func (c *BusConn) Drop() {
	c.qmu.Lock()
	c.dropped++
	c.qmu.Unlock()
}

// HasDropped reports whether broadcasts were dropped that the client has not heard of.
func (c *BusConn) HasDropped() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.dropped > 0
}

// Pending is a filled slot waiting to be announced to the client.
type Pending struct {
	e entry
}

// ErrWouldBlock is returned by Notify without block when the client's socket cannot take the
// next packet right away; the slots it did not announce are still the caller's to announce.
var ErrWouldBlock = errors.New("native: the client's socket is full")

// Notify announces filled slots to the client, in order, with their descriptors (fds holds
// each message's descriptors in turn), and the number of broadcasts dropped since the last
// announcement (alone, if ps is empty). It returns how many of ps it announced. With block
// false it never waits: it stops at the first packet the socket cannot take at once and
// returns ErrWouldBlock, having announced the slots before it.
func (c *BusConn) Notify(ps []Pending, fds []int, block bool) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	done := 0
	for first := true; len(ps) > 0 || first; first = false {
		// One packet holds at most maxRecvEntries entries and maxPacketFDs descriptors.
		k, nf := 0, 0
		for k < len(ps) && k < maxRecvEntries && nf+int(ps[k].e.nfds) <= maxPacketFDs {
			nf += int(ps[k].e.nfds)
			k++
		}
		if k == 0 && len(ps) > 0 {
			return done, fmt.Errorf("native: a message with %d descriptors exceeds the per-packet limit", ps[0].e.nfds)
		}
		c.qmu.Lock()
		dropped := c.dropped
		c.dropped = 0
		c.qmu.Unlock()
		if k == 0 && dropped == 0 {
			return done, nil
		}
		c.wbuf = appendRecvHeader(c.wbuf[:0], k, dropped)
		for _, p := range ps[:k] {
			c.wbuf = appendEntry(c.wbuf, p.e)
		}
		var oob []byte
		if nf > 0 {
			oob = unix.UnixRights(fds[:nf]...)
		}
		ok, err := c.write(c.wbuf, oob, block)
		if err != nil || !ok {
			c.qmu.Lock()
			c.dropped += dropped
			c.qmu.Unlock()
			if err == nil {
				err = ErrWouldBlock
			}
			return done, err
		}
		ps, fds = ps[k:], fds[nf:]
		done += k
	}
	return done, nil
}

// write sends one packet; without block it returns false instead of waiting for room.
func (c *BusConn) write(pkt, oob []byte, block bool) (bool, error) {
	if block {
		_, _, err := c.sock.WriteMsgUnix(pkt, oob, nil)
		return err == nil, err
	}
	var serr error
	sent := false
	err := c.raw.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), pkt, oob, nil, unix.MSG_DONTWAIT)
		sent = serr == nil
		return true
	})
	if err != nil {
		return false, err
	}
	if serr == unix.EAGAIN {
		return false, nil
	}
	return sent, serr
}

// Close closes the connection and its pool.
func (c *BusConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.sock.Close()
	// Senders waiting for room stop waiting, and those refused from now on do not start:
	// the channel stays closed.
	c.qmu.Lock()
	close(c.room)
	c.roomWanted = false
	c.qmu.Unlock()
	c.life.Lock()
	defer c.life.Unlock()
	c.pool.Close()
	if c.area != nil {
		unix.Munmap(c.area)
		c.area = nil
	}
	return nil
}

// Shutdown closes the socket only, waking a Recv in progress; Close frees the rest.
func (c *BusConn) Shutdown() { c.sock.Close() }

// parseControl extracts descriptors and credentials from a control message.
func parseControl(oob []byte) ([]int, Creds, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, Creds{}, err
	}
	var fds []int
	var cr Creds
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case unix.SCM_RIGHTS:
			got, err := unix.ParseUnixRights(&m)
			if err != nil {
				return fds, cr, err
			}
			for _, fd := range got {
				unix.CloseOnExec(fd)
			}
			fds = append(fds, got...)
		case unix.SCM_CREDENTIALS:
			uc, err := unix.ParseUnixCredentials(&m)
			if err != nil {
				return fds, cr, err
			}
			cr = Creds{UID: uc.Uid, GID: uc.Gid, PID: uint32(uc.Pid), Valid: true}
		}
	}
	return fds, cr, nil
}
