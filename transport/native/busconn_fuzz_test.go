package native

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fuzzConn is a bus side over a socketpair whose client end the fuzz target drives by hand.
type fuzzConn struct {
	bus  *BusConn
	cli  int    // the client's end of the socketpair
	area []byte // the client's send area, holding a valid message at offset 0
	msg  []byte // that message
	done chan struct{}
}

// newFuzzConn connects a BusConn with the smallest pool to a raw client end, and starts the
// bus's reader, which delivers every message back into the sender's own pool as the broker
// would to a receiver, so that the client holds slices it may release.
func newFuzzConn(t *testing.T) *fuzzConn {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[1]), "bus")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	areaFD, area, err := newSendArea(1 << 14)
	if err != nil {
		t.Fatal(err)
	}
	h := hello{version: Version, poolSize: MinPoolSize, sendSize: uint64(len(area))}
	if err := unix.Sendmsg(fds[0], h.append(nil), unix.UnixRights(areaFD), nil, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(areaFD)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bus, err := Accept(ctx, nc.(*net.UnixConn), BusOptions{GUID: "0123456789abcdef0123456789abcdef", MaxQueued: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Welcome(1, ":1.1"); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, maxPacket), make([]byte, 64)
	_, oobn, _, _, err := unix.Recvmsg(fds[0], buf, oob, 0)
	if err != nil {
		t.Fatal(err)
	}
	pfds, _ := parseRights(oob[:oobn])
	closeFDs(pfds)
	m := signal("fuzz")
	m.Serial = 1
	msg, err := m.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	copy(area, msg)
	fc := &fuzzConn{bus: bus, cli: fds[0], area: area, msg: msg, done: make(chan struct{})}
	go fc.serve()
	return fc
}

// serve is the bus's reader: it routes each send into the pool and acknowledges it, until the
// connection fails, and then closes the bus side as the broker does.
func (fc *fuzzConn) serve() {
	defer close(fc.done)
	defer fc.bus.Close()
	c := fc.bus
	for {
		in, err := c.Recv()
		if err != nil {
			return
		}
		closeFDs(in.FDs)
		if in.Refused != nil {
			if c.Done(&in, "org.freedesktop.DBus.Error.InvalidArgs", in.Refused.Error()) != nil {
				return
			}
			continue
		}
		in.Msg.Sender = ":1.2"
		hdr, err := in.Msg.AppendHeader(nil, len(in.Msg.Body))
		if err != nil {
			c.Done(&in, "org.freedesktop.DBus.Error.InvalidArgs", err.Error())
			return
		}
		slot, err := c.Reserve(From{ID: 2, UID: c.owner + 1}, len(hdr)+len(in.Msg.Body), 0)
		if err != nil {
			if c.Done(&in, "org.freedesktop.DBus.Error.LimitsExceeded", err.Error()) != nil {
				return
			}
			continue
		}
		p, err := c.Fill(slot, &Record{Seqnum: 1, Sender: 2}, in.Msg, hdr, in.Msg.Body, !in.Stable)
		if err != nil {
			c.Done(&in, "org.freedesktop.DBus.Error.InvalidArgs", err.Error())
			return
		}
		if _, err := c.Notify([]Pending{p}, nil, false); err != nil {
			c.Discard(p)
		}
		if c.Done(&in, "", "") != nil {
			return
		}
	}
}

// check verifies the pool's accounts against the slices it holds: no account is negative or
// empty, each adds up, and the pool holds exactly the slices plus its control area.
func (fc *fuzzConn) check(t *testing.T) {
	c := fc.bus
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.closed.Load() {
		return
	}
	want := map[uint64]usage{}
	total, unsolicited := 0, 0
	for _, h := range c.slices {
		total += h.size
		if h.charged {
			unsolicited += h.size
			u := want[h.sender]
			u.bytes += h.size
			u.msgs++
			u.fds += h.nfds
			want[h.sender] = u
		}
	}
	if unsolicited != c.unsolicited {
		t.Fatalf("unsolicited bytes %d, the slices add up to %d", c.unsolicited, unsolicited)
	}
	if len(want) != len(c.bySender) {
		t.Fatalf("%d sender accounts, %d senders hold slices", len(c.bySender), len(want))
	}
	for id, u := range c.bySender {
		if u.bytes <= 0 || u.msgs <= 0 || u.fds < 0 || *u != want[id] {
			t.Fatalf("sender %d's account %+v, its slices add up to %+v", id, *u, want[id])
		}
	}
	for uid, u := range c.byUID {
		if u.bytes <= 0 || u.msgs <= 0 || u.fds < 0 {
			t.Fatalf("uid %d's account %+v", uid, *u)
		}
	}
	if in := c.pool.InUse(); in != controlSize+total {
		t.Fatalf("the pool has %d bytes in use, its slices and control area %d", in, controlSize+total)
	}
}

// roundTrip sends pkt (if any) and a sync, and reads what the bus sends until the sync's ack,
// collecting the offsets it announces. It reports false once the bus has hung up.
func (fc *fuzzConn) roundTrip(t *testing.T, pkt []byte, cookie uint64, held *[]uint64) bool {
	if pkt != nil {
		if err := unix.Sendmsg(fc.cli, pkt, nil, nil, unix.MSG_DONTWAIT); err != nil {
			return false
		}
	}
	if err := unix.Sendmsg(fc.cli, appendSync(nil, cookie), nil, nil, unix.MSG_DONTWAIT); err != nil {
		return false
	}
	buf := make([]byte, maxPacket)
	for {
		n, _, _, _, err := unix.Recvmsg(fc.cli, buf, nil, 0)
		if err != nil || n == 0 {
			return false
		}
		switch opOf(buf[:n]) {
		case opRecv:
			_, es, err := parseRecv(buf[:n], nil)
			if err != nil {
				t.Fatalf("the bus sent a malformed recv: %v", err)
			}
			for _, e := range es {
				*held = append(*held, e.offset)
			}
		case opAck:
			a, err := parseAck(buf[:n])
			if err != nil {
				t.Fatalf("the bus sent a malformed ack: %v", err)
			}
			if a.cookie == cookie && a.name == "" {
				return true
			}
		default:
			t.Fatalf("the bus sent op %d", opOf(buf[:n]))
		}
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// FuzzBusConn drives a real bus side, with a real pool, by a client that sends any sequence
// of packets: inline and send-area sends with arbitrary offsets and lengths, releases of held,
// unheld and already released slices, releases riding on sends, syncs and garbage. The bus
// must answer each with service or a disconnection, never a panic, keep its pool's accounts
// exact after every step, and free everything once the connection ends.
func FuzzBusConn(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0})                         // send, release it
	f.Add([]byte{0, 0, 0, 0, 2, 0, 2, 0, 3, 0})       // sends, releases, a double release
	f.Add([]byte{1, 0, 1, 3, 4, 0, 6, 0})             // send-area sends, a release riding on a send
	f.Add([]byte{3, 200})                             // release of an offset never handed out
	f.Add([]byte{5, 9, 2, 0, 0, 0, 1, 2, 3, 4, 5})    // garbage
	f.Add([]byte{7, 0, 7, 1, 7, 2})                   // bad bloom, memfd send without descriptor, bad length
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // a sender over its queue limit
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 64 {
			prog = prog[:64]
		}
		fdsBefore := openFDs(t)
		fc := newFuzzConn(t)
		var held, freed []uint64
		cookie := uint64(0)
		for i := 0; i+1 < len(prog); i += 2 {
			op, arg := prog[i]%8, prog[i+1]
			cookie++
			var pkt []byte
			inline := func(frees []uint64) []byte {
				b := appendSend(nil, sendHeader{flags: sendInline | uint32(arg&1), cookie: cookie, length: uint64(len(fc.msg))}, nil, frees)
				return append(b, fc.msg...)
			}
			pick := func(from *[]uint64) []uint64 {
				if len(*from) == 0 {
					return nil
				}
				k := int(arg) % len(*from)
				off := (*from)[k]
				*from = append((*from)[:k], (*from)[k+1:]...)
				return []uint64{off}
			}
			switch op {
			case 0:
				pkt = inline(nil)
			case 1:
				off, length := uint64(arg&3)*8, uint64(len(fc.msg))
				if arg&4 != 0 {
					length = uint64(arg) * 7
				}
				pkt = appendSend(nil, sendHeader{cookie: cookie, offset: off, length: length}, nil, nil)
			case 2:
				offs := pick(&held)
				freed = append(freed, offs...)
				pkt = appendFree(nil, offs)
			case 3:
				offs := pick(&freed)
				if offs == nil {
					offs = []uint64{uint64(arg) * 64}
				}
				pkt = appendFree(nil, offs)
			case 4:
				offs := pick(&held)
				freed = append(freed, offs...)
				pkt = inline(offs)
			case 5:
				n := min(int(arg)%32, len(prog)-i-2)
				pkt = append([]byte(nil), prog[i+2:i+2+n]...)
				if len(pkt) == 0 {
					pkt = []byte{0}
				}
				i += n
			case 6:
				// a sync alone
			case 7:
				h := sendHeader{cookie: cookie, length: uint64(len(fc.msg))}
				switch arg % 3 {
				case 0:
					pkt = append(appendSend(nil, sendHeader{flags: sendInline, cookie: cookie, length: uint64(len(fc.msg))}, make([]byte, 3), nil), fc.msg...)
				case 1:
					h.flags = sendInFD
					pkt = appendSend(nil, h, nil, nil)
				case 2:
					h.length = 1 << 40
					pkt = appendSend(nil, h, nil, nil)
				}
			}
			ok := fc.roundTrip(t, pkt, cookie, &held)
			if !ok {
				break
			}
			fc.check(t)
		}
		unix.Close(fc.cli)
		select {
		case <-fc.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the bus's reader did not end after the client hung up")
		}
		if !fc.bus.closed.Load() {
			t.Fatal("the bus side is still open")
		}
		unix.Munmap(fc.area)
		// More descriptors than before is a leak; fewer can be an earlier test's connection
		// finishing its close meanwhile.
		if n := openFDs(t); n > fdsBefore {
			t.Fatalf("%d descriptors open after the connection ended, %d before", n, fdsBefore)
		}
	})
}
