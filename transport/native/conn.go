// Package native is the native kdbus transport: kdbus's design carried out by a userspace
// bus. A client talks to the bus over a SOCK_SEQPACKET control socket, but message bytes do
// not travel through it:
//
//   - Each connection has a receive pool, a memfd the bus creates, maps writable and seals so
//     that the client can only map it read-only. The bus copies each message once into the
//     receiver's pool and tells it the offset; the receiver decodes the message in place and
//     hands the slice back (Release), in batches.
//   - Each client has a send area, a memfd it creates and shares with the bus, sealed so that
//     it can neither shrink nor grow. A sender writes a message there once; the bus copies it
//     into each receiver's pool and checks the copy, never the bytes the sender can still
//     change. Small messages travel inline in the control packet instead.
//   - Signals carry a bloom filter (package bloom) that the sender computes; subscriptions
//     are masks, and the bus wakes only connections whose mask the filter covers.
//   - The bus attaches a record to every message: a bus-wide sequence number and the sender's
//     credentials as the kernel reported them, which no client can forge.
//
// Conn is the client side; BusConn is the bus side, which package broker drives.
package native

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/kdbus-go/kdbus/bloom"
	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// Defaults for Options.
const (
	DefaultPoolSize = 16 << 20
	DefaultSendSize = 8 << 20
	// DefaultInlineMax is the largest message sent inline in its control packet. Below it
	// inline and send-area sends cost the same (BenchmarkSendPath); from 2 KiB on the send
	// area is faster, as the bytes cross no socket buffer.
	DefaultInlineMax = 1024
)

// freeBatch is how many released slices wait before a free packet goes out; a released slice
// also goes out with the next send, or after freeDelay.
// maxFailures bounds the failed sends a connection remembers for Sync.
const maxFailures = 4096

const (
	freeBatch = 32
	freeDelay = 500 * time.Microsecond
	sendFrees = 256
)

var (
	// ErrClosed is returned by a Conn's methods after Close.
	ErrClosed = errors.New("native: connection closed")
	// ErrDisconnected is wrapped by the error a Conn returns when the bus goes away.
	ErrDisconnected = errors.New("native: disconnected from the bus")
)

// Options adjust Dial.
type Options struct {
	// PoolSize is the receive pool size asked of the bus (default DefaultPoolSize); the bus
	// may grant less.
	PoolSize int
	// SendSize is the size of the send area (default DefaultSendSize). Messages larger than
	// half of it travel as a sealed memfd of their own.
	SendSize int
	// InlineMax is the largest message sent inline in the control packet (default
	// DefaultInlineMax; negative: never inline).
	InlineMax int
	// NoUnixFDs says the connection does not accept file descriptors.
	NoUnixFDs bool
	// NoLanes says the connection never asks for a lane nor uses one a peer opens: every
	// message goes through the bus.
	NoLanes bool
}

// SendError reports a message the bus could not deliver: its destination did not exist, would
// not take it (policy, a full pool, a quota), or the message was malformed.
type SendError struct {
	// Name is the D-Bus error name, such as org.freedesktop.DBus.Error.LimitsExceeded.
	Name string
	// Text says what went wrong.
	Text string
	// Serial is the serial of the message that failed, when known.
	Serial uint32
}

func (e *SendError) Error() string { return e.Name + ": " + e.Text }

// Received is one message read from the pool.
type Received struct {
	// Msg is the message. Its Body aliases the receive pool, which is mapped read-only: it is
	// valid until Release and must not be written.
	Msg *wire.Message
	// FDs are the message's descriptors, owned by the caller.
	FDs []int
	// Record is what the bus vouches for about the message.
	Record Record
	// Dropped is the number of broadcasts the bus could not deliver to this connection since
	// the previous receive (its pool was full), reported once.
	Dropped uint64

	offset uint64
	size   int
	// A message from a lane is in memory of its own: unmap is the sealed memfd its body is
	// mapped from, if any; busSends is the lane packet's (lane.go).
	lane     bool
	unmap    []byte
	buf      *[]byte // the pooled buffer the body was copied into
	busSends uint64
}

// Stats counts a connection's traffic.
type Stats struct {
	// Wakeups is the number of control packets that woke the reader.
	Wakeups uint64
	// Received is the number of messages received.
	Received uint64
	// Dropped is the number of broadcasts the bus dropped for this connection.
	Dropped uint64
	// Undelivered is the number of sends the bus reported failed without anyone waiting
	// for their acknowledgement.
	Undelivered uint64
}

// Conn is a client connection to a bus over the native transport. Send is safe for
// concurrent use; Recv must be called by one goroutine at a time, and must be running for
// Sync and acknowledged sends to complete.
type Conn struct {
	sock   *net.UnixConn
	id     uint64
	unique string
	guid   string
	bloom  bloom.Params
	fds    bool
	inline int

	serial atomic.Uint32

	// The receive pool, read-only. refs counts the connection itself (until Close) and every
	// received message not yet released; the pool is unmapped when it drops to zero.
	pool    *memfd.Mapping
	poolMem []byte
	refs    atomic.Int64

	// Send side, guarded by holding wsem: a token channel rather than a mutex, so that a
	// sender stops waiting for its turn when its context ends. raw writes without waiting.
	wsem   chan struct{}
	raw    syscall.RawConn
	area   []byte
	areaFD int
	head   int
	spans  []span
	cookie uint64
	hbuf   []byte // the header of the message being sent
	wbuf   []byte // the control packet being sent

	// Waiters for acks, by cookie, and failures of sends nobody waits for.
	amu          sync.Mutex
	waiters      map[uint64]chan ack
	failures     []error
	lostFailures int // failures past maxFailures, counted only

	// Receive side, owned by the goroutine in Recv.
	rbuf    []byte
	oob     []byte
	fdq     []int
	queue   []Received
	entries []entry

	// Released slices not yet handed back to the bus.
	fmu    sync.Mutex
	frees  []uint64
	sfrees []uint64 // those a send carries, guarded by wsem
	// fflush says a goroutine other than the reader is writing the pending releases, waiting
	// for the socket if it must (flushFrees).
	fflush bool
	// freeBytes is roughly how much of the pool the pending releases hold: past a
	// sixteenth of it they go out at once, well before any sender's quota could fill
	// with slices the receiver has already let go.
	freeBytes int
	ftimer    *time.Timer
	fpkt      []byte

	wakeups, received, dropped, undelivered atomic.Uint64

	// Lanes (lane.go). The maps are written by the reader alone, under lmu; senders read
	// them under lmu, the reader without.
	lanesOn  bool
	ringSize int
	sendSeq  atomic.Uint64 // every message sent, bus and lanes
	busSends atomic.Uint64 // the cookie of the last message sent through the bus
	lmu      sync.RWMutex
	lanes    map[uint64]*lane    // by the peer's id
	byUnique map[string]*lane    // by the peer's unique name
	byFD     map[int]*lane       // by the lane socket's descriptor
	names    map[string]nameLane // well-known names the bus resolved for a lane
	asked    map[string]uint64   // destinations a lane was asked for, with the name generation then
	laneReqs map[uint64]string   // lane requests in flight, by cookie
	// The reader's epoll set (bus socket and lanes), made with the first lane, and how many
	// messages it has taken from the bus.
	ep       atomic.Pointer[os.File]
	epRaw    syscall.RawConn
	events   []unix.EpollEvent
	busFD    int
	consumed uint64
	stashed  []*lane // lanes holding a message back for the bus (lanes.go)

	closed    atomic.Bool
	broken    atomic.Pointer[error]
	wbroken   atomic.Pointer[error] // the bus hung up, but what it sent before is still to be read
	closeOnce sync.Once
}

// nameLane is a well-known name's lane, valid while the bus's name generation is gen.
type nameLane struct {
	ln  *lane
	gen uint64
}

// span is the part of the send area a send occupies until the bus has finished with it.
type span struct {
	cookie     uint64
	start, end int
}

// Dial connects to the bus at a kdbus: address entry (path= or abstract=).
func Dial(ctx context.Context, entry address.Address, opts Options) (*Conn, error) {
	sa, err := socketAddr(entry)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", sa)
	if err != nil {
		return nil, fmt.Errorf("native: connecting to %s: %w", entry, err)
	}
	c, err := handshake(ctx, nc.(*net.UnixConn), opts)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("native: %s: %w", entry, err)
	}
	return c, nil
}

// socketAddr returns the socket address of a kdbus: entry.
func socketAddr(a address.Address) (string, error) {
	if a.Transport != "kdbus" {
		return "", fmt.Errorf("native: address %s is not a kdbus: address", a)
	}
	if p, ok := a.Params["path"]; ok {
		return p, nil
	}
	if p, ok := a.Params["abstract"]; ok {
		return "@" + p, nil
	}
	return "", fmt.Errorf("native: address %s has neither path= nor abstract=", a)
}

func handshake(ctx context.Context, sock *net.UnixConn, opts Options) (*Conn, error) {
	if opts.PoolSize <= 0 {
		opts.PoolSize = DefaultPoolSize
	}
	if opts.SendSize <= 0 {
		opts.SendSize = DefaultSendSize
	}
	if opts.InlineMax == 0 {
		opts.InlineMax = DefaultInlineMax
	}
	if dl, ok := ctx.Deadline(); ok {
		sock.SetDeadline(dl)
		defer sock.SetDeadline(time.Time{})
	}
	areaFD, area, err := newSendArea(opts.SendSize)
	if err != nil {
		return nil, err
	}
	raw, err := sock.SyscallConn()
	if err != nil {
		unix.Munmap(area)
		unix.Close(areaFD)
		return nil, err
	}
	c := &Conn{
		lanesOn: !opts.NoLanes, ringSize: DefaultLaneRing,
		lanes: map[uint64]*lane{}, byUnique: map[string]*lane{}, byFD: map[int]*lane{},
		names: map[string]nameLane{}, asked: map[string]uint64{}, laneReqs: map[uint64]string{},
		sock: sock, raw: raw, fds: !opts.NoUnixFDs, inline: opts.InlineMax,
		area: area, areaFD: areaFD, wsem: make(chan struct{}, 1),
		waiters: make(map[uint64]chan ack),
		rbuf:    make([]byte, maxPacket),
		oob:     make([]byte, unix.CmsgSpace(4*maxPacketFDs)),
	}
	h := hello{version: Version, poolSize: uint64(opts.PoolSize), sendSize: uint64(len(area))}
	if c.fds {
		h.flags |= helloAcceptFDs
	}
	if !c.lanesOn {
		h.flags |= helloNoLanes
	}
	if _, _, err := sock.WriteMsgUnix(h.append(nil), unix.UnixRights(areaFD), nil); err != nil {
		c.releaseArea()
		return nil, fmt.Errorf("sending hello: %w", err)
	}
	n, oobn, _, _, err := sock.ReadMsgUnix(c.rbuf, c.oob)
	if err != nil {
		c.releaseArea()
		return nil, fmt.Errorf("reading the bus's welcome: %w", err)
	}
	fds, err := parseRights(c.oob[:oobn])
	if err != nil || len(fds) != 1 {
		closeFDs(fds)
		c.releaseArea()
		if opOf(c.rbuf[:n]) == opAck {
			if a, perr := parseAck(c.rbuf[:n]); perr == nil {
				return nil, &SendError{Name: a.name, Text: a.text}
			}
		}
		return nil, fmt.Errorf("the bus's welcome carried %d descriptors, want the pool's (%v)", len(fds), err)
	}
	w, err := parseWelcome(c.rbuf[:n])
	if err != nil {
		unix.Close(fds[0])
		c.releaseArea()
		return nil, err
	}
	m, err := memfd.MapPool(fds[0])
	unix.Close(fds[0])
	if err != nil {
		c.releaseArea()
		return nil, fmt.Errorf("mapping the receive pool: %w", err)
	}
	if w.version != Version {
		m.Close()
		c.releaseArea()
		return nil, fmt.Errorf("the bus speaks control protocol version %d, this client %d", w.version, Version)
	}
	c.pool, c.poolMem = m, m.Bytes()
	c.refs.Store(1)
	if len(c.poolMem) < controlSize {
		m.Close()
		c.releaseArea()
		return nil, fmt.Errorf("receive pool of %d bytes is too small", len(c.poolMem))
	}
	c.id, c.unique, c.guid = w.id, w.unique, w.guid
	c.bloom = bloom.Params{Size: int(w.bloomSize), Hashes: int(w.bloomHashes)}
	return c, nil
}

// newSendArea creates the send area: a memfd mapped shared and writable here, sealed so that
// its size is fixed (the bus maps it too, and a shrink would fault the bus's reads).
func newSendArea(size int) (int, []byte, error) {
	page := os.Getpagesize()
	size = (size + page - 1) / page * page
	fd, err := unix.MemfdCreate("kdbus-send", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, nil, fmt.Errorf("native: creating the send area: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("native: sizing the send area to %d bytes: %w", size, err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("native: mapping the send area: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, SendAreaSeals); err != nil {
		unix.Munmap(mem)
		unix.Close(fd)
		return -1, nil, fmt.Errorf("native: sealing the send area: %w", err)
	}
	return fd, mem, nil
}

// SendAreaSeals are the seals a send area carries: its size is fixed, so the bus's mapping of
// it cannot fault; its contents stay writable by the client, which is why the bus copies
// before it checks.
const SendAreaSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

func (c *Conn) releaseArea() {
	if c.area != nil {
		unix.Munmap(c.area)
		c.area = nil
	}
	if c.areaFD >= 0 {
		unix.Close(c.areaFD)
		c.areaFD = -1
	}
}

// UniqueName returns the connection's unique name on the bus.
func (c *Conn) UniqueName() string { return c.unique }

// ID returns the connection's id on the bus.
func (c *Conn) ID() uint64 { return c.id }

// GUID returns the bus's GUID.
func (c *Conn) GUID() string { return c.guid }

// Bloom returns the bus's bloom filter parameters.
func (c *Conn) Bloom() bloom.Params { return c.bloom }

// UnixFDs reports whether the connection accepts file descriptors.
func (c *Conn) UnixFDs() bool { return c.fds }

// NextSerial returns a fresh serial for a message sent on this connection.
func (c *Conn) NextSerial() uint32 {
	for {
		if s := c.serial.Add(1); s != 0 {
			return s
		}
	}
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	return Stats{Wakeups: c.wakeups.Load(), Received: c.received.Load(), Dropped: c.dropped.Load(), Undelivered: c.undelivered.Load()}
}

// Send sends m with fds, stamping a serial if m has none. It returns once the bus has the
// message, before it is routed: a failure to deliver comes back as an error reply for a call
// that expects one, and otherwise is reported by the next Sync. Signals carry the bloom filter
// computed from m.
func (c *Conn) Send(m *wire.Message, fds []int) error {
	_, err := c.send(context.Background(), m, fds, sendHeader{})
	return err
}

// SendOptions adjust a send.
type SendOptions struct {
	// Deadline, for a method call, is when its caller stops waiting for the reply: the bus
	// forgets the call then and answers the caller with a NoReply error at once, as kdbus did
	// for a call's timeout. The receiver learns it too (Record.Deadline), routed or over a
	// lane. Other messages ignore it.
	Deadline time.Time
	// Payloads marks the descriptors (bit i: fds[i], for the first 64) that are sealed memfd
	// payloads: the bus refuses the message unless each is a memfd sealed against writing,
	// growing and shrinking (memfd.PayloadSeals).
	Payloads uint64
}

func (o SendOptions) header() sendHeader {
	return sendHeader{payloads: o.Payloads, deadline: o.Deadline}
}

// SendCall sends m as Send does, with options. It waits for the bus to take the message only
// as long as ctx lasts: when ctx ends first, nothing is sent and it returns ctx's error.
func (c *Conn) SendCall(ctx context.Context, m *wire.Message, fds []int, opts SendOptions) error {
	_, err := c.send(ctx, m, fds, opts.header())
	return err
}

// SendAcked sends m and waits until the bus has routed it, returning a *SendError if it could
// not be delivered, or ctx's error if ctx ends first. Recv must be running on another
// goroutine.
func (c *Conn) SendAcked(ctx context.Context, m *wire.Message, fds []int, opts ...SendOptions) error {
	ch := make(chan ack, 1)
	var h sendHeader
	if len(opts) > 0 {
		h = opts[0].header()
	}
	h.flags |= sendWantAck
	cookie, err := c.send(ctx, m, fds, h, ch)
	if err != nil {
		return err
	}
	return c.wait(ctx, cookie, ch, m.Serial)
}

// Sync waits until the bus has routed every message sent before it and returns the failures
// of sends that had no other way to report them (a *SendError each, joined), clearing them.
// Recv must be running on another goroutine.
func (c *Conn) Sync(ctx context.Context) error {
	ch := make(chan ack, 1)
	if err := c.lockSend(ctx); err != nil {
		return err
	}
	c.cookie++
	cookie := c.cookie
	c.amu.Lock()
	c.waiters[cookie] = ch
	c.amu.Unlock()
	err := c.write(ctx, appendSync(c.wbuf[:0], cookie), nil)
	c.unlockSend()
	if err != nil {
		c.dropWaiter(cookie)
		return err
	}
	if err := c.wait(ctx, cookie, ch, 0); err != nil {
		return err
	}
	c.amu.Lock()
	fs := c.failures
	if c.lostFailures > 0 {
		fs = append(fs, fmt.Errorf("native: %d more sends failed", c.lostFailures))
	}
	c.failures, c.lostFailures = nil, 0
	c.amu.Unlock()
	return errors.Join(fs...)
}

func (c *Conn) wait(ctx context.Context, cookie uint64, ch chan ack, serial uint32) error {
	select {
	case a := <-ch:
		if a.name == "" {
			return nil
		}
		if a.name == errLocalDisconnect {
			return c.err()
		}
		return &SendError{Name: a.name, Text: a.text, Serial: serial}
	case <-ctx.Done():
		c.dropWaiter(cookie)
		return ctx.Err()
	}
}

func (c *Conn) dropWaiter(cookie uint64) {
	c.amu.Lock()
	delete(c.waiters, cookie)
	c.amu.Unlock()
}

// errLocalDisconnect marks the acks a closing connection hands its waiters.
const errLocalDisconnect = "\x00disconnected"

// send sends m with the flags and options in h, giving up when ctx ends before the bus takes
// it.
func (c *Conn) send(ctx context.Context, m *wire.Message, fds []int, h sendHeader, waiter ...chan ack) (uint64, error) {
	if err := c.writeErr(); err != nil {
		return 0, err
	}
	if len(fds) > 0 && !c.fds {
		return 0, errors.New("native: cannot send descriptors: the connection was opened with NoUnixFDs")
	}
	if m.Serial == 0 {
		m.Serial = c.NextSerial()
	}
	if m.Order == 0 {
		m.Order = wire.NativeOrder
	}
	m.UnixFDs = uint32(len(fds))
	m.Sender = ""
	// The pool's control words are read on the way: keep the pool mapped meanwhile, against
	// a Close on another goroutine.
	if !c.acquire() {
		return 0, ErrClosed
	}
	defer c.unref()
	if m.Type != wire.MethodCall {
		h.deadline = time.Time{} // only a call has one
	}
	if ln := c.laneFor(m, &h); ln != nil {
		sent, err := ln.send(ctx, m, fds, h.payloads, h.deadline)
		if sent {
			if err == nil && len(waiter) > 0 {
				waiter[0] <- ack{} // on a lane, a message is delivered once written
			}
			return 0, err
		}
		if m.Type == wire.MethodReturn || m.Type == wire.Error {
			h.flags |= sendLaneReply // the lane broke: the bus lets the reply through
		}
	}
	askLane := c.wantLane(m)
	var filter []byte
	if m.Type == wire.Signal && c.bloom.Size > 0 {
		f := bloom.ForMessage(c.bloom, m)
		filter = f.Bytes()
	}
	if err := c.lockSend(ctx); err != nil {
		return 0, err
	}
	defer c.unlockSend()
	if c.area == nil {
		return 0, c.writeErr() // closed meanwhile
	}
	c.cookie++
	h.cookie = c.cookie
	h.seq = c.sendSeq.Add(1)
	// The timeout is taken as late as it can be: the bus adds it to its clock when it reads
	// the packet, and the receiver's deadline is then later than the caller's only by the
	// time the packet waited in the socket.
	if !h.deadline.IsZero() {
		h.timeout = uint64(max(time.Until(h.deadline), 1))
	}
	if len(waiter) > 0 {
		c.amu.Lock()
		c.waiters[h.cookie] = waiter[0]
		c.amu.Unlock()
	}
	fail := func(err error) (uint64, error) {
		if len(waiter) > 0 {
			c.dropWaiter(h.cookie)
		}
		return 0, err
	}
	hdr, err := m.AppendHeader(c.hbuf[:0], len(m.Body))
	if err != nil {
		return fail(fmt.Errorf("native: encoding %s: %w", m, err))
	}
	c.hbuf = hdr[:0]
	total := len(hdr) + len(m.Body)
	if total > wire.MaxMessageSize {
		return fail(fmt.Errorf("native: message of %d bytes exceeds the D-Bus limit of %d", total, wire.MaxMessageSize))
	}
	h.length = uint64(total)
	// The releases a packet carries go back to the pending ones if it is not sent.
	frees := c.takeFrees()
	switch {
	case total <= c.inline:
		h.flags |= sendInline
		pkt := appendSend(c.wbuf[:0], h, filter, frees)
		pkt = append(pkt, hdr...)
		pkt = append(pkt, m.Body...)
		countCopy()
		c.wbuf = pkt[:0]
		if err := c.write(ctx, pkt, fds); err != nil {
			c.untakeFrees(frees)
			return fail(err)
		}
	case total <= len(c.area)/2:
		off, err := c.reserve(ctx, total)
		if err != nil {
			c.untakeFrees(frees)
			return fail(err)
		}
		copy(c.area[off:], hdr)
		copy(c.area[off+len(hdr):], m.Body)
		countCopy()
		h.offset = uint64(off)
		c.wbuf = appendSend(c.wbuf[:0], h, filter, frees)
		if err := c.write(ctx, c.wbuf, fds); err != nil {
			c.untakeFrees(frees)
			return fail(err)
		}
		c.spans = append(c.spans, span{cookie: h.cookie, start: off, end: off + (total+7)&^7})
		c.head = off + (total+7)&^7
	default:
		fd, err := messageMemfd(hdr, m.Body)
		if err != nil {
			c.untakeFrees(frees)
			return fail(err)
		}
		h.flags |= sendInFD
		c.wbuf = appendSend(c.wbuf[:0], h, filter, frees)
		err = c.write(ctx, c.wbuf, append(fds[:len(fds):len(fds)], fd))
		unix.Close(fd)
		if err != nil {
			c.untakeFrees(frees)
			return fail(err)
		}
	}
	c.busSends.Store(h.cookie)
	if askLane {
		c.requestLane(ctx, m.Destination)
	}
	return h.cookie, nil
}

// lockSend takes the turn to send, or gives up when ctx ends first.
func (c *Conn) lockSend(ctx context.Context) error {
	select {
	case c.wsem <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.wsem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Conn) unlockSend() { <-c.wsem }

// reserve finds total bytes in the send area, waiting for the bus to finish with earlier sends
// if it must, as long as ctx lasts. wsem is held.
func (c *Conn) reserve(ctx context.Context, total int) (int, error) {
	n := (total + 7) &^ 7
	for attempt := 0; ; attempt++ {
		consumed := atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.poolMem[ctrlConsumed])))
		i := 0
		for i < len(c.spans) && c.spans[i].cookie <= consumed {
			i++
		}
		c.spans = c.spans[i:]
		if len(c.spans) == 0 {
			c.spans = c.spans[:0]
			if n <= len(c.area) {
				return 0, nil
			}
		} else {
			// The live sends run from the oldest span's start to head, wrapping past the
			// end of the area when head is not beyond that start. head equal to it means
			// the area is full from there round to there, not that it is empty.
			tail := c.spans[0].start
			if c.head > tail {
				if c.head+n <= len(c.area) {
					return c.head, nil
				}
				if n <= tail {
					return 0, nil
				}
			} else if c.head+n <= tail {
				return c.head, nil
			}
		}
		if err := c.writeErr(); err != nil {
			return 0, err
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		// The bus is still copying earlier sends: give it a moment.
		if attempt < 100 {
			runtime.Gosched()
		} else {
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// messageMemfd puts a message too large for the send area into a sealed memfd of its own.
func messageMemfd(hdr, body []byte) (int, error) {
	fd, err := unix.MemfdCreate("kdbus-message", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("native: creating a memfd for a large message: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	countCopy()
	for off, b := 0, hdr; ; {
		for len(b) > 0 {
			n, err := unix.Pwrite(fd, b, int64(off))
			if err != nil {
				return -1, fmt.Errorf("native: writing a large message to its memfd: %w", err)
			}
			b, off = b[n:], off+n
		}
		if off >= len(hdr)+len(body) {
			break
		}
		b = body[off-len(hdr):]
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, memfd.PayloadSeals); err != nil {
		return -1, fmt.Errorf("native: sealing a large message's memfd: %w", err)
	}
	ok = true
	return fd, nil
}

// aLongTimeAgo is a write deadline that has passed: setting it wakes a blocked write.
var aLongTimeAgo = time.Unix(1, 0)

// write sends one control packet, waiting for room in the socket as long as ctx lasts. A
// packet is sent whole or not at all, so a write that ctx cut short sent nothing and leaves
// the connection as it was. wsem is held: only its holder ever waits to write, which is what
// makes the write deadline this goroutine's own.
func (c *Conn) write(ctx context.Context, pkt []byte, fds []int) error {
	var oob []byte
	if len(fds) > 0 {
		if len(fds) > maxPacketFDs {
			return fmt.Errorf("native: %d descriptors in one message, the limit is %d", len(fds), maxPacketFDs)
		}
		oob = unix.UnixRights(fds...)
	}
	sent, err := c.tryWrite(pkt, oob)
	if err != nil {
		return c.brokenWrite("writing to the bus failed", err)
	}
	if sent {
		return nil
	}
	if ctx.Done() == nil {
		if _, _, err := c.sock.WriteMsgUnix(pkt, oob, nil); err != nil {
			return c.brokenWrite("writing to the bus failed", err)
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The socket is full: the bus is busy or has stopped reading this connection. Wait for
	// room, but no longer than ctx lasts.
	var (
		dmu              sync.Mutex
		expired, written bool
	)
	stop := context.AfterFunc(ctx, func() {
		dmu.Lock()
		defer dmu.Unlock()
		if !written {
			expired = true
			c.sock.SetWriteDeadline(aLongTimeAgo)
		}
	})
	_, _, err = c.sock.WriteMsgUnix(pkt, oob, nil)
	if !stop() {
		dmu.Lock()
		written = true
		if expired {
			c.sock.SetWriteDeadline(time.Time{})
		}
		dmu.Unlock()
	}
	if err != nil {
		if expired && errors.Is(err, os.ErrDeadlineExceeded) {
			return ctx.Err()
		}
		return c.brokenWrite("writing to the bus failed", err)
	}
	return nil
}

// tryWrite sends one packet if the socket takes it at once; it reports false when the socket
// is full. It waits for nothing, so the reader may call it, and it ignores write deadlines.
func (c *Conn) tryWrite(pkt, oob []byte) (bool, error) {
	var serr error
	err := c.raw.Control(func(fd uintptr) {
		serr = unix.Sendmsg(int(fd), pkt, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	})
	if err != nil {
		return false, err
	}
	switch serr {
	case nil:
		return true, nil
	case unix.EAGAIN, unix.EINTR:
		return false, nil
	}
	return false, serr
}

// Recv returns the next message. Release it once its Body is no longer needed.
func (c *Conn) Recv() (Received, error) {
	// The reader reads the pool's control area while it waits; Close may run meanwhile, so
	// the reader holds the mapping for as long as it runs.
	if !c.acquire() {
		return Received{}, ErrClosed
	}
	defer c.unref()
	if c.closed.Load() {
		c.dropLanes()
		for i := range c.queue {
			closeFDs(c.queue[i].FDs)
			c.Release(&c.queue[i])
		}
		c.queue = nil
		closeFDs(c.fdq)
		c.fdq = nil
		return Received{}, ErrClosed
	}
	for len(c.queue) == 0 {
		var err error
		if c.ep.Load() == nil {
			err = c.readPacket(true)
		} else {
			err = c.poll()
		}
		if err != nil {
			return Received{}, err
		}
	}
	r := c.queue[0]
	c.queue[0] = Received{}
	c.queue = c.queue[1:]
	return r, nil
}

// readPacket reads one packet from the bus; without block, only if one is there.
func (c *Conn) readPacket(block bool) error {
	if err := c.err(); err != nil {
		return err
	}
	var n, oobn, flags int
	var err error
	if block {
		n, oobn, flags, _, err = c.sock.ReadMsgUnix(c.rbuf, c.oob)
	} else {
		var rerr error
		err = c.raw.Read(func(fd uintptr) bool {
			n, oobn, flags, _, rerr = unix.Recvmsg(int(fd), c.rbuf, c.oob, unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
			return true
		})
		if err == nil {
			err = rerr
		}
		if err == unix.EAGAIN || err == unix.EINTR {
			return nil
		}
		if err != nil {
			err = &net.OpError{Op: "read", Net: "unixpacket", Err: os.NewSyscallError("recvmsg", err)}
		}
	}
	if errors.Is(err, unix.ECONNRESET) {
		// The bus closed the socket while bytes of ours were unread on its side. Linux
		// reports that once, ahead of the packets the bus sent before it closed, which are
		// still queued here: read those, up to the end of the stream, before giving up.
		n, oobn, flags, _, err = c.sock.ReadMsgUnix(c.rbuf, c.oob)
	}
	if oobn > 0 {
		fds, perr := parseRights(c.oob[:oobn])
		c.fdq = append(c.fdq, fds...)
		if perr != nil {
			return c.fail("receiving descriptors failed", perr)
		}
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return c.fail("", ErrClosed)
		}
		return c.fail("reading from the bus failed", err)
	}
	if n == 0 {
		return c.fail("reading from the bus", io.EOF)
	}
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
		return c.fail("protocol error", errors.New("a control packet or its descriptors were truncated"))
	}
	pkt := c.rbuf[:n]
	switch opOf(pkt) {
	case opRecv:
		c.wakeups.Add(1)
		dropped, es, err := parseRecv(pkt, c.entries[:0])
		c.entries = es[:0]
		if err != nil {
			return c.fail("protocol error", err)
		}
		if dropped > 0 {
			c.dropped.Add(dropped)
		}
		for i, e := range es {
			r, err := c.decodeEntry(e)
			if err != nil {
				return c.fail("protocol error", err)
			}
			c.consumed++
			if i == 0 {
				r.Dropped = dropped
			}
			if len(c.lanes) > 0 {
				c.beforeBusMessage(&r)
			}
			c.queue = append(c.queue, r)
		}
		if len(c.fdq) > 0 {
			return c.fail("protocol error", fmt.Errorf("%d descriptors arrived that no message claims", len(c.fdq)))
		}
	case opLaneOpen:
		o, err := parseLaneOpen(pkt)
		if err != nil || len(c.fdq) > 1 {
			return c.fail("protocol error", errors.Join(err, fmt.Errorf("a laneopen with %d descriptors", len(c.fdq))))
		}
		fd := -1
		if len(c.fdq) == 1 {
			fd = c.fdq[0]
		}
		c.fdq = c.fdq[:0]
		c.laneOpened(o, fd)
	case opAck:
		a, err := parseAck(pkt)
		if err != nil {
			return c.fail("protocol error", err)
		}
		if c.laneAnswered(a.cookie) {
			closeFDs(c.fdq)
			c.fdq = c.fdq[:0]
			break
		}
		c.amu.Lock()
		ch, ok := c.waiters[a.cookie]
		delete(c.waiters, a.cookie)
		if !ok && a.name != "" {
			c.undelivered.Add(1)
			if len(c.failures) < maxFailures {
				c.failures = append(c.failures, &SendError{Name: a.name, Text: a.text})
			} else {
				c.lostFailures++
			}
		}
		c.amu.Unlock()
		if ok {
			ch <- a
		}
		closeFDs(c.fdq)
		c.fdq = c.fdq[:0]
	default:
		return c.fail("protocol error", malformed("unknown op %d", opOf(pkt)))
	}
	return nil
}

// decodeEntry decodes the message an entry points to, in place in the pool.
func (c *Conn) decodeEntry(e entry) (Received, error) {
	end := e.offset + uint64(e.length)
	if e.offset < controlSize || e.length < recordSize || end > uint64(len(c.poolMem)) || end < e.offset {
		return Received{}, fmt.Errorf("the bus pointed at bytes %d..%d of a %d-byte pool", e.offset, end, len(c.poolMem))
	}
	if int(e.nfds) > len(c.fdq) {
		return Received{}, fmt.Errorf("a message claims %d descriptors, %d arrived", e.nfds, len(c.fdq))
	}
	r := Received{offset: e.offset, size: int(e.length)}
	r.FDs = append([]int(nil), c.fdq[:e.nfds]...)
	c.fdq = c.fdq[e.nfds:]
	if !c.acquire() {
		closeFDs(r.FDs)
		return Received{}, ErrClosed
	}
	slice := c.poolMem[e.offset:end:end]
	rec, mlen := parseRecord(slice)
	if mlen > len(slice)-recordSize {
		closeFDs(r.FDs)
		c.unref()
		return Received{}, fmt.Errorf("a message of %d bytes in a slice of %d", mlen, len(slice))
	}
	r.Record = rec
	m := new(wire.Message)
	if err := m.Decode(slice[recordSize : recordSize+mlen]); err != nil {
		closeFDs(r.FDs)
		c.unref()
		return Received{}, err
	}
	r.Msg = m
	c.received.Add(1)
	return r, nil
}

// Release hands a received message's pool slice back to the bus; its Body must not be used
// afterwards. Releases are batched: they ride along with the next message sent, or go out on
// their own once freeBatch of them wait or freeDelay has passed. Release never waits for the
// socket, so the reader may call it while the bus waits for the reader: what the socket does
// not take at once is left to another goroutine. Releasing twice is a bug the bus answers by
// disconnecting.
func (c *Conn) Release(r *Received) {
	if r.Msg == nil {
		return
	}
	r.Msg = nil
	if r.lane {
		if r.unmap != nil {
			unix.Munmap(r.unmap)
			r.unmap = nil
		}
		wire.PutBuffer(r.buf)
		r.buf = nil
		return
	}
	c.fmu.Lock()
	c.frees = append(c.frees, r.offset)
	c.freeBytes += r.size
	n := len(c.frees)
	if c.freeBytes >= len(c.poolMem)/16 {
		n = freeBatch // enough memory waits to be worth a packet of its own
	}
	switch {
	case n >= freeBatch && (!c.fflush || n%freeBatch == 0):
		// Written at once even while a flush is under way: the flushing goroutine may not
		// run for a while, and releases must not pile up behind it.
		c.tryFlushFrees()
	case c.fflush:
		// A flush is under way and takes these along.
	case n == 1:
		if c.ftimer == nil {
			c.ftimer = time.AfterFunc(freeDelay, c.flushFrees)
		} else {
			c.ftimer.Reset(freeDelay)
		}
	}
	c.fmu.Unlock()
	c.unref()
}

// tryFlushFrees sends the pending releases as far as the socket takes them at once, and starts
// flushFrees for the rest. c.fmu is held.
func (c *Conn) tryFlushFrees() {
	if c.writeErr() != nil {
		c.frees, c.freeBytes = c.frees[:0], 0
		return
	}
	for len(c.frees) > 0 {
		k := min(len(c.frees), (maxPacket-8)/8)
		c.fpkt = appendFree(c.fpkt[:0], c.frees[:k])
		sent, err := c.tryWrite(c.fpkt, nil)
		if err != nil {
			c.frees, c.freeBytes = c.frees[:0], 0
			c.brokenWrite("writing to the bus failed", err)
			return
		}
		if !sent {
			if !c.fflush {
				c.fflush = true
				go c.flushFrees()
			}
			return
		}
		c.frees = append(c.frees[:0], c.frees[k:]...)
	}
	c.freeBytes = 0
	if c.ftimer != nil {
		c.ftimer.Stop()
	}
}

// takeFrees returns the pending releases for a send packet to carry, at most sendFrees of
// them. wsem is held.
func (c *Conn) takeFrees() []uint64 {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	k := min(len(c.frees), sendFrees)
	if k == 0 {
		return nil
	}
	c.sfrees = append(c.sfrees[:0], c.frees[:k]...)
	c.frees = append(c.frees[:0], c.frees[k:]...)
	if len(c.frees) == 0 {
		c.freeBytes = 0
		if c.ftimer != nil {
			c.ftimer.Stop()
		}
	}
	return c.sfrees
}

// untakeFrees puts back the releases of a send packet that was not sent. wsem is held.
func (c *Conn) untakeFrees(frees []uint64) {
	if len(frees) == 0 {
		return
	}
	c.fmu.Lock()
	c.frees = append(c.frees, frees...)
	c.fmu.Unlock()
}

// acquire takes a reference on the pool mapping; it fails once the pool is unmapped.
func (c *Conn) acquire() bool {
	for {
		n := c.refs.Load()
		if n <= 0 {
			return false
		}
		if c.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unref drops a reference; the last one unmaps the pool.
func (c *Conn) unref() {
	if c.refs.Add(-1) == 0 && c.pool != nil {
		c.pool.Close()
	}
}

// flushFrees sends the pending releases, waiting for room in the socket if it must. It runs on
// a goroutine of its own (a timer's, or one tryFlushFrees started), never on the reader's, and
// takes its turn with the senders so that it is the only writer waiting.
func (c *Conn) flushFrees() {
	c.fmu.Lock()
	if c.ftimer != nil {
		c.ftimer.Stop()
	}
	if len(c.frees) == 0 || c.writeErr() != nil {
		c.frees, c.freeBytes, c.fflush = c.frees[:0], 0, false
		c.fmu.Unlock()
		return
	}
	c.fflush = true
	c.fmu.Unlock()
	c.lockSend(context.Background())
	defer c.unlockSend()
	var pkt []byte
	for {
		c.fmu.Lock()
		if len(c.frees) == 0 || c.writeErr() != nil {
			c.frees, c.freeBytes, c.fflush = c.frees[:0], 0, false
			c.fmu.Unlock()
			return
		}
		k := min(len(c.frees), (maxPacket-8)/8)
		pkt = appendFree(pkt[:0], c.frees[:k])
		c.frees = append(c.frees[:0], c.frees[k:]...)
		c.freeBytes = 0
		c.fmu.Unlock()
		if err := c.write(context.Background(), pkt, nil); err != nil {
			continue // the connection is broken: the next round clears up
		}
	}
}

// hangup reports whether err says the bus closed its end of the connection.
func hangup(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE)
}

// fail records the first error that broke the connection, closes the socket, wakes every
// waiter, and returns the recorded error.
func (c *Conn) fail(reason string, cause error) error {
	var err error
	switch {
	case errors.Is(cause, ErrClosed):
		err = ErrClosed
	case hangup(cause):
		// Nothing this end sent can be blamed: the bus hung up on its own account.
		err = fmt.Errorf("%w: the bus closed the connection: it exited, or it disconnected this client (%s: %w)", ErrDisconnected, reason, cause)
	case cause == nil:
		err = fmt.Errorf("%w: %s", ErrDisconnected, reason)
	default:
		err = fmt.Errorf("%w: %s: %w", ErrDisconnected, reason, cause)
	}
	c.broken.CompareAndSwap(nil, &err)
	c.closeOnce.Do(func() { c.sock.Close() })
	c.amu.Lock()
	ws := c.waiters
	c.waiters = map[uint64]chan ack{}
	c.amu.Unlock()
	for _, ch := range ws {
		ch <- ack{name: errLocalDisconnect}
	}
	return *c.broken.Load()
}

// brokenWrite handles a write that failed. When the bus hung up, the socket stays open for
// reading: what the bus sent before it hung up (a reply, an error, the acknowledgement of the
// very send that broke it) is still in the socket, and the reader delivers it before it meets
// the end of the stream, which then breaks the connection for good (fail). Until then every
// write fails with the returned error. Any other failure breaks the connection at once.
func (c *Conn) brokenWrite(reason string, cause error) error {
	if !hangup(cause) {
		return c.fail(reason, cause)
	}
	err := fmt.Errorf("%w: the bus closed the connection: it exited, or it disconnected this client (%s: %w)", ErrDisconnected, reason, cause)
	c.wbroken.CompareAndSwap(nil, &err)
	return *c.wbroken.Load()
}

// writeErr returns the error that keeps the connection from being written to, if any.
func (c *Conn) writeErr() error {
	if err := c.err(); err != nil {
		return err
	}
	if p := c.wbroken.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *Conn) err() error {
	if p := c.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// Close closes the connection. The pool stays mapped until every received message is
// released.
func (c *Conn) Close() error {
	c.fail("", ErrClosed)
	c.breakLanes()
	if ep := c.ep.Load(); ep != nil {
		ep.Close() // wakes the reader, which releases the lanes
	}
	if c.closed.Swap(true) {
		return nil
	}
	c.lockSend(context.Background())
	c.releaseArea()
	c.unlockSend()
	c.unref()
	return nil
}

// parseRights extracts the descriptors of a control message (close-on-exec).
func parseRights(oob []byte) ([]int, error) {
	fds, _, err := parseControl(oob)
	return fds, err
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
