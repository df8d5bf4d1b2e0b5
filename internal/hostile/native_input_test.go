package hostile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/internal/bustest"
	"github.com/kdbus-go/kdbus/internal/dbustest"
	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// This file sends kdbusd's native control socket every kind of malformed packet a client can
// write (see transport/native/protocol.go for the formats). Each must close only the offender,
// or refuse the one send with an error the offender hears; the bus must release everything
// the offender held, stay up, and keep serving a bystander. dbus-daemon has no native socket.

// The control protocol's opcodes and flags, as a client writes them.
const (
	ninputHello     = 1
	ninputSend      = 2
	ninputFree      = 3
	ninputSync      = 4
	ninputRecv      = 102
	ninputAck       = 103
	ninputWantAck   = 1 << 0
	ninputInline    = 1 << 1
	ninputInFD      = 1 << 2
	ninputAreaSize  = 64 << 10
	ninputVersion   = 3
	ninputAcceptFDs = 1
)

var ninputNE = binary.NativeEndian

// ninputHelloPkt is a hello packet.
func ninputHelloPkt(version uint32, poolSize uint64) []byte {
	b := ninputNE.AppendUint32(nil, ninputHello)
	b = ninputNE.AppendUint32(b, version)
	b = ninputNE.AppendUint64(b, ninputAcceptFDs)
	b = ninputNE.AppendUint64(b, poolSize)
	return ninputNE.AppendUint64(b, ninputAreaSize)
}

// ninputSendHdr is the fixed part of a send packet, with its bloom filter and releases.
type ninputSendHdr struct {
	flags                                  uint32
	cookie, offset, length, timeout, marks uint64
	bloom                                  []byte
	frees                                  []uint64
}

func (h ninputSendHdr) append(b []byte) []byte {
	b = ninputNE.AppendUint32(b, ninputSend)
	b = ninputNE.AppendUint32(b, h.flags)
	b = ninputNE.AppendUint64(b, h.cookie)
	b = ninputNE.AppendUint64(b, h.offset)
	b = ninputNE.AppendUint64(b, h.length)
	b = ninputNE.AppendUint64(b, h.timeout)
	b = ninputNE.AppendUint64(b, h.marks)
	b = ninputNE.AppendUint64(b, 0) // seq: the sender's own count, unchecked
	b = ninputNE.AppendUint32(b, uint32(len(h.bloom)))
	b = ninputNE.AppendUint32(b, uint32(len(h.frees)))
	b = append(b, h.bloom...)
	for _, f := range h.frees {
		b = ninputNE.AppendUint64(b, f)
	}
	return b
}

// ninputInlineSend is a send carrying msg in the packet.
func ninputInlineSend(msg []byte, marks uint64, bloom []byte) []byte {
	h := ninputSendHdr{flags: ninputInline | ninputWantAck, cookie: 1, length: uint64(len(msg)), marks: marks, bloom: bloom}
	return append(h.append(nil), msg...)
}

func ninputFreePkt(count uint32, offs ...uint64) []byte {
	b := ninputNE.AppendUint32(nil, ninputFree)
	b = ninputNE.AppendUint32(b, count)
	for _, o := range offs {
		b = ninputNE.AppendUint64(b, o)
	}
	return b
}

func ninputSyncPkt(cookie uint64) []byte {
	b := ninputNE.AppendUint32(nil, ninputSync)
	b = ninputNE.AppendUint32(b, 0)
	return ninputNE.AppendUint64(b, cookie)
}

// ninputMsg encodes a call to the bus driver declaring nfds descriptors.
func ninputMsg(t *testing.T, typ wire.MessageType, nfds uint32) []byte {
	t.Helper()
	m := &wire.Message{Order: wire.NativeOrder, Type: typ, Serial: 7, Path: "/org/freedesktop/DBus",
		Interface: "org.freedesktop.DBus", Member: "GetId", UnixFDs: nfds}
	if typ == wire.MethodCall {
		m.Destination = "org.freedesktop.DBus"
	}
	b, err := m.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ninputOneWay sets the flag of an encoded message that says it expects no reply.
func ninputOneWay(msg []byte) []byte {
	msg[2] |= byte(wire.FlagNoReplyExpected)
	return msg
}

// ninputMemfd returns a memfd holding data, with the given seals.
func ninputMemfd(t *testing.T, data []byte, seals int) int {
	t.Helper()
	fd, err := unix.MemfdCreate("hostile", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Ftruncate(fd, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Pwrite(fd, data, 0); err != nil {
		t.Fatal(err)
	}
	if seals != 0 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
			t.Fatal(err)
		}
	}
	return fd
}

// ninputConn is an attacker's raw connection to the native socket.
type ninputConn struct {
	t    *testing.T
	c    *net.UnixConn
	area []byte // the send area, mapped writable
	buf  []byte
	oob  []byte
}

// ninputDial connects and sends hello with fds (nil: a sealed send area of its own).
func ninputDial(t *testing.T, b *Bus, hello []byte, fds []int) *ninputConn {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: nativeSocketPath(t, b), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	nc := &ninputConn{t: t, c: c, buf: make([]byte, 64<<10), oob: make([]byte, unix.CmsgSpace(4*253))}
	if fds == nil {
		fd := ninputMemfd(t, make([]byte, ninputAreaSize), unix.F_SEAL_SHRINK|unix.F_SEAL_GROW)
		nc.area, err = unix.Mmap(fd, 0, ninputAreaSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Munmap(nc.area) })
		fds = []int{fd}
	}
	nc.write(hello, fds...)
	return nc
}

func (nc *ninputConn) write(pkt []byte, fds ...int) {
	nc.t.Helper()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	nc.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, _, err := nc.c.WriteMsgUnix(pkt, oob, nil); err != nil && !errors.Is(err, unix.EPIPE) && !errors.Is(err, unix.ECONNRESET) {
		nc.t.Fatalf("writing a packet: %v", err)
	}
}

// next reads the next packet, closing the descriptors it carries; nil at the bus's hangup.
func (nc *ninputConn) next() []byte {
	nc.t.Helper()
	nc.c.SetReadDeadline(time.Now().Add(time.Minute))
	n, oobn, _, _, err := nc.c.ReadMsgUnix(nc.buf, nc.oob)
	if oobn > 0 {
		if msgs, err := unix.ParseSocketControlMessage(nc.oob[:oobn]); err == nil {
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil {
					for _, fd := range fds {
						unix.Close(fd)
					}
				}
			}
		}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		nc.t.Fatal("the bus neither answered nor hung up within a minute")
	}
	if err != nil || n == 0 {
		return nil
	}
	return nc.buf[:n:n]
}

// welcome reads the welcome and returns the pool size it grants.
func (nc *ninputConn) welcome() uint64 {
	nc.t.Helper()
	p := nc.next()
	if len(p) < 24 || ninputNE.Uint32(p) != 101 {
		nc.t.Fatalf("the bus did not welcome a good hello: %q", p)
	}
	return ninputNE.Uint64(p[16:])
}

// gone waits for the bus to hang up, skipping what it sends before, and returns the error
// name of the last ack it sent (the reason it gave).
func (nc *ninputConn) gone() string {
	nc.t.Helper()
	reason := ""
	for {
		p := nc.next()
		if p == nil {
			return reason
		}
		if ninputNE.Uint32(p) == ninputAck && len(p) >= 18 {
			n := int(ninputNE.Uint16(p[16:]))
			if 18+n <= len(p) {
				reason = string(p[18 : 18+n])
			}
		}
	}
}

// refusal waits for an ack naming an error, and returns the name.
func (nc *ninputConn) refusal() string {
	nc.t.Helper()
	for {
		p := nc.next()
		if p == nil {
			nc.t.Fatal("the bus hung up instead of refusing the send")
		}
		if ninputNE.Uint32(p) == ninputAck && len(p) >= 18 && ninputNE.Uint16(p[16:]) > 0 {
			return string(p[18 : 18+int(ninputNE.Uint16(p[16:]))])
		}
	}
}

// synced sends a sync and waits for its ack: the connection still works.
func (nc *ninputConn) synced() {
	nc.t.Helper()
	nc.write(ninputSyncPkt(99))
	for {
		p := nc.next()
		if p == nil {
			nc.t.Fatal("the bus hung up on a connection it should have kept")
		}
		if ninputNE.Uint32(p) == ninputAck && ninputNE.Uint64(p[8:]) == 99 {
			return
		}
	}
}

// held returns the offset of a slice the bus placed in the connection's pool: the answer to
// a call to the bus driver.
func (nc *ninputConn) held(t *testing.T) uint64 {
	t.Helper()
	nc.write(ninputInlineSend(ninputMsg(t, wire.MethodCall, 0), 0, nil))
	for {
		p := nc.next()
		if p == nil {
			t.Fatal("the bus hung up on a good call")
		}
		if ninputNE.Uint32(p) == ninputRecv && ninputNE.Uint32(p[4:]) > 0 {
			return ninputNE.Uint64(p[16:])
		}
	}
}

// The outcomes of a case.
const (
	ninputGone    = iota // the bus hangs up on the offender
	ninputRefused        // the bus refuses the send with an error and keeps the connection
	ninputKept           // the bus keeps the connection and serves it
	ninputStalled        // the bus stops reading the offender, which holds up only itself
)

// TestNativeMalformedInput sends one malformed handshake or control packet per connection.
func TestNativeMalformedInput(t *testing.T) {
	b := Start(t, bustest.KdbusdNative, dbustest.Config{Extra: `  <limit name="max_message_unix_fds">4</limit>
`})
	null := intakeNull(t)
	good := func(t *testing.T) []byte { return ninputHelloPkt(ninputVersion, 1<<20) }
	// writeArea puts msg at the start of the send area and returns its length.
	writeArea := func(nc *ninputConn, msg []byte) uint64 { return uint64(copy(nc.area, msg)) }
	cases := []struct {
		name    string
		hello   func(t *testing.T) []byte
		fds     func(t *testing.T) []int // the hello's descriptors; nil: a good send area
		attack  func(t *testing.T, nc *ninputConn)
		outcome int
	}{
		// The handshake.
		{"hello of a wrong version", func(*testing.T) []byte { return ninputHelloPkt(7, 1<<20) }, nil, nil, ninputGone},
		{"garbage after the hello", func(*testing.T) []byte { return append(ninputHelloPkt(ninputVersion, 1<<20), 0xde, 0xad) }, nil, nil, ninputGone},
		{"truncated hello", func(*testing.T) []byte { return ninputHelloPkt(ninputVersion, 1<<20)[:20] }, nil, nil, ninputGone},
		{"hello without a send area", good, func(*testing.T) []int { return []int{} }, nil, ninputGone},
		{"hello with two descriptors", good, func(t *testing.T) []int {
			return []int{ninputMemfd(t, make([]byte, 4096), unix.F_SEAL_SHRINK|unix.F_SEAL_GROW), null}
		}, nil, ninputGone},
		{"unsealed send area", good, func(t *testing.T) []int { return []int{ninputMemfd(t, make([]byte, 4096), 0)} }, nil, ninputGone},
		{"send area not a memfd", good, func(*testing.T) []int { return []int{null} }, nil, ninputGone},
		{"empty send area", good, func(t *testing.T) []int { return []int{ninputMemfd(t, nil, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW)} }, nil, ninputGone},
		{"pool size 0", func(*testing.T) []byte { return ninputHelloPkt(ninputVersion, 0) }, nil, func(t *testing.T, nc *ninputConn) {}, ninputKept},
		{"pool size huge", func(*testing.T) []byte { return ninputHelloPkt(ninputVersion, 1<<62) }, nil, func(t *testing.T, nc *ninputConn) {}, ninputKept},
		// Control packets after the welcome.
		{"bad op", good, nil, func(t *testing.T, nc *ninputConn) { nc.write(ninputNE.AppendUint32(nil, 99)) }, ninputGone},
		{"short op", good, nil, func(t *testing.T, nc *ninputConn) { nc.write([]byte{2, 0}) }, ninputGone},
		{"garbage packet", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write([]byte("\x02\x00\x00\x00 this is not a send header, only some bytes that look like one"))
		}, ninputGone},
		{"truncated send header", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputSendHdr{flags: ninputWantAck}.append(nil)[:30])
		}, ninputGone},
		{"send range outside the send area", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputSendHdr{flags: ninputWantAck, offset: ninputAreaSize - 8, length: 64}.append(nil))
		}, ninputGone},
		{"send range wrapping around", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputSendHdr{flags: ninputWantAck, offset: 1<<64 - 8, length: 64}.append(nil))
		}, ninputGone},
		{"header length lies", good, nil, func(t *testing.T, nc *ninputConn) {
			n := writeArea(nc, ninputMsg(t, wire.MethodCall, 0))
			ninputNE.PutUint32(nc.area[12:], 1<<20)
			nc.write(ninputSendHdr{flags: ninputWantAck, length: n}.append(nil))
		}, ninputGone},
		{"body length lies", good, nil, func(t *testing.T, nc *ninputConn) {
			n := writeArea(nc, ninputMsg(t, wire.MethodCall, 0))
			nc.write(ninputSendHdr{flags: ninputWantAck, length: n + 8}.append(nil))
		}, ninputGone},
		{"inline length lies", good, nil, func(t *testing.T, nc *ninputConn) {
			msg := ninputMsg(t, wire.MethodCall, 0)
			h := ninputSendHdr{flags: ninputInline | ninputWantAck, length: uint64(len(msg)) + 100}
			nc.write(append(h.append(nil), msg...))
		}, ninputGone},
		{"releases overrunning the packet", good, nil, func(t *testing.T, nc *ninputConn) {
			p := ninputSendHdr{flags: ninputWantAck, frees: []uint64{8}}.append(nil)
			ninputNE.PutUint32(p[52:], 1000)
			nc.write(p)
		}, ninputGone},
		{"bloom of the wrong size", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputInlineSend(ninputMsg(t, wire.Signal, 0), 0, make([]byte, 7)))
		}, ninputGone},
		{"undeclared descriptors", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputInlineSend(ninputMsg(t, wire.MethodCall, 0), 0, nil), null, null)
		}, ninputGone},
		{"declared descriptors missing", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputInlineSend(ninputMsg(t, wire.MethodCall, 2), 0, nil))
		}, ninputGone},
		{"too many descriptors", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputInlineSend(ninputMsg(t, wire.MethodCall, 8), 0, nil), intakeRepeat(null, 8)...)
		}, ninputGone},
		// A one-way message hears of its refusal in its ack.
		{"unsealed payload mark", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputInlineSend(ninputOneWay(ninputMsg(t, wire.MethodCall, 1)), 1, nil), null)
		}, ninputRefused},
		{"payload marks beyond the descriptors", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputInlineSend(ninputOneWay(ninputMsg(t, wire.MethodCall, 1)), 1<<5, nil), null)
		}, ninputRefused},
		{"message memfd of another size", good, nil, func(t *testing.T, nc *ninputConn) {
			msg := ninputMsg(t, wire.MethodCall, 0)
			fd := ninputMemfd(t, msg, memfd.PayloadSeals)
			nc.write(ninputSendHdr{flags: ninputInFD | ninputWantAck, length: uint64(len(msg)) + 8}.append(nil), fd)
		}, ninputGone},
		{"message memfd unsealed", good, nil, func(t *testing.T, nc *ninputConn) {
			msg := ninputMsg(t, wire.MethodCall, 0)
			fd := ninputMemfd(t, msg, 0)
			nc.write(ninputSendHdr{flags: ninputInFD | ninputWantAck, length: uint64(len(msg))}.append(nil), fd)
		}, ninputGone},
		{"message memfd missing", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputSendHdr{flags: ninputInFD | ninputWantAck, length: 64}.append(nil))
		}, ninputGone},
		{"free of an offset not held", good, nil, func(t *testing.T, nc *ninputConn) { nc.write(ninputFreePkt(1, 12345*8)) }, ninputGone},
		{"free count lies", good, nil, func(t *testing.T, nc *ninputConn) { nc.write(ninputFreePkt(3, 8)) }, ninputGone},
		{"double free", good, nil, func(t *testing.T, nc *ninputConn) {
			off := nc.held(t)
			nc.write(ninputFreePkt(2, off, off))
		}, ninputGone},
		{"release in a send of an offset not held", good, nil, func(t *testing.T, nc *ninputConn) {
			nc.write(ninputSendHdr{flags: ninputWantAck, frees: []uint64{4096}}.append(nil))
		}, ninputGone},
		{"sync of the wrong size", good, nil, func(t *testing.T, nc *ninputConn) { nc.write(ninputSyncPkt(1)[:12]) }, ninputGone},
		{"sync storm, acks never read", good, nil, func(t *testing.T, nc *ninputConn) {
			raw, err := nc.c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			// Write syncs until the socket takes no more: the bus queues a bounded number
			// of acks, then stops reading the offender.
			pkt := ninputSyncPkt(1)
			full := 0
			for sent := 0; full < 2 && sent < 1<<20; {
				var werr error
				raw.Write(func(fd uintptr) bool {
					werr = unix.Sendmsg(int(fd), pkt, nil, nil, unix.MSG_DONTWAIT)
					return true
				})
				switch {
				case werr == nil:
					sent++
					full = 0
				case errors.Is(werr, unix.EAGAIN):
					full++
					Measure(t, b.Address, 1, 10*time.Second) // the bus has had time to read
				default:
					t.Fatalf("sync storm: %v", werr)
				}
			}
		}, ninputStalled},
	}
	base := b.FDs()
	outcomes := map[int]int{}
	for _, tc := range cases {
		var fds []int
		if tc.fds != nil {
			fds = tc.fds(t)
		}
		nc := ninputDial(t, b, tc.hello(t), fds)
		what := ""
		if tc.attack != nil {
			pool := nc.welcome()
			if tc.outcome == ninputKept && (pool < 256<<10 || pool > 256<<20) {
				t.Errorf("%s: the bus granted a pool of %d bytes", tc.name, pool)
			}
			what = fmt.Sprintf("pool %d", pool)
			tc.attack(t, nc)
		}
		switch tc.outcome {
		case ninputGone:
			what = nc.gone()
		case ninputRefused:
			what = nc.refusal()
			nc.synced()
		case ninputKept:
			nc.synced()
		}
		outcomes[tc.outcome]++
		if r := Measure(t, b.Address, 20, 10*time.Second); r.Failed > 0 {
			t.Errorf("%s: a bystander's calls failed after it", tc.name)
		}
		nc.c.Close()
		b.MustRun()
		WaitFor(t, tc.name+": the bus releases what the offender held", time.Minute, func() bool { return b.FDs() <= base })
		t.Logf("%-40s %s", tc.name, what)
	}
	during := Measure(t, b.Address, intakeCalls(), 5*time.Second)
	Report(t, "native malformed input", b.Kind, Figures{FDs: b.FDs(), Rate: during,
		Note: fmt.Sprintf("%d cases: %d offenders disconnected, %d sends refused, %d kept, %d stalled alone; descriptors back to %d after each",
			len(cases), outcomes[ninputGone], outcomes[ninputRefused], outcomes[ninputKept], outcomes[ninputStalled], base)})
}
