package native

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The control protocol. Every packet on the SOCK_SEQPACKET socket starts with a 32-bit opcode;
// the rest is fixed-size fields in the host's byte order (both ends are on one machine),
// followed by an op-specific tail. Descriptors travel as SCM_RIGHTS on the same packet.
//
// Client to bus:
//
//	hello  version u32, flags u64, poolSize u64, sendSize u64            fds: [send area]
//	send   flags u32, cookie u64, offset u64, length u64, timeout u64, payloads u64,
//	       seq u64, bloomLen u32, nfree u32,
//	       bloom [bloomLen], frees [nfree]u64, then for sendInline the message bytes
//	                                                                      fds: the message's
//	free   count u32, offsets [count]u64
//	sync   cookie u64
//	lane   cookie u64, name (u16 length + bytes)
//
// Bus to client:
//
//	welcome version u32, id u64, poolSize u64, bloomSize u32, bloomHashes u32,
//	        guid [32], unique name (u16 length + bytes)                  fds: [pool]
//	recv    count u32, dropped u64, entries [count]{offset u64, length u32, nfds u32}
//	                                                                      fds: all entries', in order
//	ack     cookie u64, name (u16 length + bytes), text (u16 length + bytes)
//	laneopen cookie u64, peer u64, nameGen u64, peer's unique name, name  fds: [lane] or none
//
// A send's seq is the sender's own count of everything it sends, over the bus and over lanes;
// the bus copies it into the record, and a receiver orders one sender's messages by it (see
// lane.go). lane asks for a lane to the owner of a name; the bus answers with laneopen
// (carrying the lane's socket, or none when the two already share one) or with an ack naming
// the error. The peer gets its end in a laneopen with cookie 0 and no name.
//
// An ack with an empty name reports success; otherwise name is a D-Bus error name and text says
// what went wrong. A send carries the client's pending releases (frees) along, so that in a
// conversation releases cost no packets of their own.
const (
	opHello    uint32 = 1
	opSend     uint32 = 2
	opFree     uint32 = 3
	opSync     uint32 = 4
	opLane     uint32 = 5
	opWelcome  uint32 = 101
	opRecv     uint32 = 102
	opAck      uint32 = 103
	opLaneOpen uint32 = 104
)

// Version is the control protocol's version, exchanged in hello and welcome.
const Version = 3

// Flags of hello.
const (
	helloAcceptFDs uint64 = 1 << 0
	// helloNoLanes says the client takes no lanes: the bus opens none to it.
	helloNoLanes uint64 = 1 << 1
)

// Flags of send.
const (
	// sendWantAck asks the bus to acknowledge the send once routed, successful or not.
	sendWantAck uint32 = 1 << 0
	// sendInline says the message follows the bloom filter in the packet itself.
	sendInline uint32 = 1 << 1
	// sendInFD says the message is the whole of the packet's last descriptor, a sealed memfd,
	// rather than a range of the send area; for messages larger than the send area.
	sendInFD uint32 = 1 << 2
	// sendLaneReply marks a reply to a call that came over a lane, sent through the bus
	// while a monitor watches: the bus has no record of the call, and lets the reply through
	// because the two share a lane.
	sendLaneReply uint32 = 1 << 3
)

const (
	helloSize   = 4 + 4 + 8 + 8 + 8
	sendFixed   = 4 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 4 + 4
	welcomeSize = 4 + 4 + 8 + 8 + 4 + 4 + 32
	recvFixed   = 4 + 4 + 8
	recvEntry   = 8 + 4 + 4
	// maxPacket bounds a control packet, inline message included.
	maxPacket = 64 << 10
	// maxRecvEntries bounds the entries of one recv packet, so that a packet and its
	// descriptors (at most 253 per packet on Linux) stay within bounds.
	maxRecvEntries = 256
	maxPacketFDs   = 253
)

var ne = binary.NativeEndian

// errShort is wrapped by every decoding error of a control packet.
var errShort = errors.New("native: malformed control packet")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errShort, fmt.Sprintf(format, args...))
}

// hello is the first packet a client sends.
type hello struct {
	version  uint32
	flags    uint64
	poolSize uint64
	sendSize uint64
}

func (h *hello) append(b []byte) []byte {
	b = ne.AppendUint32(b, opHello)
	b = ne.AppendUint32(b, h.version)
	b = ne.AppendUint64(b, h.flags)
	b = ne.AppendUint64(b, h.poolSize)
	return ne.AppendUint64(b, h.sendSize)
}

func parseHello(b []byte) (hello, error) {
	if len(b) != helloSize || ne.Uint32(b) != opHello {
		return hello{}, malformed("hello of %d bytes, want %d starting with op %d", len(b), helloSize, opHello)
	}
	return hello{version: ne.Uint32(b[4:]), flags: ne.Uint64(b[8:]), poolSize: ne.Uint64(b[16:]), sendSize: ne.Uint64(b[24:])}, nil
}

// welcome answers hello.
type welcome struct {
	version     uint32
	id          uint64
	poolSize    uint64
	bloomSize   uint32
	bloomHashes uint32
	guid        string
	unique      string
}

func (w *welcome) append(b []byte) []byte {
	b = ne.AppendUint32(b, opWelcome)
	b = ne.AppendUint32(b, w.version)
	b = ne.AppendUint64(b, w.id)
	b = ne.AppendUint64(b, w.poolSize)
	b = ne.AppendUint32(b, w.bloomSize)
	b = ne.AppendUint32(b, w.bloomHashes)
	var g [32]byte
	copy(g[:], w.guid)
	b = append(b, g[:]...)
	return appendString(b, w.unique)
}

func parseWelcome(b []byte) (welcome, error) {
	if len(b) < welcomeSize || ne.Uint32(b) != opWelcome {
		return welcome{}, malformed("welcome of %d bytes", len(b))
	}
	w := welcome{
		version: ne.Uint32(b[4:]), id: ne.Uint64(b[8:]), poolSize: ne.Uint64(b[16:]),
		bloomSize: ne.Uint32(b[24:]), bloomHashes: ne.Uint32(b[28:]), guid: string(b[32:64]),
	}
	var rest []byte
	var err error
	w.unique, rest, err = parseString(b[welcomeSize:], "unique name")
	if err == nil && len(rest) != 0 {
		err = malformed("%d bytes after the welcome", len(rest))
	}
	return w, err
}

// sendHeader is the fixed part of a send packet.
type sendHeader struct {
	flags  uint32
	cookie uint64
	offset uint64
	length uint64
	// timeout is how long, in nanoseconds, the sender waits for the reply to a call; 0:
	// no limit of its own. The bus turns it into the record's deadline on its own clock.
	timeout uint64
	// payloads marks the descriptors that are sealed memfd payloads (bit i: descriptor i).
	payloads uint64
	// seq is the sender's count of its sends, bus and lanes alike.
	seq uint64
	// deadline is not on the wire: it is the call's deadline, from which the sender
	// computes timeout just before it writes the packet, and which a lane carries instead.
	deadline time.Time
}

func appendSend(b []byte, h sendHeader, bloom []byte, frees []uint64) []byte {
	b = ne.AppendUint32(b, opSend)
	b = ne.AppendUint32(b, h.flags)
	b = ne.AppendUint64(b, h.cookie)
	b = ne.AppendUint64(b, h.offset)
	b = ne.AppendUint64(b, h.length)
	b = ne.AppendUint64(b, h.timeout)
	b = ne.AppendUint64(b, h.payloads)
	b = ne.AppendUint64(b, h.seq)
	b = ne.AppendUint32(b, uint32(len(bloom)))
	b = ne.AppendUint32(b, uint32(len(frees)))
	b = append(b, bloom...)
	for _, o := range frees {
		b = ne.AppendUint64(b, o)
	}
	return b
}

// parseSend splits a send packet into its header, bloom filter, releases (appended to frees)
// and inline message.
func parseSend(b []byte, frees []uint64) (h sendHeader, bloom []byte, fs []uint64, inline []byte, err error) {
	if len(b) < sendFixed || ne.Uint32(b) != opSend {
		return h, nil, frees, nil, malformed("send of %d bytes, want at least %d", len(b), sendFixed)
	}
	h = sendHeader{flags: ne.Uint32(b[4:]), cookie: ne.Uint64(b[8:]), offset: ne.Uint64(b[16:]), length: ne.Uint64(b[24:]), timeout: ne.Uint64(b[32:]), payloads: ne.Uint64(b[40:]), seq: ne.Uint64(b[48:])}
	n := int(ne.Uint32(b[56:]))
	nf := int(ne.Uint32(b[60:]))
	rest := b[sendFixed:]
	if n > len(rest) {
		return h, nil, frees, nil, malformed("send's bloom filter of %d bytes overruns the %d-byte packet", n, len(b))
	}
	bloom, rest = rest[:n], rest[n:]
	if nf > len(rest)/8 {
		return h, nil, frees, nil, malformed("send's %d releases overrun the %d-byte packet", nf, len(b))
	}
	for i := range nf {
		frees = append(frees, ne.Uint64(rest[8*i:]))
	}
	rest = rest[8*nf:]
	if h.flags&sendInline != 0 {
		if uint64(len(rest)) != h.length {
			return h, nil, frees, nil, malformed("inline send declares %d bytes but carries %d", h.length, len(rest))
		}
		return h, bloom, frees, rest, nil
	}
	if len(rest) != 0 {
		return h, nil, frees, nil, malformed("%d stray bytes after a send", len(rest))
	}
	return h, bloom, frees, nil, nil
}

func appendFree(b []byte, offs []uint64) []byte {
	b = ne.AppendUint32(b, opFree)
	b = ne.AppendUint32(b, uint32(len(offs)))
	for _, o := range offs {
		b = ne.AppendUint64(b, o)
	}
	return b
}

// parseFree returns the offsets of a free packet; they alias nothing.
func parseFree(b []byte, offs []uint64) ([]uint64, error) {
	if len(b) < 8 || ne.Uint32(b) != opFree {
		return nil, malformed("free of %d bytes", len(b))
	}
	n := int(ne.Uint32(b[4:]))
	if len(b) != 8+8*n {
		return nil, malformed("free of %d offsets in %d bytes", n, len(b))
	}
	for i := range n {
		offs = append(offs, ne.Uint64(b[8+8*i:]))
	}
	return offs, nil
}

func appendSync(b []byte, cookie uint64) []byte {
	b = ne.AppendUint32(b, opSync)
	b = ne.AppendUint32(b, 0)
	return ne.AppendUint64(b, cookie)
}

func parseSync(b []byte) (uint64, error) {
	if len(b) != 16 || ne.Uint32(b) != opSync {
		return 0, malformed("sync of %d bytes", len(b))
	}
	return ne.Uint64(b[8:]), nil
}

// recvEntry describes one message placed in a receiver's pool.
type entry struct {
	offset uint64
	length uint32
	nfds   uint32
}

func appendRecvHeader(b []byte, count int, dropped uint64) []byte {
	b = ne.AppendUint32(b, opRecv)
	b = ne.AppendUint32(b, uint32(count))
	return ne.AppendUint64(b, dropped)
}

func appendEntry(b []byte, e entry) []byte {
	b = ne.AppendUint64(b, e.offset)
	b = ne.AppendUint32(b, e.length)
	return ne.AppendUint32(b, e.nfds)
}

// parseRecv returns a recv packet's dropped count and entries, appended to es.
func parseRecv(b []byte, es []entry) (uint64, []entry, error) {
	if len(b) < recvFixed || ne.Uint32(b) != opRecv {
		return 0, es, malformed("recv of %d bytes", len(b))
	}
	n := int(ne.Uint32(b[4:]))
	dropped := ne.Uint64(b[8:])
	if n > maxRecvEntries || len(b) != recvFixed+n*recvEntry {
		return 0, es, malformed("recv of %d entries in %d bytes", n, len(b))
	}
	for i := range n {
		p := b[recvFixed+i*recvEntry:]
		es = append(es, entry{offset: ne.Uint64(p), length: ne.Uint32(p[8:]), nfds: ne.Uint32(p[12:])})
	}
	return dropped, es, nil
}

// ack reports the outcome of a send or answers a sync.
type ack struct {
	cookie uint64
	name   string // D-Bus error name; "" for success
	text   string
}

func (a *ack) append(b []byte) []byte {
	b = ne.AppendUint32(b, opAck)
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint64(b, a.cookie)
	b = appendString(b, a.name)
	return appendString(b, a.text)
}

func parseAck(b []byte) (ack, error) {
	if len(b) < 16 || ne.Uint32(b) != opAck {
		return ack{}, malformed("ack of %d bytes", len(b))
	}
	a := ack{cookie: ne.Uint64(b[8:])}
	rest := b[16:]
	var err error
	if a.name, rest, err = parseString(rest, "error name"); err != nil {
		return ack{}, err
	}
	if a.text, rest, err = parseString(rest, "error text"); err != nil {
		return ack{}, err
	}
	if len(rest) != 0 {
		return ack{}, malformed("%d bytes after an ack", len(rest))
	}
	return a, nil
}

func appendString(b []byte, s string) []byte {
	if len(s) > 0xffff {
		s = s[:0xffff]
	}
	b = ne.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func parseString(b []byte, what string) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, malformed("%s: length missing", what)
	}
	n := int(ne.Uint16(b))
	if 2+n > len(b) {
		return "", nil, malformed("%s of %d bytes overruns the packet", what, n)
	}
	return string(b[2 : 2+n]), b[2+n:], nil
}

func appendLaneRequest(b []byte, cookie uint64, name string) []byte {
	b = ne.AppendUint32(b, opLane)
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint64(b, cookie)
	return appendString(b, name)
}

func parseLaneRequest(b []byte) (cookie uint64, name string, err error) {
	if len(b) < 16 || ne.Uint32(b) != opLane {
		return 0, "", malformed("lane request of %d bytes", len(b))
	}
	name, rest, err := parseString(b[16:], "lane destination")
	if err == nil && len(rest) != 0 {
		err = malformed("%d bytes after a lane request", len(rest))
	}
	return ne.Uint64(b[8:]), name, err
}

// laneOpen gives a client its end of a lane.
type laneOpen struct {
	cookie  uint64 // the request it answers; 0 for the peer that did not ask
	peer    uint64 // the other end's connection id
	nameGen uint64 // the bus's name generation when it resolved name
	unique  string // the other end's unique name
	name    string // the name the request gave; "" for the peer that did not ask
}

func (o *laneOpen) append(b []byte) []byte {
	b = ne.AppendUint32(b, opLaneOpen)
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint64(b, o.cookie)
	b = ne.AppendUint64(b, o.peer)
	b = ne.AppendUint64(b, o.nameGen)
	b = appendString(b, o.unique)
	return appendString(b, o.name)
}

func parseLaneOpen(b []byte) (laneOpen, error) {
	if len(b) < 32 || ne.Uint32(b) != opLaneOpen {
		return laneOpen{}, malformed("laneopen of %d bytes", len(b))
	}
	o := laneOpen{cookie: ne.Uint64(b[8:]), peer: ne.Uint64(b[16:]), nameGen: ne.Uint64(b[24:])}
	rest := b[32:]
	var err error
	if o.unique, rest, err = parseString(rest, "lane peer"); err != nil {
		return laneOpen{}, err
	}
	if o.name, rest, err = parseString(rest, "lane name"); err != nil {
		return laneOpen{}, err
	}
	if len(rest) != 0 {
		return laneOpen{}, malformed("%d bytes after a laneopen", len(rest))
	}
	return o, nil
}

func opOf(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return ne.Uint32(b)
}
