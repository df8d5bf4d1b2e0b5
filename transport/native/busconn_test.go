package native

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kdbus-go/kdbus/transport/memfd"
	"github.com/kdbus-go/kdbus/wire"
	"golang.org/x/sys/unix"
)

// pair connects a client and the bus side over a socketpair, without a broker.
func pair(t testing.TB, opts Options) (*Conn, *BusConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) *net.UnixConn {
		f := os.NewFile(uintptr(fd), "seqpacket")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.UnixConn)
	}
	cs, bs := conn(fds[0]), conn(fds[1])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	busc := make(chan *BusConn, 1)
	go func() {
		bc, err := Accept(ctx, bs, BusOptions{GUID: "0123456789abcdef0123456789abcdef"})
		if err != nil {
			t.Error(err)
			busc <- nil
			return
		}
		if err := bc.Welcome(1, ":1.1"); err != nil {
			t.Error(err)
		}
		busc <- bc
	}()
	c, err := handshake(ctx, cs, opts)
	if err != nil {
		t.Fatal(err)
	}
	bc := <-busc
	if bc == nil {
		t.FailNow()
	}
	t.Cleanup(func() { c.Close(); bc.Close() })
	return c, bc
}

func signal(body string) *wire.Message {
	b, _ := wire.Marshal(wire.NativeOrder, "s", body)
	return &wire.Message{Order: wire.NativeOrder, Type: wire.Signal, Path: "/t", Interface: "org.kdbusgo.T", Member: "S", Signature: "s", Body: b}
}

// relay moves one message from a sender's bus side into a receiver's pool, as the broker
// does, and announces it.
func relay(t testing.TB, from, to *BusConn) error {
	t.Helper()
	in, err := from.Recv()
	if err != nil {
		return err
	}
	in.Msg.Sender = ":1.1"
	hdr, err := in.Msg.AppendHeader(nil, len(in.Msg.Body))
	if err != nil {
		return err
	}
	slot, err := to.Reserve(From{ID: 1}, len(hdr)+len(in.Msg.Body), 0)
	if err != nil {
		from.Done(&in, "org.freedesktop.DBus.Error.LimitsExceeded", err.Error())
		return err
	}
	p, err := to.Fill(slot, &Record{Seqnum: 1, Sender: 1}, in.Msg, hdr, in.Msg.Body, !in.Stable)
	if err != nil {
		from.Done(&in, "org.freedesktop.DBus.Error.InvalidArgs", err.Error())
		return err
	}
	if err := from.Done(&in, "", ""); err != nil {
		return err
	}
	_, err = to.Notify([]Pending{p}, nil, true)
	return err
}

func TestPoolCannotBeMadeWritable(t *testing.T) {
	// A client of its own, to keep the pool's descriptor that Dial closes.
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	f := os.NewFile(uintptr(fds[1]), "bus")
	bs, _ := net.FileConn(f)
	f.Close()
	go func() {
		bc, err := Accept(context.Background(), bs.(*net.UnixConn), BusOptions{})
		if err == nil {
			bc.Welcome(1, ":1.1")
			t.Cleanup(func() { bc.Close() })
		}
	}()
	areaFD, area, err := newSendArea(1 << 16)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(area)
	h := hello{version: Version, poolSize: 1 << 20, sendSize: uint64(len(area))}
	if err := unix.Sendmsg(fds[0], h.append(nil), unix.UnixRights(areaFD), nil, 0); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, maxPacket), make([]byte, 64)
	_, oobn, _, _, err := unix.Recvmsg(fds[0], buf, oob, 0)
	if err != nil {
		t.Fatal(err)
	}
	pfds, err := parseRights(oob[:oobn])
	if err != nil || len(pfds) != 1 {
		t.Fatalf("welcome carried %v, %v", pfds, err)
	}
	pool := pfds[0]
	defer unix.Close(pool)
	size := 1 << 20
	if _, err := unix.Mmap(pool, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		t.Error("a writable shared mapping of the pool succeeded")
	}
	ro, err := unix.Mmap(pool, 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatalf("read-only mapping: %v", err)
	}
	defer unix.Munmap(ro)
	if err := unix.Mprotect(ro, unix.PROT_READ|unix.PROT_WRITE); err == nil {
		t.Error("mprotect made the pool's read-only mapping writable")
	}
	if _, err := unix.Pwrite(pool, []byte("x"), 0); err == nil {
		t.Error("write(2) to the pool succeeded")
	}
	if err := unix.Ftruncate(pool, 0); err == nil {
		t.Error("the pool could be truncated")
	}
	// Reopening the memfd through /proc gives a new description, under the same seals.
	if fd, err := unix.Open("/proc/self/fd/"+itoa(pool), unix.O_RDWR, 0); err == nil {
		if _, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
			t.Error("a reopened pool descriptor gave a writable mapping")
		}
		if _, err := unix.Pwrite(fd, []byte("x"), 0); err == nil {
			t.Error("a reopened pool descriptor could be written")
		}
		unix.Close(fd)
	}
	if _, err := unix.FcntlInt(uintptr(pool), unix.F_ADD_SEALS, 0); err != nil {
		// F_SEAL_SEAL refuses even an empty change on some kernels; either way no seal
		// can be removed, which is what matters.
		t.Logf("F_ADD_SEALS: %v", err)
	}
	seals, _ := unix.FcntlInt(uintptr(pool), unix.F_GET_SEALS, 0)
	if seals&memfd.PoolSeals != memfd.PoolSeals {
		t.Errorf("pool seals %s, want %s", memfd.SealNames(seals), memfd.SealNames(memfd.PoolSeals))
	}
}

func itoa(n int) string {
	var b []byte
	for n >= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(append([]byte{byte('0' + n)}, b...))
}

func TestRewritingSendAreaAfterAckDoesNotChangeDelivery(t *testing.T) {
	sender, sbus := pair(t, Options{InlineMax: -1})
	receiver, rbus := pair(t, Options{})
	go func() {
		for {
			if _, err := sender.Recv(); err != nil {
				return
			}
		}
	}()
	want := string(bytes.Repeat([]byte("payload "), 1000))
	errc := make(chan error, 1)
	go func() { errc <- relay(t, sbus, rbus) }()
	if err := sender.SendAcked(context.Background(), signal(want), nil); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The bus has copied the message: scribble over everything the sender shares with it.
	for i := range sender.area {
		sender.area[i] = 0xff
	}
	r, err := receiver.Recv()
	if err != nil {
		t.Fatal(err)
	}
	defer receiver.Release(&r)
	vals, err := wire.Unmarshal(r.Msg.Body, r.Msg.Order, "s")
	if err != nil {
		t.Fatal(err)
	}
	got := vals[0].(string)
	if got != want {
		t.Fatalf("delivered body changed: %.40q…", got)
	}
	if r.Msg.Sender != ":1.1" || r.Record.Seqnum != 1 {
		t.Fatalf("sender %q seqnum %d", r.Msg.Sender, r.Record.Seqnum)
	}
}

func TestBusChecksTheCopyNotTheSendArea(t *testing.T) {
	sender, sbus := pair(t, Options{InlineMax: -1})
	_, rbus := pair(t, Options{})
	go func() {
		for {
			if _, err := sender.Recv(); err != nil {
				return
			}
		}
	}()
	// A string body without its terminating NUL: the header is fine, the body is not.
	m := signal("hello")
	m.Body[len(m.Body)-1] = 'x'
	errc := make(chan error, 1)
	go func() { errc <- relay(t, sbus, rbus) }()
	err := sender.SendAcked(context.Background(), m, nil)
	var se *SendError
	if !errors.As(err, &se) || se.Name != "org.freedesktop.DBus.Error.InvalidArgs" {
		t.Fatalf("send of an invalid body: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the bus delivered an invalid body")
	}
	if n := rbus.pool.InUse(); n != controlSize {
		t.Fatalf("the refused message still holds %d bytes of the pool", n-controlSize)
	}
}

func TestPoolQuotas(t *testing.T) {
	_, bus := pair(t, Options{PoolSize: 1 << 20})
	shared := (bus.PoolSize() - controlSize) / 2
	fill := func(from From, size int) (n int, err error) {
		for {
			if _, err := bus.Reserve(from, size, 0); err != nil {
				return n, err
			}
			n += (recordSize + size + 7) &^ 7
		}
	}
	flooder := From{ID: 2, UID: uint32(os.Getuid())}
	got, err := fill(flooder, 4000)
	var qe *QuotaError
	if !errors.As(err, &qe) {
		t.Fatalf("flooding ended with %v", err)
	}
	if got > shared/3 {
		t.Fatalf("one sender took %d bytes, more than a third of the shared half (%d)", got, shared/3)
	}
	if got < shared/3-8192 {
		t.Fatalf("one sender got only %d bytes of its %d share", got, shared/3)
	}
	second, _ := fill(From{ID: 3, UID: uint32(os.Getuid())}, 4000)
	if second == 0 {
		t.Fatal("a second sender got nothing while the first flooded")
	}
	foreign, _ := fill(From{ID: 4, UID: 12345}, 4000)
	if foreign == 0 {
		t.Fatal("another user got nothing")
	}
	owed, _ := fill(From{ID: 5, Owed: true}, 4000)
	if owed < bus.PoolSize()/2-8192 {
		t.Fatalf("the owner's reserved half held only %d bytes of replies", owed)
	}
	// Queued messages are bounded too, however small.
	_, bus2 := pair(t, Options{PoolSize: 4 << 20})
	n := 0
	for ; n < 10000; n++ {
		if _, err := bus2.Reserve(From{ID: 9}, 16, 0); err != nil {
			break
		}
	}
	if n != DefaultMaxQueued {
		t.Fatalf("one sender queued %d messages, want the limit %d", n, DefaultMaxQueued)
	}
}

// A sender refused for want of room is told when to try again: the refusal's Room channel
// stays open while the pool frees nothing, is closed by the next release, and is closed for
// good once the connection closes.
func TestQuotaErrorRoom(t *testing.T) {
	_, bus := pair(t, Options{PoolSize: 1 << 20})
	from := From{ID: 2, UID: uint32(os.Getuid())}
	var slots []Slot
	var qe *QuotaError
	for {
		s, err := bus.Reserve(from, 4000, 0)
		if errors.As(err, &qe) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		slots = append(slots, s)
	}
	isClosed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	if qe.Room == nil || isClosed(qe.Room) {
		t.Fatal("a refusal's Room is closed (or missing) while the pool has freed nothing")
	}
	if !strings.Contains(qe.Error(), "pool quota for its sender is full") {
		t.Errorf("refusal says %q", qe.Error())
	}
	_, err := bus.Reserve(from, 4000, 0)
	var again *QuotaError
	if !errors.As(err, &again) || again.Room != qe.Room {
		t.Fatalf("a second refusal before any release got %v, want the same Room", err)
	}
	bus.Free(slots[0])
	if !isClosed(qe.Room) {
		t.Fatal("freeing a slice does not close the Room of the senders it refused")
	}
	if _, err := bus.Reserve(from, 4000, 0); err != nil {
		t.Fatalf("the room a release made is not there: %v", err)
	}
	_, err = bus.Reserve(from, 4000, 0)
	if !errors.As(err, &again) || isClosed(again.Room) {
		t.Fatalf("a refusal after the release got %v, want a fresh open Room", err)
	}
	bus.Close()
	if !isClosed(again.Room) {
		t.Fatal("closing the connection does not close the Room of the senders it refused")
	}
	_, err = bus.Reserve(from, 4000, 0)
	if !errors.As(err, &again) || !isClosed(again.Room) {
		t.Fatalf("a refusal by a closed connection got %v, want a closed Room", err)
	}
}

// A receiver that releases every message it handles never makes its sender meet the message
// limit while only a window of messages is unhandled, even though the bus has not read the
// receiver's releases yet: the receiver's bus side is never read here, as when its reader
// is not scheduled while another connection's sends are routed, so only the bus's applying
// the releases waiting in the receiver's socket before it refuses lets the sender through.
// A receiver that stops releasing meets the limit exactly.
func TestPromptReleasesKeepTheSenderBelowTheMessageLimit(t *testing.T) {
	sender, senderBus := pair(t, Options{})
	receiver, receiverBus := pair(t, Options{})
	const window = 128
	msg := signal("one way")
	for round := range 3 * DefaultMaxQueued / window {
		for i := range window {
			if err := sender.Send(msg, nil); err != nil {
				t.Fatal(err)
			}
			if err := relay(t, senderBus, receiverBus); err != nil {
				t.Fatalf("message %d, with %d unreleased: %v", round*window+i, i, err)
			}
		}
		for range window {
			r, err := receiver.Recv()
			if err != nil {
				t.Fatal(err)
			}
			receiver.Release(&r)
		}
	}
	held := 0
	for {
		if err := sender.Send(msg, nil); err != nil {
			t.Fatal(err)
		}
		err := relay(t, senderBus, receiverBus)
		if err == nil {
			held++
			if _, err := receiver.Recv(); err != nil { // read, never released
				t.Fatal(err)
			}
			continue
		}
		var qe *QuotaError
		if !errors.As(err, &qe) || qe.limit != limitMessages {
			t.Fatalf("a receiver holding %d messages refused with %v, want the message limit", held, err)
		}
		break
	}
	if held != DefaultMaxQueued {
		t.Fatalf("a receiver that stopped releasing held %d messages before the sender was refused, want %d", held, DefaultMaxQueued)
	}
}
