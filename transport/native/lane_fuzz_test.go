package native

import (
	"encoding/binary"
	"net"
	"os"
	"testing"

	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// fuzzRing is the ring size of the fuzzed peer: one page, so that offsets wrap often.
const fuzzRing = 4096

// newFuzzLane makes a lane end over one side of a socketpair, as openLane does but without
// a connection's epoll set, and returns the raw other side for the fuzzed peer.
func newFuzzLane(t *testing.T) (*lane, int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	ringFD, mem, err := newRing(fuzzRing)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(ringFD)
	f := os.NewFile(uintptr(fds[0]), "lane")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sock := fc.(*net.UnixConn)
	raw, _ := sock.SyscallConn()
	ln := &lane{
		c: &Conn{}, peer: 9, unique: ":1.9", sock: sock, raw: raw,
		sem: make(chan struct{}, 1), mem: mem, ring: mem[laneNotes:], credit: make(chan struct{}, 1),
		rbuf:     make([]byte, laneMsgFixed+maxLaneHeader),
		oob:      make([]byte, unix.CmsgSpace(4*maxPacketFDs)+unix.CmsgSpace(unix.SizeofUcred)),
		awaiting: map[uint32]struct{}{}, owed: map[uint32]struct{}{},
	}
	t.Cleanup(ln.close)
	return ln, fds[1]
}

// FuzzLaneReceive drives a lane's receiving end with what a hostile peer may send: a hello
// with a ring of its choosing (or none), then any packets, with and without descriptors. The
// receiver must take each packet or break the lane with an error: no panic, no read outside
// the ring, no message delivered that fails its checks.
//
// The input: ring contents (fuzzRing bytes at most), then packets, each a u16 length, a flag
// byte (bit 0: attach a sealed memfd of the packet's own bytes) and the bytes.
func FuzzLaneReceive(f *testing.F) {
	msg := &wire.Message{Order: wire.NativeOrder, Type: wire.MethodCall, Serial: 3, Destination: ":1.1", Path: "/t",
		Interface: "org.kdbusgo.T", Member: "M", Signature: "s"}
	body, _ := wire.Marshal(wire.NativeOrder, "s", "hello")
	hdr, _ := msg.AppendHeader(nil, len(body))
	pkt := func(lm laneMsg) []byte { return appendLaneMsg(nil, &lm) }
	seed := func(ring []byte, pkts ...[]byte) []byte {
		var b []byte
		b = binary.LittleEndian.AppendUint16(b, uint16(len(ring)))
		b = append(b, ring...)
		for _, p := range pkts {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(p)))
			b = append(b, 0)
			b = append(b, p...)
		}
		return b
	}
	f.Add(seed(body, pkt(laneMsg{seq: 1, bodyLen: uint64(len(body)), hdr: hdr})))
	f.Add(seed(body, pkt(laneMsg{seq: 1, bodyLen: uint64(len(body)), deadline: 1<<64 - 1, hdr: hdr})))
	sig := *msg
	sig.Type = wire.Signal
	sigHdr, _ := sig.AppendHeader(nil, len(body))
	f.Add(seed(body, pkt(laneMsg{seq: 1, bodyLen: uint64(len(body)), deadline: 12345, hdr: sigHdr})))
	f.Add(seed(body, pkt(laneMsg{seq: 1, off: fuzzRing - 2, bodyLen: uint64(len(body)), hdr: hdr})))
	f.Add(seed(nil, pkt(laneMsg{seq: 1, bodyLen: 1 << 40, hdr: hdr})))
	f.Add(seed(body, []byte{3, 0, 0, 0, 0, 0, 0, 0}, appendLaneHello(nil, fuzzRing)))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		n := min(int(binary.LittleEndian.Uint16(in)), fuzzRing, len(in)-2)
		ringData, in := in[2:2+n], in[2+n:]
		ln, peer := newFuzzLane(t)
		defer unix.Close(peer)
		ringFD, mem, err := newRing(fuzzRing)
		if err != nil {
			t.Fatal(err)
		}
		copy(mem[laneNotes:], ringData)
		unix.Munmap(mem)
		err = unix.Sendmsg(peer, appendLaneHello(nil, fuzzRing), unix.UnixRights(ringFD), nil, 0)
		unix.Close(ringFD)
		if err != nil {
			t.Fatal(err)
		}
		for len(in) >= 3 {
			n := min(int(binary.LittleEndian.Uint16(in)), len(in)-3)
			flags, p := in[2], in[3:3+n]
			in = in[3+n:]
			var oob []byte
			if flags&1 != 0 {
				if fd, err := messageMemfd(nil, p); err == nil {
					oob = unix.UnixRights(fd)
					defer unix.Close(fd)
				}
			}
			if unix.Sendmsg(peer, p, oob, nil, unix.MSG_DONTWAIT) != nil {
				break
			}
		}
		unix.Shutdown(peer, unix.SHUT_WR)
		for range 1000 {
			r, more, err := ln.read()
			if err != nil {
				return
			}
			if r != nil {
				if r.Msg.Sender != ":1.9" || wire.ValidateBody(r.Msg.Body, r.Msg.Order, r.Msg.Signature, len(r.FDs)) != nil {
					t.Fatalf("delivered %s from %q", r.Msg, r.Msg.Sender)
				}
				if r.Msg.Type != wire.MethodCall && r.Record.Deadline != 0 {
					t.Fatalf("delivered %s with deadline %d: only calls have one", r.Msg, r.Record.Deadline)
				}
				for _, fd := range r.FDs {
					unix.Close(fd)
				}
				ln.c.Release(r)
			} else if !more {
				return
			}
		}
	})
}
