// Package classic is the classic D-Bus transport: a stream connection over an AF_UNIX socket,
// authenticated with SASL EXTERNAL, carrying messages in the D-Bus wire format with file
// descriptors passed as SCM_RIGHTS.
//
// A Conn sends from any number of goroutines and receives on one: Recv never holds the lock
// that Send takes, so a blocked reader never stalls writers.
package classic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/kdbus-go/kdbus/transport/address"
	"github.com/kdbus-go/kdbus/transport/sasl"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// The bus driver's well-known coordinates.
const (
	BusName      = "org.freedesktop.DBus"
	BusPath      = "/org/freedesktop/DBus"
	BusInterface = "org.freedesktop.DBus"
)

// chunkSize is the size of the buffers that received messages are carved from.
const chunkSize = 64 << 10

// Options adjust Dial.
type Options struct {
	// NoHello skips the Hello call, for peer-to-peer connections that have no bus driver.
	NoHello bool
	// NoUnixFDs skips asking for file descriptor passing.
	NoUnixFDs bool
	// UID overrides the decimal user ID sent in the EXTERNAL authentication (default:
	// os.Getuid).
	UID string
}

// Conn is an authenticated connection to a bus or a peer.
type Conn struct {
	sock   *net.UnixConn
	guid   string
	unixFD bool
	unique string
	order  wire.ByteOrder

	serial atomic.Uint32

	wmu      sync.Mutex
	wbuf     []byte
	unsent   []byte // the rest of a message TrySend started, written first by the next write
	lastSent atomic.Int64
	// lastSentAt is when the last message was sent, in Unix nanoseconds.
	lastSentAt atomic.Int64

	// reader state, owned by the goroutine in Recv
	rmu       sync.Mutex
	rbuf      []byte // what the socket returned; rbuf[rpos:rend] is unread
	rpos      int
	rend      int
	offset    int64 // stream offset of rbuf[rpos]
	oob       []byte
	fdq       []int      // received descriptors no message has claimed yet
	fdBatches []fdBatch  // fdq by the read that brought them, to tell whose they are
	newFDs    int        // descriptors of the read in progress
	pending   []Received // messages read during Dial, delivered first
	quota     Quota
	held      int           // bytes charged to quota for the message being read
	done      chan struct{} // closed when the connection closes

	// maxMsg, when positive, is the largest message this side accepts (a bus's
	// max_message_size); a larger one breaks the connection before it is read.
	maxMsg int

	closeOnce sync.Once
	broken    atomic.Pointer[error]
}

// Received is a message with the file descriptors that came with it, which the receiver
// owns (they are close-on-exec).
type Received struct {
	Msg *wire.Message
	FDs []int
	// Charged is the number of bytes charged to the connection's Quota for the message; the
	// receiver now owns that charge, and the descriptors' charge, and releases both (see
	// Quota.Release) when it no longer holds the message.
	Charged int
}

// Quota accounts for what a connection holds of what its peer sent, before the memory is
// allocated: a bus uses it to bound each sender and each user, and to stop reading a sender
// whose messages its receivers have not yet taken (see SetQuota).
type Quota interface {
	// Reserve charges n more bytes of the message being read, before they are allocated.
	// It blocks while they do not fit, and returns an error only when done is closed.
	Reserve(done <-chan struct{}, n int) error
	// AddFDs charges n descriptors that arrived; they are in the process already, so they
	// cannot be refused, only counted.
	AddFDs(n int)
	// Release returns a charge: bytes and descriptors no longer held.
	Release(bytes, fds int)
}

// SetQuota makes the connection charge q for what it reads. Call it before the first Recv.
func (c *Conn) SetQuota(q Quota) { c.quota = q }

// Done is closed when the connection closes, by Close or because it broke.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Dial connects to the first usable entry of a D-Bus address list (such as the value of
// DBUS_SESSION_BUS_ADDRESS), authenticates, and unless opts.NoHello is set, calls Hello to
// obtain a unique name. ctx bounds the whole setup.
func Dial(ctx context.Context, addr string, opts Options) (*Conn, error) {
	list, err := address.Parse(addr)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range list {
		network, target, err := a.DialTarget()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var d net.Dialer
		nc, err := d.DialContext(ctx, network, target)
		if err != nil {
			errs = append(errs, fmt.Errorf("dial %s: %w", a, err))
			continue
		}
		c, err := newConn(ctx, nc.(*net.UnixConn), a.GUID(), opts)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a, err))
			continue
		}
		return c, nil
	}
	return nil, fmt.Errorf("dbus: could not connect to %q: %w", addr, errors.Join(errs...))
}

// NewConn authenticates over an already connected socket (from a socketpair, or systemd
// socket activation on the client side) and, unless opts.NoHello is set, calls Hello.
func NewConn(ctx context.Context, sock *net.UnixConn, opts Options) (*Conn, error) {
	return newConn(ctx, sock, "", opts)
}

func newConn(ctx context.Context, sock *net.UnixConn, wantGUID string, opts Options) (*Conn, error) {
	c := &Conn{sock: sock, order: wire.NativeOrder, oob: make([]byte, unix.CmsgSpace(wire.MaxUnixFDs*4)), done: make(chan struct{})}
	if dl, ok := ctx.Deadline(); ok {
		sock.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { sock.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	cfg := sasl.ClientConfig{NegotiateUnixFD: !opts.NoUnixFDs, UID: opts.UID}
	res, err := sasl.Client(sock, cfg)
	if err != nil {
		sock.Close()
		return nil, ctxErr(ctx, fmt.Errorf("authentication: %w", err))
	}
	if wantGUID != "" && !strings.EqualFold(res.GUID, wantGUID) {
		sock.Close()
		return nil, fmt.Errorf("the server's GUID %s differs from the %s the address names: wrong server at this address", res.GUID, wantGUID)
	}
	c.guid, c.unixFD = res.GUID, res.UnixFD
	if !opts.NoHello {
		if err := c.hello(); err != nil {
			c.Close()
			return nil, ctxErr(ctx, fmt.Errorf("Hello: %w", err))
		}
	}
	if !stop() && ctx.Err() != nil {
		c.Close()
		return nil, ctx.Err()
	}
	sock.SetDeadline(time.Time{})
	return c, nil
}

// ctxErr reports a setup failure caused by ctx as ctx's error. The socket deadline mirrors
// ctx's, so it can expire a moment before ctx itself reports that.
func ctxErr(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if _, ok := ctx.Deadline(); ok && cerr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// hello calls org.freedesktop.DBus.Hello and keeps any other message that arrives first.
func (c *Conn) hello() error {
	call := &wire.Message{
		Type: wire.MethodCall, Destination: BusName, Path: BusPath,
		Interface: BusInterface, Member: "Hello",
	}
	if err := c.Send(call, nil); err != nil {
		return err
	}
	for {
		r, err := c.recv()
		if err != nil {
			return err
		}
		m := r.Msg
		if m.ReplySerial != call.Serial || (m.Type != wire.MethodReturn && m.Type != wire.Error) {
			c.pending = append(c.pending, r)
			continue
		}
		if m.Type == wire.Error {
			return fmt.Errorf("the bus answered with error %s", m.ErrorName)
		}
		if m.Signature != "s" {
			return fmt.Errorf("Hello reply has signature %q, want \"s\"", m.Signature)
		}
		d := wire.NewDecoder(m.Body, m.Order)
		name := d.String()
		if err := d.Done(); err != nil {
			return fmt.Errorf("Hello reply: %w", err)
		}
		if err := wire.ValidateUniqueName(name); err != nil {
			return fmt.Errorf("Hello reply: %w", err)
		}
		c.unique = name
		return nil
	}
}

// GUID returns the server's GUID from authentication.
func (c *Conn) GUID() string { return c.guid }

// UniqueName returns the unique name the bus assigned in Hello, or "" without Hello.
func (c *Conn) UniqueName() string { return c.unique }

// UnixFDs reports whether the peer agreed to file descriptor passing.
func (c *Conn) UnixFDs() bool { return c.unixFD }

// NextSerial allocates a message serial: never zero, unique until it wraps after 2³²−1.
func (c *Conn) NextSerial() uint32 {
	for {
		if s := c.serial.Add(1); s != 0 {
			return s
		}
	}
}

// Send writes m with the given file descriptors (which stay owned by the caller). A zero
// m.Serial is replaced by a fresh serial; m.Order, when unset, becomes the native order, and
// m.UnixFDs is set to len(fds). Send is safe for concurrent use.
func (c *Conn) Send(m *wire.Message, fds []int) error {
	if err := c.prepare(m, fds); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushPending(); err != nil {
		return err
	}
	hdr, body, err := c.encode(m)
	if err != nil {
		return err
	}
	if err := c.write(hdr, fds); err != nil {
		return err
	}
	if len(body) > 0 {
		if err := c.write(body, nil); err != nil {
			return err
		}
	}
	return nil
}

// TrySend sends m only if that cannot block: it reports false, having written nothing, when
// the socket cannot take the start of the message now, or when bytes of an earlier message
// are still waiting. Once the start is written, the message counts as sent: a rest that did
// not fit is kept and written before anything else (by Flush or the next Send). A bus uses it
// to write from the goroutine that routed the message, and leaves what does not fit to a
// writer goroutine, so that no receiver can stall a sender.
func (c *Conn) TrySend(m *wire.Message, fds []int) (bool, error) {
	if err := c.prepare(m, fds); err != nil {
		return false, err
	}
	if len(m.Body) > chunkSize {
		return false, nil // large bodies go out without a copy, by Send
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if len(c.unsent) > 0 {
		return false, nil
	}
	hdr, _, err := c.encode(m)
	if err != nil {
		return false, err
	}
	raw, err := c.sock.SyscallConn()
	if err != nil {
		return false, c.fail("writing a message failed", err)
	}
	var n int
	var serr error
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := raw.Write(func(fd uintptr) bool {
		n, serr = unix.SendmsgN(int(fd), hdr, oob, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		return true
	}); err != nil {
		return false, c.fail("writing a message failed", err)
	}
	switch {
	case serr == unix.EAGAIN || serr == unix.EWOULDBLOCK:
		return false, nil
	case serr != nil:
		return false, c.fail("writing a message failed", serr)
	case n < len(hdr):
		c.unsent = append(c.unsent[:0], hdr[n:]...)
	}
	return true, nil
}

// Flush writes what TrySend could not, blocking until it is written.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushPending()
}

func (c *Conn) flushPending() error {
	if len(c.unsent) == 0 {
		return nil
	}
	err := c.write(c.unsent, nil)
	c.unsent = c.unsent[:0]
	return err
}

// prepare checks m and fds and fills in what Send fills in.
func (c *Conn) prepare(m *wire.Message, fds []int) error {
	if err := c.err(); err != nil {
		return err
	}
	if len(fds) > 0 && !c.unixFD {
		return fmt.Errorf("dbus: cannot send %d file descriptors: the peer did not agree to descriptor passing", len(fds))
	}
	if len(fds) > wire.MaxUnixFDs {
		return fmt.Errorf("dbus: cannot send %d file descriptors: at most %d fit one message", len(fds), wire.MaxUnixFDs)
	}
	if m.Serial == 0 {
		m.Serial = c.NextSerial()
	}
	if m.Order == 0 {
		m.Order = c.order
	}
	m.UnixFDs = uint32(len(fds))
	return nil
}

// encode writes m's header into the write buffer, followed by its body when that is small;
// a large body is returned to be written from the caller's buffer, without a copy. The
// caller holds wmu.
func (c *Conn) encode(m *wire.Message) (hdr, body []byte, err error) {
	hdr, err = m.AppendHeader(c.wbuf[:0], len(m.Body))
	if err != nil {
		return nil, nil, err
	}
	body = m.Body
	if len(body) <= chunkSize {
		hdr = append(hdr, body...)
		body = nil
	}
	if cap(hdr) <= 4*chunkSize {
		c.wbuf = hdr
	}
	c.lastSent.Store(int64(len(hdr) + len(body)))
	c.lastSentAt.Store(time.Now().UnixNano())
	return hdr, body, nil
}

// write sends b, with fds attached to its first byte, completing partial writes.
func (c *Conn) write(b []byte, fds []int) error {
	if len(fds) > 0 {
		n, _, err := c.sock.WriteMsgUnix(b, unix.UnixRights(fds...), nil)
		if err != nil {
			return c.fail("writing a message failed", err)
		}
		b = b[n:]
	}
	if len(b) > 0 {
		if _, err := c.sock.Write(b); err != nil {
			return c.fail("writing a message failed", err)
		}
	}
	return nil
}

// Recv returns the next message. It is not safe for concurrent use with itself, but runs
// alongside Send. Messages of types this package does not know are returned too; callers
// ignore them as the specification says.
func (c *Conn) Recv() (Received, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.pending) > 0 {
		r := c.pending[0]
		c.pending = c.pending[1:]
		return r, nil
	}
	return c.recv()
}

func (c *Conn) recv() (Received, error) {
	if err := c.err(); err != nil {
		return Received{}, err
	}
	if err := c.fill(wire.FixedHeaderSize); err != nil {
		return Received{}, err
	}
	total, err := wire.MessageLength(c.rbuf[c.rpos:c.rend])
	if err != nil {
		return Received{}, c.fail("the peer sent bytes that are not a D-Bus message", err)
	}
	if c.maxMsg > 0 && total > c.maxMsg {
		return Received{}, c.fail("protocol error", fmt.Errorf("the peer sent a message of %d bytes, over the limit of %d", total, c.maxMsg))
	}
	buf, err := c.readMessage(total)
	if err != nil {
		return Received{}, err
	}
	m, err := wire.DecodeMessage(buf)
	if err != nil {
		return Received{}, c.fail("the peer sent an invalid message", err)
	}
	r := Received{Msg: m, Charged: c.held}
	if m.UnixFDs > 0 {
		if !c.unixFD {
			return Received{}, c.fail("protocol error", fmt.Errorf("message %s declares %d file descriptors, but descriptor passing was not negotiated", m, m.UnixFDs))
		}
		if int(m.UnixFDs) > len(c.fdq) {
			return Received{}, c.fail("protocol error", fmt.Errorf("message %s declares %d file descriptors but %d arrived", m, m.UnixFDs, len(c.fdq)))
		}
		r.FDs = c.takeFDs(int(m.UnixFDs))
	}
	// Descriptors that arrived with bytes of this message or earlier ones, and that this
	// message did not claim, belong to no message: the sender is hoarding them in the bus.
	if n := c.unclaimed(); n > 0 {
		closeFDs(r.FDs)
		if c.quota != nil {
			c.quota.Release(0, len(r.FDs))
		}
		return Received{}, c.fail("protocol error", fmt.Errorf("%d file descriptors arrived that no message declares (message %s declares %d)", n, m, m.UnixFDs))
	}
	c.held = 0
	return r, nil
}

// readMessage returns the next total bytes of the stream in a buffer of their own, which is
// grown only as bytes arrive and charged to the quota before each allocation, so that a
// length a peer announces and never sends costs nothing.
func (c *Conn) readMessage(total int) ([]byte, error) {
	first := min(total, max(c.rend-c.rpos, minAlloc))
	if err := c.charge(first); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, first)
	for {
		n := min(total-len(buf), c.rend-c.rpos, cap(buf)-len(buf))
		buf = append(buf, c.rbuf[c.rpos:c.rpos+n]...)
		c.rpos += n
		c.offset += int64(n)
		if len(buf) == total {
			return buf, nil
		}
		if len(buf) == cap(buf) {
			grown := min(total, 2*cap(buf))
			if err := c.charge(grown - cap(buf)); err != nil {
				return nil, err
			}
			buf = append(make([]byte, 0, grown), buf...)
			continue // take what the read buffer still holds first
		}
		// A large rest is read straight into the message; a small one into the read buffer,
		// which then picks up the start of the next messages in the same system call.
		if rest := buf[len(buf):cap(buf)]; len(rest) >= len(c.rbuf) {
			k, err := c.read(rest)
			if err != nil {
				return nil, err
			}
			c.offset += int64(k)
			buf = buf[:len(buf)+k]
			c.noteFDs()
			if len(buf) == total {
				return buf, nil
			}
			continue
		}
		c.rpos, c.rend = 0, 0
		if err := c.fill(1); err != nil {
			return nil, err
		}
	}
}

// minAlloc is the smallest buffer a message starts with when fewer of its bytes have arrived.
const minAlloc = 4 << 10

// charge accounts n more bytes of the message being read before they are allocated; it
// waits while the quota has no room, which stops reading from this peer.
func (c *Conn) charge(n int) error {
	if c.quota == nil || n == 0 {
		return nil
	}
	if err := c.quota.Reserve(c.done, n); err != nil {
		return c.fail("the connection closed while waiting for room to read", err)
	}
	c.held += n
	return nil
}

// fill makes at least n unread bytes available in the read buffer, moving unread bytes to
// its front first when they would not fit.
func (c *Conn) fill(n int) error {
	if c.rend-c.rpos >= n {
		return nil
	}
	if c.rbuf == nil {
		c.rbuf = make([]byte, chunkSize)
	}
	if len(c.rbuf)-c.rpos < n {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for c.rend-c.rpos < n {
		k, err := c.read(c.rbuf[c.rend:])
		if err != nil {
			return err
		}
		c.rend += k
		c.noteFDs()
	}
	return nil
}

// noteFDs records where in the stream the descriptors of the last read must be claimed:
// the kernel hands descriptors out with the bytes they were sent with, so a message that
// claims them starts before the end of that read.
func (c *Conn) noteFDs() {
	if c.newFDs == 0 {
		return
	}
	c.fdBatches = append(c.fdBatches, fdBatch{n: c.newFDs, end: c.offset + int64(c.rend-c.rpos)})
	c.newFDs = 0
}

// takeFDs hands out the first n queued descriptors.
func (c *Conn) takeFDs(n int) []int {
	fds := append([]int(nil), c.fdq[:n]...)
	c.fdq = c.fdq[n:]
	for n > 0 {
		k := min(n, c.fdBatches[0].n)
		c.fdBatches[0].n -= k
		n -= k
		if c.fdBatches[0].n == 0 {
			c.fdBatches = c.fdBatches[1:]
		}
	}
	return fds
}

// unclaimed counts the queued descriptors that the messages read so far should have
// claimed: those that came in a read that ended at or before the end of the last message.
func (c *Conn) unclaimed() int {
	n := 0
	for _, b := range c.fdBatches {
		if b.end <= c.offset {
			n += b.n
		}
	}
	return n
}

// fdBatch is the descriptors of one read: n of them, to be claimed by a message that starts
// before stream offset end.
type fdBatch struct {
	n   int
	end int64
}

// read reads into p, collecting any file descriptors that arrive.
func (c *Conn) read(p []byte) (int, error) {
	n, oobn, flags, _, err := c.sock.ReadMsgUnix(p, c.oob)
	if oobn > 0 {
		if perr := c.collectFDs(c.oob[:oobn]); perr != nil {
			return 0, c.fail("receiving file descriptors failed", perr)
		}
	}
	if flags&syscall.MSG_CTRUNC != 0 {
		return 0, c.fail("protocol error", errors.New("file descriptors were truncated: the peer sent more than fit one message"))
	}
	if c.newFDs > 0 && !c.unixFD {
		return 0, c.fail("protocol error", fmt.Errorf("the peer sent %d file descriptors, but descriptor passing was not negotiated", c.newFDs))
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return 0, c.fail("", ErrClosed)
		}
		return 0, c.fail("reading failed", err)
	}
	if n == 0 {
		return 0, c.fail("the other end closed the connection", io.EOF)
	}
	return n, nil
}

func (c *Conn) collectFDs(oob []byte) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			return err
		}
		c.fdq = append(c.fdq, fds...)
		c.newFDs += len(fds)
		if c.quota != nil {
			c.quota.AddFDs(len(fds))
		}
	}
	// One message carries at most wire.MaxUnixFDs; a read can end one message and start the
	// next, so more than two messages' worth waiting is a peer piling descriptors up.
	if len(c.fdq) > 2*wire.MaxUnixFDs {
		return fmt.Errorf("%d file descriptors arrived ahead of the messages that would claim them", len(c.fdq))
	}
	return nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// fail records the first error that broke the connection, closes the socket, and returns the
// recorded error.
func (c *Conn) fail(reason string, cause error) error {
	var err error
	switch {
	case errors.Is(cause, ErrClosed):
		err = ErrClosed
	default:
		de := &DisconnectError{Reason: reason, Cause: cause, LastSent: int(c.lastSent.Load())}
		if at := c.lastSentAt.Load(); at != 0 {
			de.SinceSent = time.Since(time.Unix(0, at))
		}
		err = de
	}
	c.broken.CompareAndSwap(nil, &err)
	c.closeSocket()
	return *c.broken.Load()
}

func (c *Conn) err() error {
	if p := c.broken.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *Conn) closeSocket() {
	c.closeOnce.Do(func() {
		c.sock.Close()
		close(c.done)
	})
}

// Close closes the connection. Pending Recv and Send calls return ErrClosed; descriptors
// received but not yet handed out are closed.
func (c *Conn) Close() error {
	err := ErrClosed
	c.broken.CompareAndSwap(nil, &err)
	c.closeSocket()
	c.rmu.Lock()
	closeFDs(c.fdq)
	if c.quota != nil {
		c.quota.Release(c.held, len(c.fdq))
	}
	c.fdq, c.fdBatches, c.held = nil, nil, 0
	for _, r := range c.pending {
		closeFDs(r.FDs)
	}
	c.pending = nil
	c.rbuf = nil
	c.rmu.Unlock()
	return nil
}

// PeerCredentials returns the credentials of the process at the other end of the socket, as
// the kernel recorded them when it connected (SO_PEERCRED).
func (c *Conn) PeerCredentials() (*unix.Ucred, error) {
	raw, err := c.sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	var uc *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		uc, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return uc, serr
}
